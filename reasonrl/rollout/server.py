"""Rollout-server backend (`rollout.backend=server`): generation through an OpenAI-compatible
`/v1/completions` endpoint that returns per-token logprobs -- `reasonrl serve`, SGLang or vLLM, on this
or another machine -- with the policy's weights published after every update and checked.

    sync_weights(model): save_pretrained -> {server_weights_dir}/v{N}/ (safetensors + config + tokenizer),
                         the server's reload call (rollout.server_kind, below), the version check, and
                         the probe (server_probe): one fixed completion scored by both sides
    generate(prompts):   one request per prompt (n = G, token-id prompts, concurrent); the sampler's
                         logprobs land in Generations.sampler_logp (for algo.tis)

Settings are `rollout.server_*` config keys (reasonrl.config.RolloutConfig); the API key, a secret, stays
in the environment: REASONRL_SERVER_API_KEY (sent as "Authorization: Bearer ..."). Every HTTP call has a
timeout (on the whole answer, not only each read) and retries (connection errors, timeouts, 429, 5xx);
a server that does not answer, or refuses a reload, is a RolloutServerError naming the URL and the
server's message, never a hang.

Reload call and weight-version check per server kind:
  reasonrl  POST /v1/reload_weights {"path", "weight_version": N} -> {"weight_version": N}. Checked: the
            reload's answer, and `weight_version` == N in EVERY completion response (a stale one is retried,
            then refused). With train.async_staleness = k >= 1 a step-s sample accepts any version from
            the step's floor to the newest asked for (`accepts`, `accepting`; docs/async.md).
  sglang    POST /update_weights_from_disk {"model_path", "weight_version": "N"} -> {"success", "message"}
            (HTTP 400 when success is false). Checked: success; then GET /model_info (SGLang >= 0.5; on 404
            the older /get_model_info) must report weight_version "N" when it reports one; and a completion
            response's metadata.weight_version, when present, must be "N" (SGLang's serving_completions
            writes it; older versions do not, and then only the reload and /model_info are checked).
            Sources: SGLang docs "SGLang for RL Systems" > Update Weights from Disk
            (https://docs.sglang.io/advanced_features/sglang_for_rl.html, request/response tables),
            "Native APIs" (/get_model_info's weight_version), python/sglang/srt/entrypoints/openai/
            serving_completions.py (echo + logprobs -> input_token_logprobs; return_token_ids -> choice
            token_ids / prompt_token_ids; metadata.weight_version).
  vllm      POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path": folder}}: the
            dev-mode endpoint (server started with VLLM_SERVER_DEV_MODE=1; vllm/entrypoints/serve/dev/rpc/
            api_router.py, listed in https://docs.vllm.ai/en/latest/usage/security.html) calling
            GPUModelRunner.reload_weights(weights_iterator=None, weights_path=None, is_checkpoint_format=True)
            on every worker (vllm/v1/worker/gpu_model_runner.py). vLLM documents no file-based reload for
            production servers: its documented RL path is the weight-transfer engine (NCCL/IPC,
            examples/rl/rlhf_http_nccl.py), which moves tensors, not files, and is not used here. vLLM has
            no weight version: checked is only that the call answered 200; the probe is what shows that
            the new weights serve. A vLLM older than `weights_path` needs update_config + reload_weights
            (examples/offline_inference/skip_loading_weights_in_engine_init.py): not wired.
Token ids come back as "token_id:N" (`return_tokens_as_token_ids`, ours and vLLM) or as `token_ids`
(`return_token_ids`, SGLang).

The probe: the first rollout's first completion (prompt + completion token ids) is kept; after each sync it is
scored on the server (`echo: true, logprobs: 1, max_tokens: 0` for ours, 1 for SGLang/vLLM, at the rollout
temperature) and by the trainer (reasonrl.algo.logprobs.sequence_logprobs); max |difference| over its
completion tokens is `probe_logp_diff` (metric rollout/probe_logp_diff). SGLang/vLLM servers are
CONTRACT-TESTED ONLY (tests/rollout/test_server_contract.py: fake HTTP servers with the documented shapes);
whether their prompt logprobs apply the temperature is not verified (at temperature 1 it does not matter).

CPU:  reasonrl serve embedded --port 8011 &
      reasonrl train rollout.backend=server rollout.server_url=http://127.0.0.1:8011
GPUs: the same with the server on its own GPU(s); rollout.server_weights_dir on a shared filesystem;
      SGLang: rollout.server_kind=sglang; vLLM: VLLM_SERVER_DEV_MODE=1 vllm serve ... and rollout.server_kind=vllm.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from reasonrl import dist
from reasonrl.algo.logprobs import completion_mask, sequence_logprobs
from reasonrl.errors import UserError
from reasonrl.scale.lora import merged
from reasonrl.models import eos_ids
from reasonrl.rollout.hf import encode_prompts
from reasonrl.types import Generations

API_KEY_ENV = "REASONRL_SERVER_API_KEY"


class RolloutServerError(UserError):
    """The rollout server is unreachable, refuses a call, or answers with the wrong weights."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status              # the HTTP status that ended the call, if any


