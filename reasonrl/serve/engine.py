"""The generation queue: one worker thread owns the model; requests from any thread are queued and
run in batches (all requests waiting when a batch starts, up to `max_batch` completions), each row
with its own sampling parameters, stop strings and token budget. Text is pushed to each request's
`sink` as soon as it is decoded, so streaming and batching go together.

Departure from big engines (vLLM, SGLang): batches are static — a request that arrives while a batch
runs waits for the next one (no continuous batching, no paged cache). Weight reloads go through the
same queue, so they happen between batches, never in the middle of a generation.
"""
from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import torch

from reasonrl.algo.logprobs import position_ids_from_mask
from reasonrl.models import eos_ids
from reasonrl.serve.sampling import IncrementalDecoder, sample_next
from reasonrl.serve.split import StopMatcher
from reasonrl.serve.weights import apply_weights, read_weights


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0          # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0                    # 0 = off
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None           # choice j draws from its own generator seeded (seed, j)


@dataclass(frozen=True)
class Event:
    kind: str                         # "text" | "token" | "finish" | "error"
    index: int = 0                    # choice index within the request
    text: str = ""                    # "text": new completion text; "error": the message
    reason: str = ""                  # "finish": stop | length | cancelled
    tokens: int = 0                   # "finish": tokens sampled for this choice (EOS included)
    token: int = -1                   # "token": the sampled id (jobs with want_tokens, before its text)
    logprob: float = 0.0              # "token": log softmax(logits / temperature)[token], unfiltered


class QueueFull(RuntimeError):
    """More completions are waiting than the server accepts."""


class Job:
    """One request: `n` completions of one prompt. `sink(event)` is called from the worker thread."""

    def __init__(self, prompt_ids: list[int], n: int, params: SamplingParams, sink: Callable[[Event], None]):
        self.prompt_ids, self.n, self.params, self.sink = list(prompt_ids), n, params, sink
        self.cancelled = False
        self.weight_version: int | None = None     # set when its batch starts
        self.want_tokens = False                   # also emit a "token" event per sampled token (/v1/completions)
        self.started = False                       # an event was sent (a failed batch cannot rerun it)

    def cancel(self) -> None:
        self.cancelled = True

    def emit(self, event: Event) -> None:
        self.started = True
        try:
            self.sink(event)
        except Exception:                          # a vanished consumer must not stop the worker
            self.cancelled = True


class _Row:
    """Decoding state of one completion inside a batch."""

    def __init__(self, job: Job, index: int, tokenizer):
        self.job, self.index = job, index
        self.decoder = IncrementalDecoder(tokenizer)
        self.stopper = StopMatcher(job.params.stop)
        self.tokens = 0
        self.done = False
        seed = job.params.seed
        self.gen = None if seed is None else torch.Generator().manual_seed((seed * 1_000_003 + index) % (1 << 63))

    def finish(self, reason: str) -> None:
        tail = self.stopper.flush()
        if tail:
            self.job.emit(Event("text", self.index, text=tail))
        self.job.emit(Event("finish", self.index, reason=reason, tokens=self.tokens))
        self.done = True

    def take(self, token: int, eos: set[int], logprob: float = 0.0) -> None:
        """Account one sampled token: emit its text, or finish on EOS / stop string / budget."""
        self.tokens += 1
        if self.job.cancelled:
            self.done = True
            return
        if self.job.want_tokens:
            self.job.emit(Event("token", self.index, token=token, logprob=logprob))
        if token in eos:
            return self.finish("stop")
        out, stopped = self.stopper.feed(self.decoder.push(token))
        if out:
            self.job.emit(Event("text", self.index, text=out))
        if stopped:
            return self.finish("stop")
        if self.tokens >= self.job.params.max_tokens:
            return self.finish("length")


