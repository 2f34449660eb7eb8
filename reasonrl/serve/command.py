"""`reasonrl serve MODEL_DIR`: an OpenAI-compatible server for a reasoning model, with a chat page.

    reasonrl serve embedded                                  # the tiny default, http://127.0.0.1:8000/
    reasonrl serve embedded-moe                              # its DeepSeek-V3-style (MoE + MLA) sibling
    reasonrl serve runs/tiny-walk/final --port 8001 --api-key secret
    reasonrl serve /models/Qwen2.5-7B-R1 --host 0.0.0.0 --dtype bfloat16 --device cuda --max-batch 64

CPU and GPU run the same command; `--device cuda --dtype bfloat16` on GPUs. Then any OpenAI client:

    from openai import OpenAI
    c = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="secret")
    r = c.chat.completions.create(model="tiny-walk", messages=[{"role": "user", "content": "5-2+0+0-2+3+3+1+1-6="}])
    r.choices[0].message.reasoning_content, r.choices[0].message.content

Departures from DeepSeek's hosted API: one model per server, static batching (reasonrl.serve.engine),
no tool calls or logprobs; `top_k` and `POST /v1/reload_weights` are extensions.
"""
from __future__ import annotations

import argparse
import os
import socket
import threading
from pathlib import Path


def served_name(model_dir: str) -> str:
    """'embedded' -> 'tiny-walk', 'embedded-moe' -> 'tiny-walk-moe'; runs/x/final -> 'x/final';
    /models/Qwen -> 'Qwen'."""
    from reasonrl.models import resolve_model_path

    p = resolve_model_path(model_dir).resolve()
    if p.name == "final" or p.name.startswith("step-"):
        parent = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        return f"{parent.name}/{p.name}"
    return p.name


def load_engine(model_dir: str, *, dtype: str = "float32", device: str = "auto", max_batch: int = 32,
                max_queue: int = 1024, threads: int = 0):
    """(Engine started on the loaded model, tokenizer). threads: torch's CPU threads (0 = auto_threads)."""
    import torch

    from reasonrl.models import auto_threads, load_model
    from reasonrl.serve.engine import Engine

    torch.set_num_threads(threads if threads > 0 else auto_threads()[0])

    model, tok = load_model(model_dir, dtype=dtype, device=device)
    return Engine(model, tok, max_batch=max_batch, max_queue=max_queue).start(), tok


def build_server(model_dir: str, *, template: str = "auto", prefill_think: bool = False, dtype: str = "float32",
                 device: str = "auto", max_batch: int = 32, max_queue: int = 1024, threads: int = 0, limits=None):
    """(FastAPI app, Engine) for MODEL_DIR; `limits` (app.ServerLimits) names the model
    served_name(MODEL_DIR) by default."""
    from reasonrl.serve.app import ServerLimits, create_app
    from reasonrl.serve.protocol import PromptBuilder

    engine, tok = load_engine(model_dir, dtype=dtype, device=device, max_batch=max_batch, max_queue=max_queue,
                              threads=threads)
    try:
        builder = PromptBuilder(tok, template, prefill_think)     # a template the tokenizer cannot render fails here
    except Exception:
        engine.close()
        raise
    limits = limits or ServerLimits(model_name=served_name(model_dir))
    return create_app(engine, builder, limits), engine


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0 = a free port), or a one-line UserError when that is impossible."""
    from reasonrl.errors import UserError

    if not 0 <= port <= 65535:
        raise UserError(f"option --port must be in 0..65535, got {port}")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e} (is another server using it? "
                        f"choose another --port)") from None
    return sock


def start_background(app, host: str = "127.0.0.1", port: int = 0):
    """Run uvicorn in a daemon thread on an already-bound socket (port 0 = a free port).
    Returns (uvicorn.Server, thread, port); stop with `server.should_exit = True; thread.join()`."""
    import uvicorn

    sock = bind_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="reasonrl-uvicorn")
    thread.start()
    import time
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the server did not start within 30 s")
    return server, thread, sock.getsockname()[1]


def cmd_serve(args) -> int:
    from reasonrl.errors import UserError
    try:
        import fastapi  # noqa: F401
    except ImportError:
        raise UserError("reasonrl serve needs FastAPI and uvicorn: pip install -e '.[serve]'") from None
    from reasonrl.serve.app import ServerLimits
    for name in ("threads", "max_batch", "max_queue", "max_tokens", "max_n", "max_body_bytes"):
        least = 0 if name == "threads" else 1
        if getattr(args, name) < least:
            raise UserError(f"option --{name.replace('_', '-')} must be >= {least}, got {getattr(args, name)}")
    sock = bind_socket(args.host, args.port)      # a busy port is one line before anything is loaded or printed
    port = sock.getsockname()[1]
    key = args.api_key or os.environ.get("REASONRL_API_KEY") or None
    limits = ServerLimits(model_name=args.model_name or served_name(args.model_dir), api_key=key,
                          max_tokens=args.max_tokens, max_n=args.max_n, max_body_bytes=args.max_body_bytes)
    app, engine = build_server(args.model_dir, template=args.template, prefill_think=args.prefill_think,
                               dtype=args.dtype, device=args.device, max_batch=args.max_batch,
                               max_queue=args.max_queue, threads=args.threads, limits=limits)
    print(f"reasonrl serve: model '{limits.model_name}' from {Path(args.model_dir)} "
          f"(context {engine.context} tokens, API key {'required' if key else 'off'})")
    print(f"  chat page  http://{args.host}:{port}/")
    print(f"  OpenAI API http://{args.host}:{port}/v1  (POST /v1/chat/completions, GET /v1/models, "
          f"POST /v1/reload_weights)", flush=True)
    import uvicorn
    try:
        uvicorn.Server(uvicorn.Config(app, log_level=args.log_level)).run(sockets=[sock])
    finally:
        engine.close()
    return 0


def add_model_options(sp: argparse.ArgumentParser) -> None:
    """Options shared by `serve` and `chat`: which model and how prompts are rendered."""
    sp.add_argument("model_dir", metavar="MODEL_DIR", help="local HF model folder, or 'embedded' / 'embedded-moe'")
    sp.add_argument("--template", default="auto", choices=["auto", "raw", "r1zero", "chat"],
                    help="prompt template, as model.template in training")
    sp.add_argument("--prefill-think", action="store_true", help="open '<think>\\n' after the prompt, "
                    "as model.prefill_think in training")
    sp.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="weights dtype (bfloat16 on GPUs)")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    sp.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = auto (the cores "
                    "not busy with other work, at least 1)")


def add_parser(subparsers) -> None:
    text = "serve a model over an OpenAI-compatible API with the reasoning split out, plus a chat page"
    sp = subparsers.add_parser("serve", help=text, description=text,
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_options(sp)
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    sp.add_argument("--port", type=int, default=8000, help="TCP port")
    sp.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1/* "
                    "(or set REASONRL_API_KEY)")
    sp.add_argument("--model-name", default=None, help="name in /v1/models; None = from MODEL_DIR")
    sp.add_argument("--max-batch", type=int, default=32, help="completions generated together")
    sp.add_argument("--max-queue", type=int, default=1024, help="completions waiting before 429")
    sp.add_argument("--max-tokens", type=int, default=1024, help="largest (and default) max_tokens")
    sp.add_argument("--max-n", type=int, default=8, help="largest n per request")
    sp.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger request bodies get 413")
    sp.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                    help="uvicorn log level")
    sp.set_defaults(fn=cmd_serve)
