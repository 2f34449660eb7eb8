"""`reasonrl chat MODEL_DIR`: chat with a model in the terminal; the reasoning streams first (dimmed
on a terminal), then the answer. Same generation queue, templates and splitter as `reasonrl serve`.

    reasonrl chat embedded                     # then type e.g. 5-2+0+0-2+3+3+1+1-6=
    reasonrl chat runs/tiny-walk/final --temperature 0 --hide-reasoning
    reasonrl chat /models/Qwen2.5-7B-R1 --device cuda --dtype bfloat16

Lines starting with "/" and a word are commands, handled here and never sent to the model: /help
lists them, /reset forgets the conversation, /quit (or Ctrl-D) leaves.
Piped input works too (one message per line), which is how it is tested.
"""
from __future__ import annotations

import argparse
import queue
import sys
import time
from typing import Iterable, TextIO

from reasonrl.serve.split import ReasoningSplitter

DIM, RESET = "\x1b[2m", "\x1b[0m"
COMMANDS = {"/help": "this list", "/reset": "forget the conversation", "/quit": "leave (also /exit or Ctrl-D)"}


def answer_once(engine, builder, history: list[dict], sampling: dict, out: TextIO, color: bool,
                show_reasoning: bool) -> str:
    """Generate one reply to `history`, printing it as it streams; returns the answer (content).
    sampling: ChatRequest fields; its max_tokens is a cap, lowered to what the context leaves."""
    from reasonrl.serve.app import ServerLimits, prepare
    from reasonrl.serve.protocol import ApiError, ChatRequest

    sampling = dict(sampling)
    limits = ServerLimits(max_tokens=sampling.pop("max_tokens", None) or 1024)
    p = prepare(ChatRequest(messages=history, **sampling), builder, engine, limits)
    events: queue.Queue = queue.Queue()
    job = engine.submit(p.prompt_ids, 1, p.params, events.put)
    split, mode, t0 = ReasoningSplitter(p.opened), None, time.perf_counter()

    def show(kind: str, text: str) -> None:
        nonlocal mode
        if not text or (kind == "reasoning" and not show_reasoning):
            return
        if kind != mode:
            out.write(end_mode() + ("\n" if mode else "") + ("thinking: " if kind == "reasoning" else "answer: "))
            out.write(DIM if color and kind == "reasoning" else "")
            mode = kind
        out.write(text)
        out.flush()

    def end_mode() -> str:
        return RESET if color and mode == "reasoning" else ""
    try:
        while True:
            ev = events.get()
            if ev.kind == "error":
                raise ApiError(500, ev.text)
            r, c = split.feed(ev.text) if ev.kind == "text" else split.finish()
            show("reasoning", r)
            show("content", c)
            if ev.kind == "finish":
                break
    finally:
        job.cancel()
    out.write(f"{end_mode()}{chr(10) if mode else ''}[{ev.reason}, {ev.tokens} tokens, "
              f"{time.perf_counter() - t0:.2f} s]\n")
    out.flush()
    return split.content


def chat_loop(engine, builder, lines: Iterable[str], out: TextIO, *, sampling: dict, system: str | None = None,
              color: bool = False, show_reasoning: bool = True) -> int:
    """Read messages from `lines` until /quit or the end; returns the number of replies."""
    from reasonrl.serve.protocol import ApiError

    history: list[dict] = [{"role": "system", "content": system}] if system else []
    replies = 0
    for line in lines:
        text = line.strip()
        command = text.split()[0] if text.startswith("/") and text[1:2].isalpha() else None
        if command in ("/quit", "/exit"):
            break
        if command == "/reset":
            history = history[:1] if system else []
            out.write("(conversation cleared)\n")
        elif command == "/help":
            out.write("".join(f"  {name:7s} {what}\n" for name, what in COMMANDS.items()))
        elif command:
            out.write(f"unknown command {command} (not sent to the model): /help lists the commands\n")
        if command:
            continue
        if not text:
            continue
        history.append({"role": "user", "content": text})
        try:
            reply = answer_once(engine, builder, history, sampling, out, color, show_reasoning)
        except ApiError as e:
            history.pop()
            out.write(f"error: {e.message}\n")
            continue
        history.append({"role": "assistant", "content": reply})
        replies += 1
    return replies


def _stdin_lines(prompt: str) -> Iterable[str]:
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input(prompt)
        except EOFError:
            print()
            return


def cmd_chat(args) -> int:
    from reasonrl.errors import UserError
    try:
        from pydantic import ValidationError
    except ImportError:
        raise UserError("reasonrl chat needs pydantic: pip install -e '.[serve]'") from None
    from reasonrl.serve.command import load_engine
    from reasonrl.serve.protocol import ChatRequest, PromptBuilder

    sampling = {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens}
    try:
        ChatRequest(messages=[{"role": "user", "content": "x"}], **sampling)
    except ValidationError as e:
        err = e.errors()[0]
        raise UserError(f"option --{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    engine, tok = load_engine(args.model_dir, dtype=args.dtype, device=args.device, max_batch=1, max_queue=1,
                              threads=max(0, args.threads))
    try:
        builder = PromptBuilder(tok, args.template, args.prefill_think)   # a template the tokenizer lacks: here
        tty = sys.stdout.isatty()
        if tty:
            print(f"reasonrl chat: {args.model_dir} (template {builder.renderer.resolved()}); /help, /reset, /quit")
        chat_loop(engine, builder, _stdin_lines("you> " if tty else ""), sys.stdout, sampling=sampling,
                  system=args.system, color=tty, show_reasoning=not args.hide_reasoning)
    finally:
        engine.close()
    return 0


def add_parser(subparsers) -> None:
    from reasonrl.serve.command import add_model_options

    text = "chat with a model in the terminal (reasoning shown, then the answer)"
    sp = subparsers.add_parser("chat", help=text, description=text,
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_options(sp)
    sp.add_argument("--temperature", type=float, default=0.6, help="0 = greedy (R1's recommendation: 0.6)")
    sp.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (R1: 0.95)")
    sp.add_argument("--max-tokens", type=int, default=1024, help="reply budget (capped by the context)")
    sp.add_argument("--system", default=None, help="system message (templates that have room for one)")
    sp.add_argument("--hide-reasoning", action="store_true", help="print only the answer")
    sp.set_defaults(fn=cmd_chat)
