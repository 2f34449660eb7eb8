"""An OpenAI-compatible endpoint as an evaluation backend: `reasonrl eval --endpoint URL`.

Any server speaking `/v1/chat/completions` or `/v1/completions` -- `reasonrl serve`, vLLM, SGLang,
hosted APIs. Every sample is its own request (n=1, its own seed), so samples are independent of how
many run at once, and a partial evaluation resumes sample by sample.

    api=chat         messages [{"role": "user", "content": problem}]; the server applies its chat
                     template. `reasoning_content` (DeepSeek, vLLM, `reasonrl serve`; `reasoning` on
                     some servers) is kept apart in the sample file and joined with `content` as
                     "<think>\\nR\\n</think>\\n\\nC" for grading.
    api=completions  the prompt rendered here (template=raw|r1zero; chat needs --model for its tokenizer)
                     and sent as text; the completion is graded as local generation would grade it.

Faults: each request has a deadline (`timeout_s`, the whole request, however slowly bytes arrive);
dropped connections, timeouts, HTTP 429 and 5xx are retried with exponential backoff (`backoff_s`,
doubled each try, or the server's Retry-After); other 4xx fail that sample at once. At most
`concurrency` requests are in flight. A sample that still fails is not written: the run ends with a
one-line error after keeping every finished sample, and the same command resumes.

The API key comes from the environment: $REASONRL_API_KEY, else $OPENAI_API_KEY (api_key_env= names
another variable); it is sent as "Authorization: Bearer ...".
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.parse
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from reasonrl.errors import UserError
from reasonrl.rollout.server import _server_message

KEY_ENVS = ("REASONRL_API_KEY", "OPENAI_API_KEY")
APIS = ("chat", "completions")


class EndpointError(UserError):
    """The endpoint cannot be reached or refuses a request (after the retries)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class EndpointSettings:
    url: str
    api: str = "chat"                 # chat | completions
    model: str = ""                   # "" = the first model of GET /v1/models
    api_key: str = ""
    concurrency: int = 8              # requests in flight
    retries: int = 4                  # tries per request (1 = no retry)
    timeout_s: float = 600.0          # deadline of one request, start to last byte
    backoff_s: float = 1.0            # wait before the 2nd try; doubled for each further one

    def __post_init__(self):
        from reasonrl.config import ConfigError

        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigError(f"--endpoint '{self.url}': expected an http:// or https:// URL")
        if self.api not in APIS:
            raise ConfigError(f"config key 'api': '{self.api}' is not one of {', '.join(APIS)}")
        for key in ("concurrency", "retries"):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key '{key}' must be >= 1, got {getattr(self, key)}")
        if self.timeout_s <= 0 or self.backoff_s < 0:
            raise ConfigError("config keys 'timeout_s' must be > 0 and 'backoff_s' >= 0")


def api_key_from_env(name: str = "") -> str:
    """The key from $name, else $REASONRL_API_KEY, else $OPENAI_API_KEY ("" = none)."""
    for env in ((name,) if name else KEY_ENVS):
        if os.environ.get(env):
            return os.environ[env]
    return ""


@dataclass(frozen=True)
class Reply:
    """One completion: `text` is what gets graded; reasoning and content as the server split them."""
    text: str
    content: str
    reasoning: str
    tokens: int                       # completion tokens (usage), 0 when the server gives none
    finish_reason: str                # stop | length | ...


def joined(reasoning: str, content: str) -> str:
    """The graded text of a chat reply: the reasoning back inside think tags, then the answer."""
    return f"<think>\n{reasoning}\n</think>\n\n{content}" if reasoning else content


def sample_seed(seed: int, problem_id: str, j: int) -> int:
    """The request seed of sample j of a problem: fixed by (seed, id, j), whatever the order of requests."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{problem_id}/{j}".encode()).digest()[:4], "big") >> 1


class _Retry(Exception):
    """A failure worth another try; `wait_s` is the server's Retry-After, if any."""

    def __init__(self, why: str, status: int | None = None, wait_s: float | None = None):
        super().__init__(why)
        self.status, self.wait_s = status, wait_s


