"""Asynchronous RL (train.async_staleness = k >= 1): a rollout worker process samples and verifies
the groups of the coming steps while the trainer updates on the oldest ready batch.

    trainer (this process)                      rollout worker (a spawned process, rollout.threads)
    take batch s  <-- pipe (pickled batches) --  for s = first..steps:
    advantages, update, publish version s ---->    wait until published version >= s - 1 - k
                 (shared memory, reasonrl.train.publish)   copy the newest weights (version v)
                                                   sample + verify step s (seed, s, rank), stamp v

Version v = the trainer steps applied to the weights; batch s trained at version s - 1 has staleness
(s - 1) - v, at most k by construction (and checked). k = 0 never starts a worker: the synchronous
loop. The worker samples with the fast backend (it returns the behaviour logprobs Generations.
sampler_logp that algo.tis corrects against); the trainer computes the advantages (a collective
under torchrun) and evaluates. Under torchrun every rank runs its own worker for its own share.
With rollout.backend=server the server generates: a thread feeds it instead (reasonrl.train.server_sampler).

Faults: a worker that exits or is killed is restarted from the step the trainer waits for (at most
MAX_RESTARTS times a run); a worker that sends no batch within train.stall_min_s (2x for the first,
which loads the model) is killed and restarted; a sampling error in the worker (a bad verifier,
blown-up weights) is raised in the trainer as a RuntimeError. A worker whose trainer died exits on
its own (it polls its parent), so a killed trainer leaves no sampler behind.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import queue
import signal
import threading
import time
import traceback

import torch

from reasonrl.tasks.curriculum import CurriculumTask
from reasonrl.train.collect import sample, sampling_seed
from reasonrl.train.publish import SharedWeights, published_tensors

MAX_RESTARTS = 3
POLL_S = 0.005


def split_threads(train_threads: int, rollout_threads: int, procs: int = 1,
                  cores: int | None = None) -> tuple[int, int]:
    """(trainer, worker) CPU threads per process: the set values, else an even split of this process's
    share of the machine (cores / procs, procs = processes of a torchrun launch on this node)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cores // max(1, procs))
    worker = rollout_threads or max(1, share // 2)
    return train_threads or max(1, share - worker), worker


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs besides the shared objects (picklable)."""
    cfg: object                # the per-rank Config (train.prompts_per_step = this rank's share)
    rank: int
    world: int
    threads: int
    first_step: int
    parent_pid: int
    incarnation: int = 0       # restarts before this one
    delay_s: float = 0.0       # test hooks (reasonrl.train.hooks): sleep before sampling each step
    hang_step: int = 0         # ... the first incarnation never finishes this step


def stamp(batch, first, version: int):
    """Tag every row of a step's batch (and of its first draw) with the version that sampled it."""
    def tag(b):
        v = torch.full((b.gen.completion_ids.shape[0],), version, dtype=torch.long)
        return dataclasses.replace(b, gen=dataclasses.replace(b.gen, versions=v))
    tagged = tag(batch)
    return tagged, tagged if first is batch else tag(first)


def _orphaned(spec: WorkerSpec) -> bool:
    return os.getppid() != spec.parent_pid


def _worker_main(spec: WorkerSpec, weights: SharedWeights, conn, state) -> None:
    """The worker process: build the sampler, then produce steps first_step..train.steps in order.
    state: shared (2,) int64 [last step sent, stop flag set by the trainer]."""
    out: queue.Queue = queue.Queue()

    def send():                     # a thread, so sampling never waits for the trainer to read
        while (item := out.get()) is not None:
            try:
                conn.send_bytes(item)
            except OSError:         # the trainer is gone
                return
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    step = spec.first_step
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):     # the trainer stops the worker (Ctrl-C reaches both)
            signal.signal(sig, signal.SIG_IGN)
        torch.set_num_threads(spec.threads)
        backend, task, render, reward_fn, targets = _build_sampler(spec, weights)
        cfg, k, version = spec.cfg, spec.cfg.train.async_staleness, -1
        for step in range(spec.first_step, cfg.train.steps + 1):
            t0 = time.monotonic()
            while weights.version() < step - 1 - k:          # staleness bound: wait for newer weights
                if state[1] or _orphaned(spec):
                    return
                time.sleep(POLL_S)
            idle = time.monotonic() - t0
            while spec.hang_step == step and spec.incarnation == 0 and not _orphaned(spec):
                time.sleep(0.1)                               # test hook: a hung worker
            time.sleep(spec.delay_s)
            if weights.version() != version:                  # copy only what changed since the last step
                version = weights.read_into(targets)
            torch.manual_seed(sampling_seed(cfg.seed, step, spec.rank))
            if isinstance(task, CurriculumTask):              # task.curriculum none | steps: pure in the step
                task.begin_step(step)
            batch, first, m = sample(step, cfg, task, backend, reward_fn, render)
            batch, first = stamp(batch, first, version)
            m["async/worker_idle_s"] = idle
            out.put(pickle.dumps(("batch", step, batch, first, m)))
            state[0] = step
            if state[1] or _orphaned(spec):
                return
    except BaseException:           # noqa: BLE001  the trainer raises it with the worker's traceback
        out.put(pickle.dumps(("error", step, traceback.format_exc())))
    finally:
        out.put(None)
        sender.join(timeout=0 if state[1] else 60)    # stopped: what the trainer will not read is dropped


