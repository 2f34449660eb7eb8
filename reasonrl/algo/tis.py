"""Truncated importance sampling (TIS) for the rollout/trainer logprob mismatch.

A rollout engine (a server, vLLM, a bf16 decoder) samples from pi_sampler, which differs slightly
from the trainer's pi_old (other kernels, precision, batch shapes). The policy-gradient term is
reweighted per token by the truncated ratio pi_old / pi_sampler (Yao et al. 2025, "Your efficient RL
framework secretly brings you off-policy RL training"; verl/OpenRLHF `tis_imp_ratio_cap`):

  token     w_it = min(exp(old_it - sampler_it), cap)                       (N, T)
  sequence  w_i  = min(exp(sum_t m_it * (old_it - sampler_it)), cap)       broadcast over T

The weights are constants (no gradient). The KL term is not reweighted. Masked positions get 1.
"""
from __future__ import annotations

import torch

TIS_LEVELS = ("none", "token", "sequence")


def tis_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor, *, level: str,
                cap: float) -> torch.Tensor | None:
    """old_logp (trainer, pi_old), sampler_logp (rollout engine), mask: (n, T) -> weights (n, T), or None
    when level is 'none'. Weights are detached and capped at `cap` from above only (truncation)."""
    if level == "none":
        return None
    if cap <= 0:
        raise ValueError("the TIS cap must be > 0")
    m = mask.to(old_logp.dtype)
    diff = (old_logp.detach().float() - sampler_logp.float()) * m          # (n, T); 0 on masked tokens
    if level == "token":
        w = diff.exp().clamp(max=cap)
    elif level == "sequence":
        w = diff.sum(dim=1, keepdim=True).exp().clamp(max=cap).expand_as(diff)
    else:
        raise ValueError(f"unknown TIS level '{level}' (choose from {', '.join(TIS_LEVELS)})")
    return torch.where(m > 0, w, torch.ones_like(w)).to(old_logp.dtype)
