"""The FastAPI application: `/v1/chat/completions` (plain and SSE streaming), `/v1/completions`
(with per-token logprobs, for rollout clients), `/v1/models`,
`/v1/reload_weights`, `/health`, and the chat page at `/`.

Every completion goes through one `Engine` (the generation queue), so concurrent requests are
batched. The reasoning is split out of each completion (reasonrl.serve.split) into
`reasoning_content`; `content` holds the answer.
"""

import asyncio
import hmac
import time
from dataclasses import dataclass

from reasonrl.serve.engine import Engine, Event, QueueFull, SamplingParams
from reasonrl.serve.protocol import (ApiError, ChatRequest, PromptBuilder, chunk_body, completion_body, new_id,
                                     parse_reload, parse_request, sse, usage_body)
from reasonrl.serve.split import ReasoningSplitter, prompt_opens_think, split_reasoning


@dataclass(frozen=True)
class ServerLimits:
    model_name: str = "reasonrl"
    api_key: str | None = None        # when set, /v1/* needs "Authorization: Bearer <key>"
    max_tokens: int = 1024            # largest max_tokens a request may ask; also the default
    max_n: int = 8                    # largest n
    max_body_bytes: int = 1 << 20     # larger request bodies get 413


@dataclass
class Prepared:
    """A validated request turned into engine input."""
    req: ChatRequest
    prompt_ids: list[int]
    opened: bool
    params: SamplingParams


def prepare(req: ChatRequest, builder: PromptBuilder, engine: Engine, limits: ServerLimits) -> Prepared:
    if req.model not in (None, "", limits.model_name):
        raise ApiError(404, f"model '{req.model}' is not served here (this server serves '{limits.model_name}')",
                       "model", "model_not_found")
    if req.n > min(limits.max_n, engine.max_batch):
        raise ApiError(400, f"n: at most {min(limits.max_n, engine.max_batch)}, got {req.n}", "n")
    text = builder.render(req.messages)
    ids = builder.encode(text)
    room = engine.context - len(ids)
    asked = req.max_completion_tokens or req.max_tokens
    if asked is not None and asked > limits.max_tokens:
        raise ApiError(400, f"max_tokens: at most {limits.max_tokens}, got {asked}", "max_tokens")
    if room < 1 or (asked is not None and asked > room):
        raise ApiError(400, f"the prompt is {len(ids)} tokens and max_tokens is {asked or 1}: more than the "
                       f"model's context of {engine.context} tokens", "messages", "context_length_exceeded")
    params = SamplingParams(temperature=req.temperature, top_p=req.top_p, top_k=req.top_k,
                            max_tokens=asked or min(limits.max_tokens, room), stop=req.stops(), seed=req.seed)
    return Prepared(req, ids, prompt_opens_think(text), params)


