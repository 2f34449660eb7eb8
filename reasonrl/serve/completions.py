"""`POST /v1/completions`: the OpenAI text-completions call with per-token logprobs, the shape a
rollout client (reasonrl.rollout.server) needs. Not streamed.

Request: {"prompt": str | [token ids], "n", "max_tokens", "temperature", "top_p", "top_k", "seed",
"logprobs": int | null, "echo": bool, "return_tokens_as_token_ids": bool, "model"}. A string prompt is encoded the
way training encodes prompts (BOS prepended). With `logprobs` set, each choice carries
`logprobs.tokens` (strings, or "token_id:N" with return_tokens_as_token_ids, as vLLM does) and
`logprobs.token_logprobs` (log softmax(logits / temperature) of the sampled token, before any top-p/
top-k filter: what the trainer computes). The body's `weight_version` names the weights that sampled.
`echo: true` puts the prompt before each choice's text and, with `logprobs`, the prompt tokens before
its tokens: the first gets null, each other one log softmax(logits / temperature) given the tokens
before it (scoring a fixed completion: echo + max_tokens 0, as OpenAI's legacy API allows).
"""
from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonrl.serve.engine import Event, QueueFull, SamplingParams
from reasonrl.serve.protocol import MAX_TOP_K, ApiError, json_object, usage_body


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str | None = None
    prompt: str | list[int]
    n: int = Field(1, ge=1)
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, le=MAX_TOP_K)
    seed: int | None = None
    logprobs: int | None = Field(None, ge=0)
    return_tokens_as_token_ids: bool = False
    echo: bool = False


def parse_completion(raw: bytes) -> CompletionRequest:
    try:
        return CompletionRequest.model_validate(json_object(raw))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        raise ApiError(400, f"{where}: {msg}"[:500], where) from None


async def run_completion(raw: bytes, builder, engine, limits) -> dict:
    """Validate, queue on the engine, wait for all n choices; the response body."""
    req = parse_completion(raw)
    if req.model not in (None, "", limits.model_name):
        raise ApiError(404, f"model '{req.model}' is not served here", "model", "model_not_found")
    if req.n > min(limits.max_n, engine.max_batch):
        raise ApiError(400, f"n: at most {min(limits.max_n, engine.max_batch)}, got {req.n}", "n")
    ids = builder.encode(req.prompt) if isinstance(req.prompt, str) else list(req.prompt)
    bad = next((i for i, t in enumerate(ids) if not 0 <= t < engine.vocab_size), None)
    if bad is not None:
        raise ApiError(400, f"prompt.{bad}: token id {ids[bad]} is outside the vocabulary (0..{engine.vocab_size - 1})",
                       "prompt")
    if req.max_tokens == 0 and not req.echo:
        raise ApiError(400, "max_tokens: 0 needs echo (scoring the prompt)", "max_tokens")
    if not ids or req.max_tokens > limits.max_tokens or len(ids) + req.max_tokens > engine.context:
        raise ApiError(400, f"max_tokens: {req.max_tokens} with a {len(ids)}-token prompt exceeds the limit "
                       f"({limits.max_tokens} new tokens, context {engine.context})", "max_tokens")
    echo = await _score_prompt(engine, ids, req) if req.echo and req.logprobs is not None else None
    if req.max_tokens == 0:
        choices = [{"index": i, "text": "", "finish_reason": "length", "tokens": [], "lps": []} for i in range(req.n)]
        return _body(req, builder.tokenizer, choices, ids, limits.model_name,
                     echo[1] if echo else engine.weight_version, echo)
    params = SamplingParams(temperature=req.temperature, top_p=req.top_p, top_k=req.top_k,
                            max_tokens=req.max_tokens, seed=req.seed)
    loop, events = asyncio.get_running_loop(), asyncio.Queue()
    try:
        job = engine.submit(ids, req.n, params, lambda ev: loop.call_soon_threadsafe(events.put_nowait, ev),
                            want_tokens=True)
    except QueueFull as e:
        raise ApiError(429, f"server busy: {e}; retry later", code="queue_full", kind="rate_limit_error") from None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    choices = [{"index": i, "text": "", "finish_reason": None, "tokens": [], "lps": []} for i in range(req.n)]
    try:
        while any(c["finish_reason"] is None for c in choices):
            ev: Event = await events.get()
            c = choices[ev.index] if ev.kind != "error" else None
            if ev.kind == "error":
                raise ApiError(500, ev.text, kind="server_error")
            if ev.kind == "token":
                c["tokens"].append(ev.token)
                c["lps"].append(ev.logprob)
            elif ev.kind == "text":
                c["text"] += ev.text
            else:
                c["finish_reason"] = ev.reason
    finally:
        job.cancel()
    if echo is not None and echo[1] != job.weight_version:
        raise ApiError(503, "the weights were reloaded during the request; retry", code="weights_changed",
                       kind="server_error")
    return _body(req, builder.tokenizer, choices, ids, limits.model_name, job.weight_version, echo)


async def _score_prompt(engine, ids: list[int], req) -> tuple[list, int]:
    """([None, logprob of ids[1], ...], weight_version): the prompt's own logprobs, for echo."""
    try:
        lps, version = await asyncio.wrap_future(engine.score_future(ids, req.temperature))
    except Exception as e:                       # e.g. out of memory on a long prompt
        raise ApiError(500, f"scoring the prompt failed: {type(e).__name__}: {e}", kind="server_error") from None
    return [None] + lps, version


def _body(req, tokenizer, choices, ids: list[int], model: str, weight_version, echo=None) -> dict:
    """echo: _score_prompt's answer when the prompt's logprobs go first, else None."""
    out = []
    head = tokenizer.decode(ids, skip_special_tokens=True) if req.echo else ""
    for c in choices:
        lp = None
        if req.logprobs is not None:
            tok_ids = (ids if echo else []) + c["tokens"]
            toks = ([f"token_id:{t}" for t in tok_ids] if req.return_tokens_as_token_ids
                    else tokenizer.convert_ids_to_tokens(tok_ids))
            lp = {"tokens": toks, "token_logprobs": (echo[0] if echo else []) + c["lps"], "top_logprobs": None,
                  "text_offset": None}
        out.append({"index": c["index"], "text": head + c["text"], "finish_reason": c["finish_reason"],
                    "logprobs": lp})
    return {"id": "cmpl-" + str(id(choices)), "object": "text_completion", "model": model, "choices": out,
            "usage": usage_body(len(ids), sum(len(c["tokens"]) for c in choices)),
            "weight_version": weight_version}