def check_job(prompt_ids: list[int], params: SamplingParams, vocab_size: int) -> None:
    """ValueError unless a request can join a batch without failing it: token ids inside the vocabulary,
    finite sampling parameters inside their ranges (the HTTP layer checks first; this is the engine's
    own guard for direct callers)."""
    if not prompt_ids:
        raise ValueError("empty prompt")
    if any(not isinstance(t, int) or not 0 <= t < vocab_size for t in prompt_ids):
        raise ValueError(f"a prompt token id is outside the vocabulary (0..{vocab_size - 1})")
    p = params
    if not (0 <= p.temperature < float("inf") and 0 < p.top_p <= 1 and 0 <= p.top_k < 1 << 62 and p.max_tokens >= 0):
        raise ValueError(f"sampling parameters out of range: {p}")


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


class Engine:
    """Queue + worker thread around one causal LM. `submit` from any thread; `start()` first."""

    def __init__(self, model, tokenizer, *, max_batch: int = 32, max_queue: int = 1024, weight_version: int = 0):
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.max_queue = max_batch, max_queue
        self.weight_version = weight_version
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.vocab_size = model.get_input_embeddings().num_embeddings   # valid token ids: 0 .. vocab_size - 1
        self.eos = set(eos_ids(model, tokenizer))
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos)
        self.stats = {"batches": 0, "completions": 0, "largest_batch": 0}
        # transformers 5 renamed the forward argument `past_key_values` to `cache`
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._pending: deque = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="reasonrl-engine", daemon=True)

    # ---- public API (any thread) ----
    def start(self) -> "Engine":
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def queued(self) -> int:
        with self._cv:
            return sum(j.n for j in self._pending if isinstance(j, Job))

    def submit(self, prompt_ids: list[int], n: int, params: SamplingParams, sink: Callable[[Event], None],
               want_tokens: bool = False) -> Job:
        if n > self.max_batch:
            raise QueueFull(f"n={n} exceeds the server's batch size {self.max_batch}")
        check_job(prompt_ids, params, self.vocab_size)
        job = Job(prompt_ids, n, params, sink)
        job.want_tokens = want_tokens
        with self._cv:
            waiting = sum(j.n for j in self._pending if isinstance(j, Job))
            if self._closed or waiting + n > self.max_queue:
                raise QueueFull(f"{waiting} completions already queued (limit {self.max_queue})")
            self._pending.append(job)
            self._cv.notify()
        return job

    def reload_future(self, path: str, version: int | None = None) -> Future:
        """Queue a weight reload; the future resolves to {'weight_version', 'tensors', 'seconds', 'path'}."""
        fut: Future = Future()
        with self._cv:
            self._pending.append(("reload", path, version, fut))
            self._cv.notify()
        return fut

    def score_future(self, ids: list[int], temperature: float = 1.0) -> Future:
        """Queue scoring of a token sequence (between batches, like a reload); the future resolves to
        (logprobs: len(ids) - 1 floats, log softmax(logits / temperature) of ids[1:], unfiltered;
        weight_version that scored them). temperature 0 scores at 1, as sampled-token logprobs do."""
        fut: Future = Future()
        with self._cv:
            self._pending.append(("score", list(ids), temperature, fut))
            self._cv.notify()
        return fut

    def reload(self, path: str, version: int | None = None, timeout: float | None = None) -> dict:
        return self.reload_future(path, version).result(timeout)

    # ---- worker ----
    def _take(self) -> list | tuple | None:
        """Next unit of work: a ("reload" | "score", ...) tuple, or a list of jobs of at most max_batch rows."""
        with self._cv:
            while not self._pending and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            if not isinstance(self._pending[0], Job):
                return self._pending.popleft()
            jobs, rows = [], 0
            while self._pending and isinstance(self._pending[0], Job) and rows + self._pending[0].n <= self.max_batch:
                job = self._pending.popleft()
                rows += job.n
                if not job.cancelled:
                    jobs.append(job)
            return jobs

    def _run(self) -> None:
        while True:
            work = self._take()
            if work is None:
                return
            if isinstance(work, tuple):
                getattr(self, f"_do_{work[0]}")(*work[1:])
            elif work:
                self._do_batch(work)

    def _do_reload(self, path: str, version: int | None, fut: Future) -> None:
        t0 = time.perf_counter()
        try:
            count = apply_weights(self.model, read_weights(path))
            self.weight_version = self.weight_version + 1 if version is None else int(version)
            fut.set_result({"weight_version": self.weight_version, "tensors": count, "path": str(path),
                            "seconds": round(time.perf_counter() - t0, 4)})
        except Exception as e:
            fut.set_exception(e)

    def _do_score(self, ids: list[int], temperature: float, fut: Future) -> None:
        try:
            x = torch.tensor([ids], device=next(self.model.parameters()).device)     # (1, L)
            with torch.inference_mode():
                logits = self.model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits[0, :-1]
            t = temperature if temperature > 0 else 1.0
            lp = (logits.float() / t).log_softmax(-1).gather(1, x[0, 1:, None]).squeeze(1)   # (L - 1,)
            fut.set_result((lp.tolist(), self.weight_version))
        except Exception as e:
            fut.set_exception(e)

    def _do_batch(self, jobs: list[Job]) -> None:
        rows = [_Row(job, i, self.tokenizer) for job in jobs for i in range(job.n)]
        for job in jobs:
            job.weight_version = self.weight_version
        self.stats["batches"] += 1
        self.stats["completions"] += len(rows)
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(rows))
        try:
            with torch.inference_mode():
                self._decode(rows)
        except Exception as e:
            self._isolate(jobs, e)

    def _isolate(self, jobs: list[Job], e: Exception) -> None:
        """A batch failed: the requests that have received nothing yet are run again one by one, so only
        the one that fails alone gets the error; those already streaming are told (their text cannot
        be taken back). One request alone: it gets the error."""
        if len(jobs) == 1:
            jobs[0].emit(Event("error", text=f"generation failed: {type(e).__name__}: {e}"))
            return
        for job in jobs:
            if job.started:
                job.emit(Event("error", text=f"generation failed in its batch: {type(e).__name__}: {e}"))
            elif not job.cancelled:
                self._do_batch([job])

    def _decode(self, rows: list[_Row]) -> None:
        """Prefill the left-padded prompts, then sample one token per row per step until all are done."""
        device = next(self.model.parameters()).device
        width = max(len(r.job.prompt_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r.job.prompt_ids):] = torch.tensor(r.job.prompt_ids)
            mask[i, width - len(r.job.prompt_ids):] = 1
        ids, mask = ids.to(device), mask.to(device)
        pos = position_ids_from_mask(mask)
        p = [r.job.params for r in rows]
        temp = torch.tensor([x.temperature for x in p], device=device)
        top_p = torch.tensor([x.top_p for x in p], device=device)
        top_k = torch.tensor([x.top_k if x.top_k < self.vocab_size else 0 for x in p], dtype=torch.long, device=device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        past, logits, last_pos = _cache_of(out), out.logits[:, -1], pos[:, -1]
        for _step in range(max(x.max_tokens for x in p)):
            u = torch.stack([torch.rand((), generator=r.gen) for r in rows]).to(device)
            nxt = sample_next(logits, temp, top_p, top_k, u)
            lps = [0.0] * len(rows)
            if any(r.job.want_tokens for r in rows):   # what a trainer computes: no top-p/top-k filter
                t = torch.where(temp > 0, temp, torch.ones_like(temp))[:, None]
                lps = (logits.float() / t).log_softmax(-1).gather(1, nxt[:, None]).squeeze(1).tolist()
            for r, tok, lp in zip(rows, nxt.tolist(), lps):
                if not r.done:
                    r.take(tok, self.eos, lp)
            if all(r.done for r in rows):
                return
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            last_pos = last_pos + 1
            out = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last_pos[:, None],
                             use_cache=True, **{self._cache_arg: past})
            past, logits = _cache_of(out), out.logits[:, -1]
