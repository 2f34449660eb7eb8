"""Reward composition: several reward functions, one weight each, a weighted total per completion.

    fn = RewardFn(("answer", "format", "mypkg.rewards:brevity"), (1.0, 0.1, 0.05), settings=cfg.verify)
    total, components, statuses = fn(completions, samples, step=7, truncated=gen.truncated)

total (N,) = sum over rewards of weight * score, where a reward that is not applicable to a sample
(None) adds nothing to that sample. components {name: (N,)} holds each reward's raw score (nan = not
applicable or error), statuses {name: [N str]} its status; `fn.last_verdicts` keeps the full
verdicts (reason, extracted answer) of the last call for the rollout log, and `status_metrics`
turns statuses into per-step rates (timeouts, parse failures, errors).
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch

from reasonrl.errors import ConfigError
from reasonrl.types import Sample, Verdict
from reasonrl.verifiers.context import RewardContext, call_reward
from reasonrl.verifiers.settings import VerifierSettings, using


def resolve_reward(name: str) -> Callable:
    """A registry name ('answer', 'format', ...) or 'package.module:function'."""
    from reasonrl.verifiers import REWARDS

    if name in REWARDS:
        return REWARDS[name]
    if ":" in name:
        mod, fn = name.split(":", 1)
        try:
            got = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"config key 'reward.functions': cannot import '{name}' ({e})") from None
        if not callable(got):
            raise ConfigError(f"config key 'reward.functions': '{name}' is not callable")
        return got
    raise ConfigError(f"config key 'reward.functions': unknown reward '{name}' "
                      f"(use one of {', '.join(REWARDS)} or 'module:function')")


def as_verdict(value) -> Verdict:
    """A reward's return value as a Verdict; anything that is not a number, bool, None or Verdict
    (or a NaN/inf) is an 'error' verdict, never a silent 0."""
    if isinstance(value, Verdict):
        return value
    if value is None:
        return Verdict(None, "not_applicable", "reward returned None")
    if isinstance(value, BaseException):
        return Verdict(None, "error", f"{type(value).__name__}: {value}"[:500])
    try:
        score = float(value)
    except (TypeError, ValueError):
        return Verdict(None, "error", f"reward returned {type(value).__name__}, not a number")
    if not math.isfinite(score):
        return Verdict(None, "error", f"reward returned {score}")
    return Verdict(score, "correct" if score > 0 else "wrong", "")


def _names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Display names: the function part of 'module:function', made unique with #2, #3."""
    out: list[str] = []
    for n in names:
        base = n.split(":", 1)[1] if ":" in n else n
        k, name = 2, base
        while name in out:
            name, k = f"{base}#{k}", k + 1
        out.append(name)
    return tuple(out)


def make_contexts(completions: list[str], samples: list[Sample], *, step: int = 0, completion_ids=None,
                  truncated=None) -> list[RewardContext]:
    """N contexts. completion_ids: N unpadded token sequences (lists or 1-D tensors); truncated: (N,) bools."""
    from reasonrl.verifiers.answer import row_of

    ids = [None] * len(completions) if completion_ids is None else [tuple(int(t) for t in x) for x in completion_ids]
    trunc = [False] * len(completions) if truncated is None else [bool(t) for t in truncated]
    return [RewardContext(prompt=s.prompt, completion=c, sample=s, row=row_of(s), completion_ids=i, step=step,
                          truncated=t, index=k)
            for k, (c, s, i, t) in enumerate(zip(completions, samples, ids, trunc))]


class RewardFn:
    """Weighted sum of reward functions. A function that raises gives status 'error' for that sample
    (no score, logged), so one bad sample or one buggy reward never ends a run. `settings` (the config's
    `verify:` section) apply while it scores; None keeps the process defaults."""

    def __init__(self, names: tuple[str, ...], weights: tuple[float, ...], settings: VerifierSettings | None = None):
        if len(names) != len(weights):
            raise ValueError(f"{len(names)} reward functions but {len(weights)} weights")
        self.names = _names(tuple(names))
        self.fns = [resolve_reward(n) for n in names]
        self.weights = tuple(weights)
        self.settings = settings
        self.last_verdicts: dict[str, list[Verdict]] = {}

    def __call__(self, completions: list[str], samples: list[Sample], *, step: int = 0, completion_ids=None,
                 truncated=None) -> tuple[torch.Tensor, dict, dict]:
        """-> total (N,), components {name: (N,) with nan for n/a}, statuses {name: [N str]}.
        completion_ids: N token sequences (unpadded) for rewards that read ids; truncated: (N,) bools."""
        ctxs = make_contexts(completions, samples, step=step, completion_ids=completion_ids, truncated=truncated)
        comps, statuses, self.last_verdicts = {}, {}, {}
        for name, fn in zip(self.names, self.fns):
            with using(self.settings):
                try:
                    verdicts = [as_verdict(v) for v in call_reward(fn, ctxs)]
                except Exception as e:  # noqa: BLE001 - a batched reward that raises fails its whole batch
                    verdicts = [as_verdict(e)] * len(ctxs)
            self.last_verdicts[name] = verdicts
            comps[name] = torch.tensor([math.nan if v.score is None else v.score for v in verdicts],
                                       dtype=torch.float32)
            statuses[name] = [v.status for v in verdicts]
        total = torch.zeros(len(completions))
        for name, w in zip(self.names, self.weights):
            total += w * torch.nan_to_num(comps[name], nan=0.0)
        return total, comps, statuses


def status_metrics(statuses: dict[str, list[str]]) -> dict[str, float]:
    """{'verify/<name>_<status>': share of the batch} for the statuses that signal trouble."""
    out = {}
    for name, sts in statuses.items():
        for st in ("unparseable", "timeout", "error", "not_applicable"):
            if sts:
                out[f"verify/{name}_{st}"] = sum(s == st for s in sts) / len(sts)
    return out