def submit_async(engine: Engine, p: Prepared):
    """Queue the request; returns (job, asyncio.Queue of Events) fed from the worker thread."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def sink(ev: Event) -> None:
        loop.call_soon_threadsafe(events.put_nowait, ev)
    try:
        job = engine.submit(p.prompt_ids, p.req.n, p.params, sink)
    except QueueFull as e:
        raise ApiError(429, f"server busy: {e}; retry later", code="queue_full", kind="rate_limit_error") from None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    return job, events


async def complete(job, events: asyncio.Queue, p: Prepared, model: str) -> dict:
    """Non-streaming: wait for all n choices, split each whole text."""
    texts, reasons, tokens = [""] * p.req.n, [None] * p.req.n, 0
    try:
        while any(r is None for r in reasons):
            ev = await events.get()
            if ev.kind == "error":
                raise ApiError(500, ev.text, kind="server_error")
            if ev.kind == "text":
                texts[ev.index] += ev.text
            else:
                reasons[ev.index], tokens = ev.reason, tokens + ev.tokens
    finally:
        job.cancel()                         # no-op when finished; frees the rows if the client left
    choices = []
    for text, reason in zip(texts, reasons):
        reasoning, content = split_reasoning(text, p.opened)
        choices.append({"reasoning": reasoning, "content": content, "raw": text, "finish_reason": reason})
    return completion_body(new_id(), model, choices, usage_body(len(p.prompt_ids), tokens), job.weight_version)


async def stream(job, events: asyncio.Queue, p: Prepared, model: str):
    """SSE: a role chunk per choice, then reasoning/content deltas, a finish chunk per choice,
    an optional usage chunk, and `data: [DONE]`. Errors after the start arrive as an error object."""
    cid, created, n = new_id(), int(time.time()), p.req.n
    splitters = [ReasoningSplitter(p.opened) for _ in range(n)]
    left, tokens = n, 0
    try:
        for i in range(n):
            yield sse(chunk_body(cid, model, created, [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                        "finish_reason": None}]))
        while left:
            ev = await events.get()
            if ev.kind == "error":
                yield sse(ApiError(500, ev.text, kind="server_error").body())
                return
            s = splitters[ev.index]
            reasoning, content = s.feed(ev.text) if ev.kind == "text" else s.finish()
            delta = {k: v for k, v in (("reasoning_content", reasoning), ("content", content)) if v}
            if delta:
                yield sse(chunk_body(cid, model, created, [{"index": ev.index, "delta": delta, "finish_reason": None}]))
            if ev.kind == "finish":
                left, tokens = left - 1, tokens + ev.tokens
                yield sse(chunk_body(cid, model, created, [{"index": ev.index, "delta": {},
                                                            "finish_reason": ev.reason}]))
        if p.req.stream_options and p.req.stream_options.include_usage:
            yield sse(chunk_body(cid, model, created, [], usage_body(len(p.prompt_ids), tokens)))
        yield sse("[DONE]")
    finally:
        job.cancel()


def authorize(headers, limits: ServerLimits) -> None:
    """ApiError(401) unless the API key is off or "Authorization: Bearer <key>" matches."""
    if limits.api_key is None:
        return
    got = headers.get("authorization", "")
    if not hmac.compare_digest(got.encode(), f"Bearer {limits.api_key}".encode()):
        raise ApiError(401, "missing or wrong API key (send 'Authorization: Bearer <key>')",
                       code="invalid_api_key", kind="authentication_error")


async def read_body(request, limits: ServerLimits) -> bytes:
    """The body, or ApiError(413) as soon as its declared length, or the bytes received so far (a chunked
    body has no declared length), exceed limits.max_body_bytes: never more than the limit plus one
    chunk is held in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {limits.max_body_bytes}")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise ApiError(413, f"request body exceeds the limit of {limits.max_body_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


OPEN_PATHS = ("/", "/health")         # the chat page (it asks for the key itself) and the health check


class ApiKeyGuard:
    """ASGI middleware: with an API key set, every HTTP route but OPEN_PATHS and the page's static files
    (/static/...) needs it, including routes added later and FastAPI's own (/openapi.json, /docs)."""

    def __init__(self, app, limits: ServerLimits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and self.limits.api_key is not None and path not in OPEN_PATHS \
                and not path.startswith("/static/"):
            from starlette.responses import JSONResponse

            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                authorize(headers, self.limits)
            except ApiError as e:
                return await JSONResponse(e.body(), status_code=e.status)(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(engine: Engine, builder: PromptBuilder, limits: ServerLimits = ServerLimits()):
    """The ASGI app. The engine must be started (Engine.start) before requests arrive."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

    from reasonrl.serve.page import PAGE_HTML
    from reasonrl.serve.weights import WeightsError

    app = FastAPI(title="reasonrl serve", docs_url=None, redoc_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RecursionError)
    async def _too_deep(_request, _exc):
        return JSONResponse(ApiError(400, "request nested too deeply", code="invalid_json").body(), status_code=400)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return PAGE_HTML

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": limits.model_name, "weight_version": engine.weight_version,
                "queued": engine.queued(), **engine.stats}

    @app.get("/v1/models")
    async def models(request: Request):
        authorize(request.headers, limits)
        return {"object": "list", "data": [{"id": limits.model_name, "object": "model", "created": 0,
                                            "owned_by": "reasonrl", "max_model_len": engine.context,
                                            "weight_version": engine.weight_version}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        authorize(request.headers, limits)
        p = prepare(parse_request(await read_body(request, limits)), builder, engine, limits)
        job, events = submit_async(engine, p)       # queue-full is a 429 before any byte is sent
        if p.req.stream:
            gen = stream(job, events, p, limits.model_name)
            return StreamingResponse(gen, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return await complete(job, events, p, limits.model_name)

    @app.post("/v1/completions")
    async def completions(request: Request):
        """Text completions with per-token logprobs (reasonrl.serve.completions), for rollout clients."""
        from reasonrl.serve.completions import run_completion
        authorize(request.headers, limits)
        return await run_completion(await read_body(request, limits), builder, engine, limits)

    @app.post("/v1/reload_weights")
    async def reload_weights(request: Request):
        """Body {"path": folder or .safetensors file, "weight_version": optional int} -> the new version."""
        authorize(request.headers, limits)
        path, version = parse_reload(await read_body(request, limits))
        try:
            return await asyncio.wrap_future(engine.reload_future(path, version))
        except WeightsError as e:
            raise ApiError(400, str(e), "path") from None

    app.add_middleware(ApiKeyGuard, limits=limits)
    return app