@dataclass(frozen=True)
class ServerSettings:
    url: str = "http://127.0.0.1:8000"
    kind: str = "reasonrl"                # reasonrl | sglang | vllm
    weights_dir: str = ""
    timeout_s: float = 120.0
    retries: int = 3
    probe: bool = True
    api_key: str = ""

    @classmethod
    def from_rollout(cls, rollout=None) -> "ServerSettings":
        """From a RolloutConfig (None = its defaults); the API key from REASONRL_SERVER_API_KEY."""
        from reasonrl.config import RolloutConfig

        r = rollout or RolloutConfig()
        return cls(url=r.server_url.rstrip("/"), kind=r.server_kind, weights_dir=r.server_weights_dir,
                   timeout_s=r.server_timeout_s, retries=max(1, r.server_retries), probe=r.server_probe,
                   api_key=os.environ.get(API_KEY_ENV, ""))


def _server_message(raw: bytes) -> str:
    """The human part of an error body: SGLang's "message", OpenAI's error.message, FastAPI's "detail"."""
    text = raw[:2000].decode(errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(body, dict):
        err = body.get("error")
        for got in (body.get("message"), err.get("message") if isinstance(err, dict) else err, body.get("detail")):
            if got:
                return str(got)[:300]
    return text.strip()[:300]


def http_json(url: str, body: dict | None = None, *, timeout_s: float, retries: int, api_key: str = "") -> dict:
    """POST `body` (GET when None) and decode the JSON answer ({} for an empty one). Retries connection
    errors, timeouts, 429 and 5xx (backoff 0.5 s, 1 s, 2 s, ...); any other 4xx fails at once.
    Raises RolloutServerError naming the URL and the server's message."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    why, status = "", None
    for attempt in range(retries):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        try:
            req = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                raw = _read_by(r, time.monotonic() + timeout_s)
            return json.loads(raw) if raw.strip() else {}
        except urllib.error.HTTPError as e:
            why, status = f"HTTP {e.code}: {_server_message(e.read())}", e.code
            if e.code != 429 and e.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            why, status = str(getattr(e, "reason", e)) or type(e).__name__, None
        except ValueError:
            why, status = "answered with something that is not JSON", None
    raise RolloutServerError(f"rollout server {url}: {why} (after {attempt + 1} tries; is the server running "
                             f"there? rollout.server_url sets the address)", status)


def _read_by(response, deadline: float, chunk: int = 1 << 16) -> bytes:
    """The whole body, or TimeoutError once the monotonic `deadline` passes: the socket timeout alone
    bounds each read, not a server that trickles its answer out byte by byte."""
    parts = []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not arrive in time")
        part = response.read1(chunk) if hasattr(response, "read1") else response.read(chunk)
        if not part:
            return b"".join(parts)
        parts.append(part)


def post_json(url: str, body: dict, *, timeout_s: float, retries: int, api_key: str = "") -> dict:
    return http_json(url, body, timeout_s=timeout_s, retries=retries, api_key=api_key)


def _ids_of(choice: dict, tokens: list) -> list[int]:
    """Token ids of a choice: SGLang's token_ids (after its prompt_token_ids when the logprobs cover the
    echoed prompt too), else the "token_id:N" strings."""
    if choice.get("token_ids") is not None:
        out, head = list(choice["token_ids"]), list(choice.get("prompt_token_ids") or [])
        return [int(t) for t in (head + out if len(head) + len(out) == len(tokens) else out)]
    if not all(str(t).startswith("token_id:") for t in tokens):
        raise RolloutServerError("rollout server answered tokens as text, not ids (it needs "
                                 "return_tokens_as_token_ids or return_token_ids)")
    return [int(str(t)[len("token_id:"):]) for t in tokens]


def parse_choice(choice: dict) -> tuple[list[int], list]:
    """Token ids and logprobs of one /v1/completions choice (logprobs None where the server gives none)."""
    lp = choice.get("logprobs") or {}
    toks, lps = lp.get("tokens"), lp.get("token_logprobs")
    if toks is None or lps is None or len(toks) != len(lps):
        raise RolloutServerError("rollout server answered without per-token logprobs (needs logprobs and "
                                 "return_tokens_as_token_ids / return_token_ids)")
    ids = _ids_of(choice, toks)
    if len(ids) != len(lps):
        raise RolloutServerError(f"rollout server answered {len(ids)} token ids for {len(lps)} logprobs")
    return ids, [None if x is None else float(x) for x in lps]


def completion_body(kind: str, ids: list[int], *, model: str | None, n: int, seed: int, temperature: float,
                    top_p: float, top_k: int, max_tokens: int, echo: bool = False) -> dict:
    """A /v1/completions request on token ids, with the sampled (and, with echo, the prompt) logprobs."""
    body = {"prompt": ids, "n": n, "seed": seed, "max_tokens": max_tokens, "temperature": temperature,
            "top_p": top_p, "top_k": top_k if kind == "reasonrl" or top_k > 0 else -1,
            "logprobs": 1 if echo else 0, **({"echo": True} if echo else {}), **({"model": model} if model else {})}
    return {**body, **({"return_token_ids": True} if kind == "sglang" else {"return_tokens_as_token_ids": True})}


def response_version(kind: str, body: dict):
    """The weight version a completion response names: ours at the top level, SGLang's in
    metadata.weight_version (None when absent), vLLM none."""
    if kind == "reasonrl":
        return body.get("weight_version")
    if kind == "sglang":
        return (body.get("metadata") or {}).get("weight_version")
    return None


def reload_request(kind: str, folder: str, version: int) -> tuple[str, dict]:
    """(path, body) of the server's reload-from-disk call."""
    if kind == "sglang":
        return "/update_weights_from_disk", {"model_path": folder, "weight_version": str(version)}
    if kind == "vllm":
        return "/collective_rpc", {"method": "reload_weights", "kwargs": {"weights_path": folder}}
    return "/v1/reload_weights", {"path": folder, "weight_version": version}


