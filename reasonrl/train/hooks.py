"""Explicit hooks into the RL loop, for fault injection (bench/faults.py, tests/test_faults.py,
tests/train/test_async*.py).

The loop never reads the environment for them: `reasonrl train` builds its hooks once at start
(`from_env`: REASONRL_INJECT_NAN_STEPS=2,3 poisons the advantages of steps 2 and 3), and code that
calls reasonrl.train.rl.train passes them directly (`train(cfg, hooks=nan_advantages({2}))`)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping

import torch

from reasonrl.types import RolloutBatch

INJECT_NAN_ENV = "REASONRL_INJECT_NAN_STEPS"
INJECT_HANG_ENV = "REASONRL_INJECT_HANG_STEP"     # step N never finishes (the stall watchdog's test)


@dataclasses.dataclass(frozen=True)
class Hooks:
    # (step, the finished batch) -> the batch the update trains on (and the run logs)
    before_update: Callable[[int, RolloutBatch], RolloutBatch] | None = None
    # train.async_staleness >= 1 (reasonrl.train.worker): plain values, since the worker is another process
    worker_delay_s: float = 0.0       # the rollout worker sleeps this long before sampling each step
    worker_hang_step: int = 0         # the worker's first incarnation never finishes this step (0 = never)


def nan_advantages(steps: Iterable[int]) -> Hooks:
    """Hooks that make every advantage NaN on the given steps (a non-finite loss, then gradient)."""
    bad = frozenset(steps)

    def poison(step: int, batch: RolloutBatch) -> RolloutBatch:
        if step not in bad:
            return batch
        return dataclasses.replace(batch, advantages=torch.full_like(batch.advantages, float("nan")))
    return Hooks(before_update=poison)


def from_env(environ: Mapping[str, str] = os.environ) -> Hooks:
    """The fault-injection hooks that the environment asks for (none when it asks for none)."""
    if environ.get(INJECT_HANG_ENV, "").strip():    # a rank that stops (reasonrl.train.watchdog)
        from reasonrl.train.watchdog import hang_at
        return hang_at(int(environ[INJECT_HANG_ENV]))
    steps = [int(x) for x in environ.get(INJECT_NAN_ENV, "").split(",") if x.strip()]
    return nan_advantages(steps) if steps else Hooks()
