"""The reward API: one context object in, a score (or None = not applicable) out.

    from reasonrl.verifiers.context import RewardContext, batched

    def brevity(ctx: RewardContext) -> float | None:        # reward.functions: [mypkg.rewards:brevity]
        if ctx.truncated:
            return 0.0
        return 1.0 - len(ctx.completion_ids or ()) / 512

    @batched
    def judge(ctxs: list[RewardContext]) -> list[float | None]:   # one call for the whole batch
        return my_judge_service([c.completion for c in ctxs])

    async def remote(ctx: RewardContext) -> float: ...       # async functions run concurrently

A reward may return a float, a bool, None (not applicable: excluded from that sample's weighted sum
and logged as such) or a Verdict (score, status, reason). Functions written the older way,
`fn(completion, sample)` (two required positional parameters), are still called that way.
"""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from reasonrl.types import Sample


@dataclass(frozen=True)
class RewardContext:
    """Everything a reward may need about one completion."""
    prompt: str                       # the problem's prompt text (as the task wrote it)
    completion: str                   # the completion text (with any prefilled "<think>\n" prepended)
    sample: Sample                    # the problem: prompt, gold answer, verifier name, meta
    row: Mapping[str, Any] = field(default_factory=dict)  # the dataset row: every field, plus prompt/answer
    completion_ids: tuple[int, ...] | None = None   # the sampled token ids (no padding), when known
    step: int = 0                     # the training step
    truncated: bool = False           # the completion hit max_new_tokens without an EOS
    index: int = 0                    # position in the batch (completion i of N)

    @property
    def answer(self) -> str:
        """The gold answer."""
        return self.sample.answer


def batched(fn: Callable) -> Callable:
    """Mark a reward that takes the whole list of contexts and returns one value per context."""
    fn.reward_batched = True
    return fn


def calling_convention(fn: Callable) -> str:
    """'batched' | 'async' | 'context' | 'legacy' (fn(completion, sample))."""
    if getattr(fn, "reward_batched", False):
        return "batched"
    if inspect.iscoroutinefunction(fn):
        return "async"
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "context"
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return "legacy" if len(required) >= 2 else "context"


def call_reward(fn: Callable, ctxs: list[RewardContext]) -> list:
    """Call fn on every context by its convention. Returns one value (or raised exception) per ctx."""
    kind = calling_convention(fn)
    if kind == "batched":
        values = list(fn(ctxs))
        if len(values) != len(ctxs):
            raise ValueError(f"batched reward returned {len(values)} values for {len(ctxs)} completions")
        return values
    if kind == "async":
        async def gather():
            return await asyncio.gather(*(fn(c) for c in ctxs), return_exceptions=True)
        return list(asyncio.run(gather()))
    out = []
    for c in ctxs:
        try:
            out.append(fn(c) if kind == "context" else fn(c.completion, c.sample))
        except Exception as e:  # noqa: BLE001 - one bad sample becomes an 'error' verdict
            out.append(e)
    return out