def expected_version(kind: str, version: int):
    """What the server should report for trainer version N: the int for ours, the string label for SGLang."""
    return str(version) if kind == "sglang" else version


def accepts(kind: str, named, version: int, floor: int | None = None, newest: int | None = None) -> bool:
    """Whether a completion response naming weight version `named` may be used. floor None (synchronous):
    only `version`, the one published last (SGLang, vLLM may name none); else (train.async_staleness >= 1)
    a named version in [floor, newest] (newest: the newest the trainer has asked the server to load)."""
    if floor is None:
        return named == expected_version(kind, version) or (named is None and kind != "reasonrl")
    try:
        v = int(named)
    except (TypeError, ValueError):
        return False
    return floor <= v <= (version if newest is None else newest)


class ServerBackend:
    """RolloutBackend over HTTP. Keeps the trainer's tokenizer for prompts and texts."""

    def __init__(self, model, tokenizer, rollout=None, settings: ServerSettings | None = None):
        self.tokenizer, self.eos = tokenizer, eos_ids(model, tokenizer)
        self.s = settings or ServerSettings.from_rollout(rollout)
        self.temperature = rollout.temperature if rollout is not None else 1.0   # the probe's temperature
        self.root = Path(self.s.weights_dir or tempfile.mkdtemp(prefix="reasonrl-weights-"))
        self.version = 0                  # the newest version the server confirmed loading
        self.newest = 0                   # the newest version asked for (a reload may be in flight)
        self._local = threading.local()   # per sampling thread: the accepted versions' floor, a seed generator
        self.probe_ids: tuple[list[int], list[int]] | None = None    # (prompt, completion) token ids
        self.probe_logp_diff: float | None = None                    # set by each sync once probe_ids exist
        self.model_name = self._served_model()
        self.sync_weights(model)          # the server starts from the trainer's weights, whatever it loaded

    def _call(self, path: str, body: dict | None = None) -> dict:
        return http_json(self.s.url + path, body, timeout_s=self.s.timeout_s, retries=self.s.retries,
                         api_key=self.s.api_key)

    def _served_model(self) -> str | None:
        """The first model of GET /v1/models (sent as `model`); also shows early that the server answers."""
        data = self._call("/v1/models").get("data") or []
        return data[0].get("id") if data and isinstance(data[0], dict) else None

    def sync_weights(self, model) -> None:
        """Publish the weights as version N+1 and make the server load and report them, then probe.
        Under torchrun rank 0 publishes (every rank holds the same weights) while the others wait; a
        failure on rank 0 is raised on every rank (no rank is left waiting)."""
        v, err = self.version + 1, None
        self.newest = v                               # before the reload: an async sampler may see v already
        if dist.is_main():
            try:
                self._publish(model, v)
            except RolloutServerError as e:
                err = e
        failed = dist.any_rank(err is not None)       # also the barrier: nobody samples before version v
        if err is not None:
            raise err
        if failed:
            raise RolloutServerError(f"rollout server {self.s.url}: rank 0 could not publish weights (see its log)")
        self.version = v
        if self.s.probe and self.probe_ids is not None and dist.is_main():
            self.probe_logp_diff = self.probe(model)

    def _publish(self, model, v: int) -> None:
        folder = self.root / f"v{v}"
        merged(model).save_pretrained(folder)     # LoRA: the server loads plain weights
        if self.s.kind != "reasonrl":             # SGLang/vLLM loaders read a whole HF folder
            self.tokenizer.save_pretrained(folder)
        path, body = reload_request(self.s.kind, str(folder), v)
        try:
            got = self._call(path, body)
        except RolloutServerError as e:
            hint = (" (vLLM serves /collective_rpc only with VLLM_SERVER_DEV_MODE=1)"
                    if self.s.kind == "vllm" and e.status == 404 else "")
            raise RolloutServerError(f"{e}{hint}", e.status) from None
        self._check_reload(got, v)
        shutil.rmtree(self.root / f"v{v - 1}", ignore_errors=True)

    def _check_reload(self, got: dict, v: int) -> None:
        """Raise unless the reload answer (and, for SGLang, /model_info) shows version v loaded."""
        url, want = self.s.url, expected_version(self.s.kind, v)
        if self.s.kind == "reasonrl" and got.get("weight_version") != want:
            raise RolloutServerError(f"rollout server {url}: reload answered version {got.get('weight_version')}, "
                                     f"expected {v}")
        if self.s.kind == "sglang":
            if got.get("success") is not True:
                raise RolloutServerError(f"rollout server {url}/update_weights_from_disk failed: "
                                         f"{got.get('message') or got}")
            info = self._model_info()
            if info.get("weight_version") is not None and str(info["weight_version"]) != want:
                raise RolloutServerError(f"rollout server {url}: after the reload it reports weight_version "
                                         f"{info['weight_version']!r}, expected {want!r}")

    def _model_info(self) -> dict:
        """SGLang's GET /model_info, or /get_model_info on servers that predate it."""
        try:
            return self._call("/model_info")
        except RolloutServerError as e:
            if e.status != 404:
                raise
        return self._call("/get_model_info")

    @torch.no_grad()
    def probe(self, model) -> float:
        """max |server logprob - trainer logprob| over the probe completion's tokens, at the rollout temperature."""
        prompt, comp = self.probe_ids
        ids = prompt + comp
        body = completion_body(self.s.kind, ids, model=self.model_name, n=1, seed=0, temperature=self.temperature,
                               top_p=1.0, top_k=0, max_tokens=0 if self.s.kind == "reasonrl" else 1, echo=True)
        got = self._call("/v1/completions", body)
        if not self._current(got):
            raise RolloutServerError(f"rollout server {self.s.url} scored the probe with weight version "
                                     f"{response_version(self.s.kind, got)}, the trainer published {self.version}")
        echoed, lps = parse_choice(got["choices"][0])
        if echoed[:len(ids)] != ids or any(x is None for x in lps[len(prompt):len(ids)]):
            raise RolloutServerError(f"rollout server {self.s.url}: the probe's echo does not repeat the "
                                     f"{len(ids)} token ids sent, with logprobs")
        server = torch.tensor(lps[len(prompt):len(ids)], dtype=torch.float32)                   # (T,)
        device = next(model.parameters()).device
        x = torch.tensor([ids], device=device)
        mine, _ = sequence_logprobs(model, x, torch.ones_like(x), len(prompt), self.temperature)  # (1, T)
        return (mine[0].float().cpu() - server).abs().max().item()

    def _current(self, got: dict, floor: int | None = None) -> bool:
        """True when the response may be used (`accepts`; floor None: synchronous)."""
        return accepts(self.s.kind, response_version(self.s.kind, got), self.version, floor, self.newest)

    @contextlib.contextmanager
    def accepting(self, floor: int, rng: torch.Generator | None = None):
        """In this context this thread's `generate` accepts any weight version in [floor, newest], stamps
        Generations.versions with the version each response named and seeds requests from `rng`
        (train.async_staleness >= 1: reasonrl.train.server_sampler)."""
        self._local.floor, self._local.rng = floor, rng
        try:
            yield self
        finally:
            self._local.floor = self._local.rng = None

    def _complete(self, ids: list[int], n: int, seed: int, floor: int | None = None, **kw) -> tuple[list, object]:
        """-> (the n choices' (token ids, logprobs), the weight version the response named)."""
        body = completion_body(self.s.kind, ids, model=self.model_name, n=n, seed=seed, **kw)
        for _ in range(self.s.retries):
            got = self._call("/v1/completions", body)
            if self._current(got, floor):
                choices = sorted(got["choices"], key=lambda c: c["index"])
                return [parse_choice(c) for c in choices], response_version(self.s.kind, got)
            time.sleep(0.2)                   # a reload still in flight; ask again
        want = (f"the trainer published {self.version}" if floor is None else
                f"train.async_staleness accepts {floor}..{self.newest}, and needs a server that names its version")
        raise RolloutServerError(f"rollout server {self.s.url} sampled with weight version "
                                 f"{response_version(self.s.kind, got)}, {want}")

    @torch.no_grad()
    def generate(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int = 0, max_new_tokens: int = 64, greedy: bool = False) -> Generations:
        """Row i*n + j is sample j of prompt i (as HFBackend). Seeds come from torch's RNG (or `accepting`'s)."""
        ids, mask = encode_prompts(self.tokenizer, prompts, "cpu")
        rows = [r[m.bool()].tolist() for r, m in zip(ids, mask)]
        floor, rng = getattr(self._local, "floor", None), getattr(self._local, "rng", None)
        seeds = torch.randint(0, 2 ** 31 - 1, (len(rows),), generator=rng).tolist()
        kw = dict(max_tokens=max_new_tokens, temperature=0.0 if greedy else temperature, top_p=top_p, top_k=top_k)
        with ThreadPoolExecutor(max_workers=min(16, len(rows))) as pool:
            outs = list(pool.map(lambda a: self._complete(a[0], n, a[1], floor, **kw), zip(rows, seeds)))
        flat = [c for o, _ in outs for c in o]
        versions = None if floor is None else torch.tensor([int(v) for o, v in outs for _ in o], dtype=torch.long)
        t = max(1, max(len(c[0]) for c in flat))
        pad = self.tokenizer.pad_token_id
        comp = torch.full((len(flat), t), pad, dtype=torch.long)
        logp = torch.zeros((len(flat), t))
        for i, (toks, lps) in enumerate(flat):
            comp[i, :len(toks)], logp[i, :len(lps)] = torch.tensor(toks, dtype=torch.long), torch.tensor(lps)
        cmask, truncated = completion_mask(comp, self.eos)
        comp = torch.where(cmask.bool(), comp, torch.full_like(comp, pad))
        if self.probe_ids is None and int(cmask[0].sum()) > 0:       # the probe: the first rollout's first completion
            self.probe_ids = (rows[0], comp[0][cmask[0].bool()].tolist())
        texts = [self.tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True) for r, m in zip(comp, cmask)]
        return Generations(prompt_ids=ids.repeat_interleave(n, 0), prompt_mask=mask.repeat_interleave(n, 0),
                           completion_ids=comp, completion_mask=cmask, truncated=truncated, texts=texts,
                           sampler_logp=logp * cmask, temperature=temperature, versions=versions)