def sampler_task(cfg, rank: int, world: int):
    """A sampler's own (task share of this rank, template, reward function): its curriculum state and
    verifier pools are its own, not the trainer's."""
    from reasonrl import dist
    from reasonrl.train.rl import _task_and_template
    from reasonrl.verifiers.compose import RewardFn

    task, render = _task_and_template(cfg, log=lambda *a, **k: None)
    task = dist.ShardedTask(task, rank, world) if world > 1 else task
    return task, render, RewardFn(cfg.reward.functions, cfg.reward.weights, settings=cfg.verify)


def _build_sampler(spec: WorkerSpec, weights: SharedWeights):
    """The worker's model (the base from model.path, LoRA-wrapped when set; its trained tensors are
    copied from `weights` before each step), fast backend, task share, template and rewards."""
    from reasonrl import dist
    from reasonrl.models import load_model
    from reasonrl.rollout import make_backend
    from reasonrl.scale import lora

    cfg, m = spec.cfg, spec.cfg.model
    task, render, reward_fn = sampler_task(cfg, spec.rank, spec.world)
    model, tok = load_model(m.path, m.dtype, dist.rank_device(m.device), m.attn_implementation)
    if m.lora_r:                   # the base once from model.path; the adapters come from the trainer
        model = lora.wrap(model, m, seed=cfg.seed)
    model.requires_grad_(False).eval()
    params = dict(model.named_parameters())
    missing = [n for n in weights.tensors if n not in params]
    if missing:
        raise RuntimeError(f"rollout worker: the published tensor {missing[0]} is not in its model")
    targets = {n: params[n] for n in weights.tensors}
    return make_backend("fast", model, tok, cfg.rollout), task, render, reward_fn, targets