class EndpointClient:
    def __init__(self, settings: EndpointSettings):
        self.s = settings
        parts = urllib.parse.urlsplit(settings.url.rstrip("/"))
        self.https, self.host, self.port = parts.scheme == "https", parts.hostname, parts.port
        self.base = parts.path[:-3] if parts.path.endswith("/v1") else parts.path
        self._model = settings.model or None

    def _once(self, path: str, body: dict | None, deadline: float) -> dict:
        """One HTTP exchange that ends by `deadline` (time.monotonic()), however the server behaves."""
        left = lambda: deadline - time.monotonic()  # noqa: E731
        if left() <= 0:
            raise _Retry("deadline passed")
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=left())
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **({"Authorization": f"Bearer {self.s.api_key}"} if self.s.api_key else {})}
        try:
            conn.request("GET" if body is None else "POST", self.base + path,
                         body=None if body is None else json.dumps(body).encode(), headers=headers)
            conn.sock.settimeout(max(left(), 0.001))
            resp = conn.getresponse()
            chunks = []
            while True:
                if left() <= 0:
                    raise _Retry(f"no complete answer within the {self.s.timeout_s:g} s deadline")
                conn.sock.settimeout(max(left(), 0.001))
                piece = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not piece:
                    break
                chunks.append(piece)
            raw = b"".join(chunks)
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            why = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}".rstrip(": ")
            raise _Retry(f"{why} (deadline {self.s.timeout_s:g} s)" if isinstance(e, TimeoutError) else why) from None
        finally:
            conn.close()
        if resp.status == 429 or resp.status >= 500:
            after = resp.getheader("Retry-After")
            raise _Retry(f"HTTP {resp.status}: {_server_message(raw)}", resp.status,
                         float(after) if after and after.replace(".", "", 1).isdigit() else None)
        if resp.status >= 400:
            raise EndpointError(f"endpoint {self.s.url}{path}: HTTP {resp.status}: {_server_message(raw)}", resp.status)
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise _Retry("answered with something that is not JSON") from None

    def call(self, path: str, body: dict | None = None) -> dict:
        """POST `body` (GET when None) with the deadline, retries and backoff of the settings."""
        why = ""
        for attempt in range(self.s.retries):
            try:
                return self._once(path, body, time.monotonic() + self.s.timeout_s)
            except _Retry as e:
                why = str(e)
                if attempt + 1 < self.s.retries:
                    time.sleep(min(e.wait_s, 60.0) if e.wait_s is not None else self.s.backoff_s * 2 ** attempt)
        raise EndpointError(f"endpoint {self.s.url}{path}: {why} (after {self.s.retries} tries)")

    def model(self) -> str:
        """The model name sent with each request: model= if set, else the first of GET /v1/models."""
        if self._model is None:
            data = self.call("/v1/models").get("data") or []
            if not data or not isinstance(data[0], dict) or not data[0].get("id"):
                raise EndpointError(f"endpoint {self.s.url}/v1/models lists no model; name one with model_name=")
            self._model = str(data[0]["id"])
        return self._model

    def complete(self, prompt: str, *, temperature: float, top_p: float, top_k: int, max_new_tokens: int,
                 greedy: bool, seed: int) -> Reply:
        """One completion of `prompt` (a problem for api=chat, a rendered prompt for api=completions)."""
        body = {"model": self.model(), "n": 1, "max_tokens": max_new_tokens, "seed": seed,
                "temperature": 0.0 if greedy else temperature, "top_p": 1.0 if greedy else top_p,
                **({"top_k": top_k} if top_k and not greedy else {})}
        if self.s.api == "chat":
            got = self.call("/v1/chat/completions", {**body, "messages": [{"role": "user", "content": prompt}]})
        else:
            got = self.call("/v1/completions", {**body, "prompt": prompt})
        return parse_reply(got, self.s.api, self.s.url)

    def run(self, jobs: list, fn):
        """Yield (job, Reply or EndpointError) as requests finish, at most `concurrency` in flight."""
        with ThreadPoolExecutor(max_workers=self.s.concurrency) as pool:
            pending = {pool.submit(fn, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        yield job, fut.result()
                    except EndpointError as e:
                        yield job, e


def parse_reply(got: dict, api: str, url: str = "") -> Reply:
    """The first choice of a chat or completions response -> Reply."""
    choices = got.get("choices") if isinstance(got, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise EndpointError(f"endpoint {url}: the response has no choices")
    c = choices[0]
    tokens = int((got.get("usage") or {}).get("completion_tokens") or 0)
    finish = str(c.get("finish_reason") or "stop")
    if api == "completions":
        text = str(c.get("text") or "")
        return Reply(text, text, "", tokens, finish)
    msg = c.get("message") or {}
    content = str(msg.get("content") or "")
    reasoning = str(msg.get("reasoning_content") or msg.get("reasoning") or "")
    return Reply(joined(reasoning, content), content, reasoning, tokens, finish)


class EndpointGenerator:
    """The evaluation runner's generator (runner.evaluate_benchmark) over an endpoint."""

    def __init__(self, client: EndpointClient, render, seed: int = 0):
        self.client, self.render, self.seed = client, render, seed
        self.source = {"endpoint": client.s.url, "served_model": client.model(), "api": client.s.api}
        self.describe = {"model": f"{client.model()} @ {client.s.url}", "endpoint": client.s.url,
                         "api": client.s.api}

    @classmethod
    def from_config(cls, cfg) -> "EndpointGenerator":
        """From an EvalRunConfig; api=completions renders prompts here (template=chat loads the tokenizer
        of --model)."""
        from reasonrl.templates import Renderer

        settings = EndpointSettings(url=cfg.endpoint, api=cfg.api, model=cfg.model_name,
                                    api_key=api_key_from_env(cfg.api_key_env), concurrency=cfg.concurrency,
                                    retries=cfg.retries, timeout_s=cfg.timeout_s, backoff_s=cfg.backoff_s)
        tok = None
        if cfg.api == "completions" and cfg.template == "chat":
            from reasonrl.models import load_tokenizer, resolve_model_path

            tok = load_tokenizer(resolve_model_path(cfg.model))
        if cfg.api == "chat":       # the server applies its own template and any think prefill
            return cls(EndpointClient(settings), Renderer(None, "raw"), cfg.seed)
        return cls(EndpointClient(settings), Renderer(tok, cfg.template, cfg.prefill_think), cfg.seed)

    def fit(self, bench, proto, log):
        return proto                  # the server answers 400 when prompt + budget exceed its context

    def rows(self, bench, proto, missing: dict, write, progress) -> None:
        """Request every missing sample; write rows as they finish. Raises EndpointError at the end if
        some failed (the finished ones are written, so the same command resumes)."""
        from reasonrl.eval.heldout import make_rows

        sampling = dict(temperature=proto.temperature, top_p=proto.top_p, top_k=proto.top_k,
                        max_new_tokens=proto.max_new_tokens, greedy=proto.greedy)
        jobs = [(p, j) for p, idx in sorted(missing.items()) for j in idx]

        def one(job):
            p, j = job
            return self.client.complete(self.render(bench.samples[p].prompt),
                                        seed=sample_seed(self.seed, bench.ids[p], j),
                                        **sampling)
        failed: list[EndpointError] = []
        for job, got in self.client.run(jobs, one):
            if isinstance(got, EndpointError):
                failed.append(got)
                continue
            extra = [{"content": got.content, "reasoning": got.reasoning}] if self.client.s.api == "chat" else None
            write(make_rows([job], [self.render.prefill + got.text], [got.tokens], [got.finish_reason == "length"],
                            bench.ids, bench.samples, extra))
            progress(1)
        if failed:
            raise EndpointError(f"{len(failed)} of {len(jobs)} samples failed ({failed[-1]}); the other "
                                f"{len(jobs) - len(failed)} are saved: run the same command again to resume")
