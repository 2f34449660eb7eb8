"""Reward composition: several reward functions, one weight each, a weighted total per completion."""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch

from reasonrl.types import Sample, Verdict


def resolve_reward(name: str) -> Callable:
    """A registry name ('answer', 'format') or 'package.module:function'."""
    from reasonrl.config import ConfigError
    from reasonrl.verifiers import REWARDS

    if name in REWARDS:
        return REWARDS[name]
    if ":" in name:
        mod, fn = name.split(":", 1)
        try:
            return getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"config key 'reward.functions': cannot import '{name}' ({e})") from None
    raise ConfigError(f"config key 'reward.functions': unknown reward '{name}' "
                      f"(use one of {', '.join(REWARDS)} or 'module:function')")


def _as_verdict(value) -> Verdict:
    if isinstance(value, Verdict):
        return value
    if value is None:
        return Verdict(None, "not_applicable", "reward returned None")
    return Verdict(float(value), "correct" if float(value) > 0 else "wrong", "")


class RewardFn:
    """Weighted sum of reward functions. A function that raises gives status 'error' for that sample
    (score counted as 0, logged), so one bad sample never kills a run."""

    def __init__(self, names: tuple[str, ...], weights: tuple[float, ...]):
        self.names = tuple(n if ":" not in n else n.split(":", 1)[1] for n in names)
        self.fns = [resolve_reward(n) for n in names]
        self.weights = weights

    def __call__(self, completions: list[str], samples: list[Sample]) -> tuple[torch.Tensor, dict, dict]:
        """-> total (N,), components {name: (N,) with nan for n/a}, statuses {name: [N str]}."""
        comps, statuses = {}, {}
        for name, fn in zip(self.names, self.fns):
            verdicts = []
            for c, s in zip(completions, samples):
                try:
                    verdicts.append(_as_verdict(fn(c, s)))
                except Exception as e:  # noqa: BLE001 - a reward bug must not end the run
                    verdicts.append(Verdict(None, "error", f"{type(e).__name__}: {e}"))
            comps[name] = torch.tensor([math.nan if v.score is None else v.score for v in verdicts])
            statuses[name] = [v.status for v in verdicts]
        total = torch.zeros(len(completions))
        for name, w in zip(self.names, self.weights):
            total += w * torch.nan_to_num(comps[name], nan=0.0)
        return total, comps, statuses