def local_procs() -> int:
    """Processes of this launch on this machine (torchrun's LOCAL_WORLD_SIZE; 1 without torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def trainer_threads(cfg) -> int:
    """The trainer's torch threads: train.threads, or with train.async_staleness >= 1 and train.threads=0
    its share of the split with the worker (0 = auto without async, reasonrl.models.torch_threads)."""
    if not cfg.train.async_staleness or cfg.rollout.backend == "server":   # server: it generates elsewhere
        return cfg.train.threads
    return split_threads(cfg.train.threads, cfg.rollout.threads, local_procs())[0]


def sampler_for(r):
    """The rollout worker of this rank for the loop's Run `r` when train.async_staleness >= 1 (a context
    that stops it at exit; with rollout.backend=server a ServerSampler thread), else an empty context."""
    cfg = r.cfg
    if not cfg.train.async_staleness:
        return contextlib.nullcontext()
    if cfg.algo.tis == "none":
        r.log("warning: train.async_staleness >= 1 with algo.tis=none: samples up to k steps stale are trained "
              "on without off-policy correction (docs/async.md)")
    if cfg.rollout.backend == "server":          # the server samples; a thread here feeds it (server_sampler)
        from reasonrl.train.server_sampler import ServerSampler

        r.log(f"async: a sampling thread per process through the rollout server {cfg.rollout.server_url}, "
              f"staleness <= {cfg.train.async_staleness} steps, correction algo.tis={cfg.algo.tis}")
        return ServerSampler(r.local_cfg, r.rank, r.world, r.backend, r.start)
    trainer, worker = split_threads(cfg.train.threads, cfg.rollout.threads, local_procs())
    r.log(f"async: one rollout worker per process (rollout.backend=fast), staleness <= {cfg.train.async_staleness} "
          f"steps, threads: trainer {trainer}, worker {worker}, correction algo.tis={cfg.algo.tis}")
    return AsyncSampler(r.local_cfg, r.rank, r.world, r.model, r.start, worker, r.hooks, r.log)


ACTIVE: list["AsyncSampler"] = []     # the samplers of this process (fault-injection tests kill their worker)


class AsyncSampler:
    """The trainer's side: owns the shared weights and the worker process; `take(step)` returns that
    step's sampled batch (waiting, with a deadline), `publish(model, version)` hands new weights over."""

    def __init__(self, cfg, rank: int, world: int, model, start: int, threads: int, hooks, log):
        self.cfg, self.rank, self.world, self.threads, self.log = cfg, rank, world, threads, log
        self.hooks, self.k = hooks, cfg.train.async_staleness
        self.weights = SharedWeights(published_tensors(model), version=start)
        self.restarts, self.ready, self.proc, self.conn = 0, {}, None, None
        self.deadline_s = cfg.train.stall_min_s
        self._ctx = torch.multiprocessing.get_context("spawn")
        self._spawn(start + 1)

    def __enter__(self) -> "AsyncSampler":
        ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> bool:
        ACTIVE.remove(self)
        self._stop_worker()
        return False

    def _spawn(self, first: int) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        self.state = torch.tensor([first - 1, 0], dtype=torch.int64).share_memory_()   # [last sent, stop]
        spec = WorkerSpec(self.cfg, self.rank, self.world, self.threads, first, os.getpid(), self.restarts,
                          self.hooks.worker_delay_s, self.hooks.worker_hang_step)
        self.proc = self._ctx.Process(target=_worker_main, args=(spec, self.weights, writer, self.state),
                                      name=f"reasonrl-rollout-{self.rank}", daemon=False)  # verifiers start children
        self.proc.start()
        writer.close()                  # only the worker writes: its death reads as end-of-file here
        self.conn, self.ready, self.started, self.delivered = reader, {}, time.monotonic(), False

    def _stop_worker(self) -> None:
        if self.proc is None:
            return
        self.state[1] = 1
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=10)
        self.conn.close()
        self.proc = None

    def _restart(self, step: int, why: str) -> None:
        if self.restarts >= MAX_RESTARTS:
            raise RuntimeError(f"rollout worker {why} at step {step}, after {self.restarts} restarts: giving up")
        self.log(f"warning: rollout worker {why} at step {step}: restarting it from step {step}")
        self._stop_worker()
        self.restarts += 1
        self._spawn(step)

    def take(self, step: int) -> tuple[object, object, dict]:
        """The worker's (batch, first draw, metrics) for `step`, with the async/ metrics added."""
        t0 = time.monotonic()
        depth = max(0, int(self.state[0]) - (step - 1))
        while step not in self.ready:
            limit = self.deadline_s * (1 if self.delivered else 2)       # the first batch includes loading
            if self.conn.poll(0.05):
                try:
                    msg = pickle.loads(self.conn.recv_bytes())
                except (EOFError, OSError):
                    self._restart(step, f"exited (code {self._exitcode()})")
                    continue
                if msg[0] == "error":
                    raise RuntimeError(f"rollout worker failed at step {msg[1]}:\n{msg[2]}")
                self.ready[msg[1]], self.delivered = msg[2:], True
            elif not self.proc.is_alive():
                self._restart(step, f"exited (code {self._exitcode()})")
            elif time.monotonic() - max(t0, self.started) > limit:
                self._restart(step, f"sent no batch for {limit:.0f}s (train.stall_min_s): killed")
        batch, first, m = self.ready.pop(step)
        m.update(staleness_metrics(batch.gen.versions, step, self.k))
        m.update({"async/trainer_idle_s": time.monotonic() - t0, "async/queue_depth": depth,
                  "async/worker_restarts": self.restarts})
        return batch, first, m

    def _exitcode(self):
        self.proc.join(timeout=1)
        return self.proc.exitcode

    def publish(self, model, version: int) -> None:
        self.weights.publish(published_tensors(model), version)


def staleness_metrics(versions: torch.Tensor, step: int, k: int) -> dict:
    """versions (N,) of the rows trained at `step` (weights at version step - 1) -> the staleness
    histogram: mean, max, share of rows at each staleness 0..k, and the versions' range. Raises when a
    row is staler than k (the bound the worker keeps)."""
    stale = (step - 1) - versions
    if int(stale.max()) > k or int(stale.min()) < 0:
        raise RuntimeError(f"step {step}: batch versions {versions.min()}..{versions.max()} outside the "
                           f"staleness bound {k}")
    m = {"async/staleness_mean": stale.float().mean().item(), "async/staleness_max": int(stale.max()),
         "async/version_min": int(versions.min()), "async/version_max": int(versions.max())}
    m.update({f"async/staleness={i}": (stale == i).float().mean().item() for i in range(k + 1)})
    return m
