"""OpenAI chat-completions wire format: request validation, prompt rendering, response objects.

Only what a reasoning model needs is accepted; anything else in a request is refused with a 4xx
naming the field (a silently ignored parameter is a bug the user cannot see). Extensions: `top_k`
(as vLLM), `reasoning_content` in messages and deltas (as DeepSeek), `weight_version` in responses.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonrl.templates import THINK_PREFILL, Renderer


class ApiError(Exception):
    """An error answered as OpenAI does: HTTP status + {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")     # name, reasoning_content, ... sent back by clients
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


MAX_JSON_DEPTH = 32                   # deeper request bodies get 400 (no request needs more than ~5)
MAX_TOP_K = 1 << 31                   # any top_k >= the vocabulary size means "off"; larger is refused


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, le=MAX_TOP_K)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Accepted for client compatibility at their neutral values only.
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    user: str | None = None

    def stops(self) -> tuple[str, ...]:
        items = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(items) > 4:
            raise ApiError(400, f"stop: at most 4 sequences, got {len(items)}", "stop")
        if any(not s for s in items):
            raise ApiError(400, "stop: sequences must be non-empty strings", "stop")
        return tuple(items)

    def check_unsupported(self) -> None:
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name) not in (None, 0, 0.0):
                raise ApiError(400, f"{name}: not supported by this server (only 0)", name)
        if self.logprobs:
            raise ApiError(400, "logprobs: not supported by this server", "logprobs")


def _loc(err: dict) -> str:
    return ".".join(str(x) for x in err.get("loc", ())) or "body"


def json_object(raw: bytes) -> dict:
    """Bytes of a POST body -> dict, or ApiError(400) (also for nesting deeper than MAX_JSON_DEPTH,
    checked before parsing, so a hostile body never reaches the recursive parser)."""
    if json_depth(raw, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ApiError(400, f"request body is nested more than {MAX_JSON_DEPTH} levels deep", code="invalid_json")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ApiError(400, f"request body is not valid JSON ({e})"[:300], code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(raw: bytes, stop_above: int | None = None) -> int:
    """Deepest nesting of [ and { in a JSON text (brackets inside strings ignored); malformed text
    gives some number and fails later in the parser. With stop_above: only whether the depth exceeds
    it counts (returns as soon as it does; 0 when too few brackets to exceed it)."""
    if stop_above is not None and raw.count(b"[") + raw.count(b"{") <= stop_above:
        return 0
    depth = deepest = 0
    for m in _STRUCTURE.finditer(raw):
        c = m.group()
        if c in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if stop_above is not None and depth > stop_above:
                return depth
        elif c in (b"]", b"}"):
            depth -= 1
    return deepest


def parse_reload(raw: bytes) -> tuple[str, int | None]:
    """Body of POST /v1/reload_weights: {"path": str, "weight_version": optional int} -> (path, version)."""
    body = json_object(raw)
    if not isinstance(body.get("path"), str) or not body["path"]:
        raise ApiError(400, "path: required, a server-side folder or .safetensors file", "path")
    version = body.get("weight_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or abs(version) >= 1 << 62):
        raise ApiError(400, f"weight_version: expected an integer, got {version!r}", "weight_version")
    unknown = sorted(set(body) - {"path", "weight_version"})
    if unknown:
        raise ApiError(400, f"{unknown[0]}: unknown parameter", unknown[0])
    return body["path"], version


def parse_request(raw: bytes) -> ChatRequest:
    """Bytes of a POST body -> ChatRequest, or ApiError(400) with one line naming the field."""
    data = json_object(raw)
    try:
        req = ChatRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = _loc(err)
        got = f" (got {err['input']!r})" if "input" in err and err["type"] != "extra_forbidden" else ""
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        raise ApiError(400, f"{where}: {msg}{got}"[:500], where) from None
    req.check_unsupported()
    return req


class PromptBuilder:
    """Messages -> prompt text with the same templates as training (reasonrl.templates.Renderer).

    Templates `raw` and `r1zero` render one turn: the first system message (where the template
    has room for it) and the last user message; earlier turns are not shown to the model. `chat`
    renders the whole conversation with the tokenizer's chat template (assistant turns give their
    `content` only; reasoning is never sent back to the model, as DeepSeek's API recommends)."""

    def __init__(self, tokenizer, template: str = "auto", prefill_think: bool = False):
        self.renderer = Renderer(tokenizer, template, prefill_think)
        self.tokenizer = tokenizer

    def render(self, messages: list[ChatMessage]) -> str:
        if not messages or messages[-1].role != "user":
            raise ApiError(400, "messages: the last message must have role 'user'", "messages")
        system = next((m.text() for m in messages if m.role in ("system", "developer")), None)
        if self.renderer.resolved() != "chat" or len([m for m in messages if m.role != "system"]) == 1:
            return self.renderer(messages[-1].text(), system=system)
        turns = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]
        text = self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        if self.renderer.prefill_think and not text.rstrip().endswith("<think>"):
            text += THINK_PREFILL
        return text

    def encode(self, text: str) -> list[int]:
        """Token ids exactly as the rollout encoder builds them in training (BOS prepended if missing)."""
        from reasonrl.rollout.hf import encode_prompts

        ids, _mask = encode_prompts(self.tokenizer, [text], "cpu")
        return ids[0].tolist()


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_body(cid: str, model: str, choices: list[dict], usage: dict, weight_version: int | None) -> dict:
    """choices: [{"reasoning", "content", "raw", "finish_reason"}] in index order; `raw_content` is the
    completion as generated (template tags such as <answer> included), an extension."""
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": i, "finish_reason": c["finish_reason"], "logprobs": None,
                         "message": {"role": "assistant", "content": c["content"],
                                     "reasoning_content": c["reasoning"], "raw_content": c.get("raw")}}
                        for i, c in enumerate(choices)],
            "usage": usage, "weight_version": weight_version}


def chunk_body(cid: str, model: str, created: int, choices: list[dict], usage: dict | None = None) -> dict:
    """One SSE chunk; choices: [{"index", "delta", "finish_reason"}] (empty for the usage chunk)."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"logprobs": None, **c} for c in choices]}
    if usage is not None:
        body["usage"] = usage
    return body


def usage_body(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def sse(obj: dict | str) -> str:
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))) + "\n\n"
