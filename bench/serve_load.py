"""Load test for `reasonrl serve`: a bounded number of chat completions, a fixed number in flight,
over loopback only, with the real `openai` async client. Prints throughput and latency percentiles
and exits 1 if any request failed.

    .venv/bin/python bench/serve_load.py                                  # 200 requests, 16 concurrent
    .venv/bin/python bench/serve_load.py --stream --requests 100          # also time to first token
    .venv/bin/python bench/serve_load.py --model runs/tiny-walk/final --device cuda   (on a GPU machine)
    .venv/bin/python bench/serve_load.py --url http://127.0.0.1:8000 --api-key KEY    (a running server)

Without --url it starts `reasonrl serve MODEL --host 127.0.0.1` on a free port in a child process
(so the client does not share the server's interpreter), and stops it at the end. Prompts are walk
problems (reasonrl.tasks.walk) drawn from a fixed seed; sampling is R1's (temperature 0.6, top-p 0.95).
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "reasonrl.cli", "serve", args.model, "--host", "127.0.0.1", "--port", str(port),
           "--device", args.device, "--max-batch", str(args.max_batch), "--threads", str(args.threads),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env={**os.environ, "REASONRL_API_KEY": args.api_key})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve_load: the server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve_load: the server did not become ready within 180 s")


async def one(client, model: str, prompt: str, args, seed: int) -> tuple[float, float | None, int]:
    """(latency s, time to first token s or None, completion tokens) of one request."""
    t0 = time.perf_counter()
    kw = dict(model=model, messages=[{"role": "user", "content": prompt}], temperature=0.6, top_p=0.95,
              max_tokens=args.max_tokens, seed=seed)
    if not args.stream:
        r = await client.chat.completions.create(**kw)
        return time.perf_counter() - t0, None, r.usage.completion_tokens
    first, tokens = None, 0
    stream = await client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    async for chunk in stream:
        if first is None and chunk.choices and (chunk.choices[0].delta.content
                                                or getattr(chunk.choices[0].delta, "reasoning_content", None)):
            first = time.perf_counter() - t0
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return time.perf_counter() - t0, first, tokens


async def run_load(url: str, args) -> dict:
    from openai import AsyncOpenAI

    from reasonrl.tasks.walk import make_problem

    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"serve_load: loopback only, refusing {url}")
    rng = random.Random(0)
    prompts = [make_problem(rng)[0] for _ in range(args.requests)]
    client = AsyncOpenAI(base_url=url + "/v1", api_key=args.api_key, max_retries=0, timeout=300)
    model = (await client.models.list()).data[0].id
    gate = asyncio.Semaphore(args.concurrency)
    results, failures = [], []

    async def guarded(i: int):
        async with gate:
            try:
                results.append(await one(client, model, prompts[i], args, seed=i))
            except Exception as e:  # every failure is counted and the first few are shown
                failures.append(f"{type(e).__name__}: {e}")
    t0 = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(args.requests)))
    wall = time.perf_counter() - t0
    await client.close()
    health = httpx.get(url + "/health", timeout=10).json()
    return {"results": results, "failures": failures, "wall": wall, "health": health, "model": model}


def report(out: dict, args) -> str:
    res, wall = out["results"], out["wall"]
    lat = [r[0] for r in res] or [float("nan")]
    tokens = sum(r[2] for r in res)
    h = out["health"]
    lines = [f"serve_load: model {out['model']}, {args.requests} requests, {args.concurrency} concurrent, "
             f"max_tokens {args.max_tokens}, {'streaming' if args.stream else 'non-streaming'}, loopback"
             + ("" if args.url else f", server --threads {args.threads} --max-batch {args.max_batch}"),
             f"  failed requests      {len(out['failures'])}",
             f"  wall time            {wall:.2f} s",
             f"  throughput           {len(res) / wall:.1f} requests/s, {tokens / wall:.0f} completion tokens/s",
             f"  latency p50 / p99    {percentile(lat, 50) * 1000:.0f} ms / {percentile(lat, 99) * 1000:.0f} ms",
             f"  server batches       {h.get('batches')} (mean {h.get('completions', 0) / max(1, h.get('batches', 1)):.1f}"
             f" completions, largest {h.get('largest_batch')})"]
    ttft = [r[1] for r in res if r[1] is not None]
    if ttft:
        lines.append(f"  first token p50/p99  {percentile(ttft, 50) * 1000:.0f} ms / {percentile(ttft, 99) * 1000:.0f} ms")
    lines += [f"  failure: {f}" for f in out["failures"][:5]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=200, help="total requests (bounded)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at once")
    p.add_argument("--max-tokens", type=int, default=40, help="max_tokens of each request")
    p.add_argument("--stream", action="store_true", help="use SSE streaming and time the first token")
    p.add_argument("--model", default="embedded", help="model folder to serve (ignored with --url)")
    p.add_argument("--device", default="auto", help="device of the spawned server")
    p.add_argument("--max-batch", type=int, default=32, help="--max-batch of the spawned server")
    p.add_argument("--threads", type=int, default=1, help="--threads of the spawned server (0 = torch default)")
    p.add_argument("--url", default=None, help="use this running loopback server instead of spawning one")
    p.add_argument("--api-key", default="serve-load-key", help="API key (set on the spawned server)")
    args = p.parse_args(argv)
    if not 1 <= args.requests <= 10_000 or not 1 <= args.concurrency <= 256:
        p.error("--requests must be in 1..10000 and --concurrency in 1..256")
    proc, url = (None, args.url) if args.url else start_server(args)
    try:
        out = asyncio.run(run_load(url.rstrip("/"), args))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    print(report(out, args))
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
