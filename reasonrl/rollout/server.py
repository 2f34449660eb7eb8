"""Rollout-server backend: generation through an OpenAI-compatible `/v1/completions` endpoint that
returns per-token logprobs (`reasonrl serve`; vLLM with `return_tokens_as_token_ids`), on this or
another machine, with the policy's weights published after every update.

    sync_weights(model): save_pretrained -> {weights_dir}/v{N}/ (safetensors), then
                         POST {url}/v1/reload_weights {"path": ..., "weight_version": N}
    generate(prompts):   one request per prompt (n = G, token-id prompts, concurrent), every response's
                         `weight_version` must be N; the sampler's logprobs land in Generations.sampler_logp
                         (for algo.tis)

Settings come from the environment (the trainer's config has no rollout.server section yet):
  REASONRL_SERVER_URL      http://127.0.0.1:8000   the server's base URL
  REASONRL_SERVER_WEIGHTS  (a temp folder)          a folder both trainer and server can read
  REASONRL_SERVER_TIMEOUT  120                     seconds per HTTP call
  REASONRL_SERVER_RETRIES  3                       tries per call (connection errors, 5xx, 429, stale version)
  REASONRL_SERVER_API_KEY  (none)                  sent as "Authorization: Bearer ..."
A server that does not answer after the retries is a RolloutServerError naming the URL, never a hang.

CPU:  reasonrl serve reasonrl/assets/tiny-walk --port 8011 &
      REASONRL_SERVER_URL=http://127.0.0.1:8011 reasonrl train rollout.backend=server
GPUs: the same with the server on its own GPU(s); the weights folder must be on a shared filesystem.
Departure: SGLang's `update_weights_from_disk` and vLLM's reload call are not wired (only ours).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from reasonrl import dist
from reasonrl.algo.logprobs import completion_mask
from reasonrl.errors import UserError
from reasonrl.lora import merged
from reasonrl.models import eos_ids
from reasonrl.rollout.hf import encode_prompts
from reasonrl.types import Generations


class RolloutServerError(UserError):
    """The rollout server is unreachable, refuses a call, or answers with the wrong weights."""


@dataclass(frozen=True)
class ServerSettings:
    url: str = "http://127.0.0.1:8000"
    weights_dir: str = ""
    timeout_s: float = 120.0
    retries: int = 3
    api_key: str = ""

    @classmethod
    def from_env(cls) -> "ServerSettings":
        e = os.environ.get
        return cls(url=e("REASONRL_SERVER_URL", cls.url).rstrip("/"), weights_dir=e("REASONRL_SERVER_WEIGHTS", ""),
                   timeout_s=float(e("REASONRL_SERVER_TIMEOUT", cls.timeout_s)),
                   retries=max(1, int(e("REASONRL_SERVER_RETRIES", cls.retries))),
                   api_key=e("REASONRL_SERVER_API_KEY", ""))


def post_json(url: str, body: dict, *, timeout_s: float, retries: int, api_key: str = "") -> dict:
    """POST with retries on connection errors, timeouts, 429 and 5xx (backoff 0.5 s, 1 s, 2 s, ...);
    a 4xx other than 429 fails at once. Raises RolloutServerError naming the URL."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    why = ""
    for attempt in range(retries):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        try:
            req = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            why = f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"
            if e.code != 429 and e.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            why = str(getattr(e, "reason", e)) or type(e).__name__
    raise RolloutServerError(f"rollout server {url}: {why} (after {attempt + 1} tries; is `reasonrl serve` "
                             f"running there? REASONRL_SERVER_URL sets the address)")


def parse_choice(choice: dict) -> tuple[list[int], list[float]]:
    """Token ids and logprobs of one /v1/completions choice (tokens given as "token_id:N")."""
    lp = choice.get("logprobs") or {}
    toks, lps = lp.get("tokens"), lp.get("token_logprobs")
    if toks is None or lps is None or len(toks) != len(lps):
        raise RolloutServerError("rollout server answered without per-token logprobs (needs logprobs and "
                                 "return_tokens_as_token_ids)")
    return [int(str(t).split("token_id:")[-1]) for t in toks], [float(x) for x in lps]


