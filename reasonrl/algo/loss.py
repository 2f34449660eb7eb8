"""The per-step policy loss: surrogate + beta * KL per token, then aggregated. Pure over tensors."""
from __future__ import annotations

import torch

from reasonrl.algo.aggregation import StepTotals, aggregate
from reasonrl.algo.kl import KL_ESTIMATORS
from reasonrl.algo.surrogates import SURROGATES


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None,
                adv: torch.Tensor, mask: torch.Tensor, *, surrogate: str, aggregation: str,
                totals: StepTotals, kl: str = "none", beta: float = 0.0, clip_low: float = 0.2,
                clip_high: float = 0.2, dual_clip: float = 3.0,
                is_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """One micro-batch's share of the step loss.

    logp, old_logp, ref_logp, mask: (n, T); adv: (n,). Returns (scalar loss share, stats) where stats
    holds token sums (`kl_sum`, `tokens`) and clip statistics for the caller to average.
    is_weights (n, T), optional: constant per-token weights on the surrogate term (algo.tis), not on the KL.
    """
    per_tok, stats = SURROGATES[surrogate](logp, old_logp, adv, mask, clip_low=clip_low,
                                           clip_high=clip_high, dual_clip=dual_clip)
    if is_weights is not None:
        per_tok = per_tok * is_weights
    m = mask.to(logp.dtype)
    stats = dict(stats, tokens=m.sum().item(), kl_sum=0.0)
    if beta > 0 and kl != "none":
        if ref_logp is None:
            raise ValueError("beta > 0 needs reference logprobs")
        kl_tok = KL_ESTIMATORS[kl](logp, ref_logp)                      # (n, T)
        per_tok = per_tok + beta * kl_tok
        stats["kl_sum"] = (kl_tok.detach() * m).sum().item()
    return aggregate(per_tok, mask, aggregation, totals), stats
