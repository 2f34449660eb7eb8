"""Asynchronous RL through a rollout server (train.async_staleness = k >= 1, rollout.backend=server):
a sampling thread in the trainer process asks the server for the coming steps' groups while the
trainer updates; the server's reload call (ServerBackend.sync_weights, after every update) publishes.

    trainer (main thread)                          sampling thread (this process)
    take batch s  <-- queue ----------------------   for s = first..steps:
    advantages, update                                 wait until the server confirmed version >= floor(s)
    sync_weights: reload call, version N+1 ------>     sample + verify step s (ServerBackend.generate),
                  (every rank waits for rank 0)          accepting any server version in [floor(s), newest]
                                                       stamp each row with the version the server named

Server versions count reload calls (the first, when the backend is built, loads the starting weights),
so server version = policy version + base, base = the server's version when the sampler starts minus the
trainer's resumed step. floor(s) = (s - 1 - k) + base; rows are stamped with policy versions (the server's
minus base), so staleness is measured and bounded exactly as with the rollout worker process
(reasonrl.train.worker.staleness_metrics).

A thread is enough: the server generates, the thread waits on HTTP (the GIL is released). It never runs
a collective (collect.sample has none; sync_weights and the advantages stay on the main thread), so it is
safe under torchrun: every rank's thread samples its share, rank 0's reload publishes for all. The probe
after each sync runs on the main thread beside the sampler's requests: only the main thread reloads, so
the server scores it with the version just published.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
import traceback

import torch

from reasonrl.errors import UserError
from reasonrl.tasks.curriculum import CurriculumTask
from reasonrl.train.collect import sample, sampling_seed
from reasonrl.train.worker import POLL_S, sampler_task, staleness_metrics


def shift_versions(batch, first, base: int):
    """Server versions -> policy versions (minus `base`) in a step's batch and its first draw."""
    def shift(b):
        return dataclasses.replace(b, gen=dataclasses.replace(b.gen, versions=b.gen.versions - base))
    shifted = shift(batch)
    return shifted, shifted if first is batch else shift(first)


class ServerSampler:
    """The trainer's side: `take(step)` returns that step's sampled batch (waiting at most
    train.stall_min_s, twice that for the first); `publish` is a no-op (the loop's sync_weights is the
    publication). A context: the thread starts on entry and is told to stop at exit."""

    def __init__(self, cfg, rank: int, world: int, backend, start: int):
        self.cfg, self.rank, self.backend, self.k = cfg, rank, backend, cfg.train.async_staleness
        self.base = backend.version - start          # server version of the weights after step `start`
        self.task, self.render, self.reward_fn = sampler_task(cfg, rank, world)
        self.deadline_s, self.ready, self.delivered, self.produced = cfg.train.stall_min_s, {}, False, start
        self.out: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(start + 1,), daemon=True,
                                       name=f"reasonrl-server-sampler-{rank}")

    def __enter__(self) -> "ServerSampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self.stop.set()                  # a request in flight ends within the server's own timeout
        self.thread.join(timeout=1)
        return False

    def _run(self, first: int) -> None:
        cfg, backend, step = self.cfg, self.backend, first
        try:
            for step in range(first, cfg.train.steps + 1):
                t0, floor = time.monotonic(), step - 1 - self.k + self.base
                while backend.version < floor:                 # staleness bound: wait for newer weights
                    if self.stop.is_set():
                        return
                    time.sleep(POLL_S)
                idle = time.monotonic() - t0
                if isinstance(self.task, CurriculumTask):
                    self.task.begin_step(step)
                rng = torch.Generator().manual_seed(sampling_seed(cfg.seed, step, self.rank))
                with backend.accepting(floor, rng):
                    batch, drawn, m = sample(step, cfg, self.task, backend, self.reward_fn, self.render)
                batch, drawn = shift_versions(batch, drawn, self.base)
                m["async/worker_idle_s"] = idle
                self.out.put(("batch", step, batch, drawn, m))
                self.produced = step
                if self.stop.is_set():
                    return
        except BaseException as e:      # noqa: BLE001  raised in the trainer by take()
            self.out.put(("error", step, e, traceback.format_exc()))

    def take(self, step: int) -> tuple[object, object, dict]:
        """The thread's (batch, first draw, metrics) for `step`, with the async/ metrics added."""
        t0, depth = time.monotonic(), max(0, self.produced - (step - 1))
        limit = self.deadline_s * (1 if self.delivered else 2)
        while step not in self.ready:
            try:
                msg = self.out.get(timeout=0.05)
            except queue.Empty:
                if not self.thread.is_alive():
                    raise RuntimeError(f"rollout server sampler ended before step {step}") from None
                if time.monotonic() - t0 > limit:
                    raise RuntimeError(f"rollout server {self.backend.s.url}: no batch for step {step} within "
                                       f"{limit:.0f}s (train.stall_min_s)") from None
                continue
            if msg[0] == "error":
                if isinstance(msg[2], UserError):          # a server that is gone or refuses: its own message
                    raise msg[2]
                raise RuntimeError(f"rollout server sampler failed at step {msg[1]}:\n{msg[3]}")
            self.ready[msg[1]], self.delivered = msg[2:], True
        batch, first, m = self.ready.pop(step)
        m.update(staleness_metrics(batch.gen.versions, step, self.k))
        m.update({"async/trainer_idle_s": time.monotonic() - t0, "async/queue_depth": depth,
                  "async/worker_restarts": 0})
        return batch, first, m

    def publish(self, model, version: int) -> None:
        """Nothing to do: ServerBackend.sync_weights (called by the loop on every rank) published `version`."""