class ServerBackend:
    """RolloutBackend over HTTP. Keeps the trainer's tokenizer for prompts and texts."""

    def __init__(self, model, tokenizer, settings: ServerSettings | None = None):
        self.tokenizer, self.eos = tokenizer, eos_ids(model, tokenizer)
        self.s = settings or ServerSettings.from_env()
        self.root = Path(self.s.weights_dir or tempfile.mkdtemp(prefix="reasonrl-weights-"))
        self.version = 0
        self.sync_weights(model)          # the server starts from the trainer's weights, whatever it loaded

    def _post(self, path: str, body: dict) -> dict:
        return post_json(self.s.url + path, body, timeout_s=self.s.timeout_s, retries=self.s.retries,
                         api_key=self.s.api_key)

    def sync_weights(self, model) -> None:
        """Publish the weights as version N+1 (safetensors in weights_dir/vN) and make the server load them.
        Under torchrun rank 0 publishes (every rank holds the same weights) while the others wait."""
        v = self.version + 1
        if dist.is_main():
            folder = self.root / f"v{v}"
            merged(model).save_pretrained(folder)     # LoRA: the server loads plain weights
            got = self._post("/v1/reload_weights", {"path": str(folder), "weight_version": v})
            if got.get("weight_version") != v:
                raise RolloutServerError(f"rollout server {self.s.url}: reload answered version "
                                         f"{got.get('weight_version')}, expected {v}")
            shutil.rmtree(self.root / f"v{v - 1}", ignore_errors=True)
        dist.all_reduce([0.0])            # a barrier: nobody samples before the server has version v
        self.version = v

    def _complete(self, ids: list[int], n: int, seed: int, **kw) -> list[tuple[list[int], list[float]]]:
        body = {"prompt": ids, "n": n, "seed": seed, "logprobs": 0, "return_tokens_as_token_ids": True, **kw}
        for _ in range(self.s.retries):
            got = self._post("/v1/completions", body)
            if got.get("weight_version") == self.version:
                return [parse_choice(c) for c in sorted(got["choices"], key=lambda c: c["index"])]
            time.sleep(0.2)                   # a reload still in flight; ask again
        raise RolloutServerError(f"rollout server {self.s.url} sampled with weight version "
                                 f"{got.get('weight_version')}, the trainer published {self.version}")

    @torch.no_grad()
    def generate(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int = 0, max_new_tokens: int = 64, greedy: bool = False) -> Generations:
        """Row i*n + j is sample j of prompt i (as HFBackend). Seeds come from torch's RNG."""
        ids, mask = encode_prompts(self.tokenizer, prompts, "cpu")
        rows = [r[m.bool()].tolist() for r, m in zip(ids, mask)]
        seeds = torch.randint(0, 2 ** 31 - 1, (len(rows),)).tolist()
        kw = dict(max_tokens=max_new_tokens, temperature=0.0 if greedy else temperature, top_p=top_p, top_k=top_k)
        with ThreadPoolExecutor(max_workers=min(16, len(rows))) as pool:
            outs = list(pool.map(lambda a: self._complete(a[0], n, a[1], **kw), zip(rows, seeds)))
        flat = [c for o in outs for c in o]
        t = max(1, max(len(c[0]) for c in flat))
        pad = self.tokenizer.pad_token_id
        comp = torch.full((len(flat), t), pad, dtype=torch.long)
        logp = torch.zeros((len(flat), t))
        for i, (toks, lps) in enumerate(flat):
            comp[i, :len(toks)], logp[i, :len(lps)] = torch.tensor(toks, dtype=torch.long), torch.tensor(lps)
        cmask, truncated = completion_mask(comp, self.eos)
        comp = torch.where(cmask.bool(), comp, torch.full_like(comp, pad))
        texts = [self.tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True) for r, m in zip(comp, cmask)]
        return Generations(prompt_ids=ids.repeat_interleave(n, 0), prompt_mask=mask.repeat_interleave(n, 0),
                           completion_ids=comp, completion_mask=cmask, truncated=truncated, texts=texts,
                           sampler_logp=logp * cmask)
