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


def token(diff: torch.Tensor, cap: float) -> torch.Tensor:
    """diff (n, T) = masked old - sampler logprobs -> per-token weights min(exp(diff), cap), (n, T)."""
    return diff.exp().clamp(max=cap)


def sequence(diff: torch.Tensor, cap: float) -> torch.Tensor:
    """diff (n, T) -> one weight per sequence min(exp(sum_t diff), cap), broadcast to (n, T)."""
    return diff.sum(dim=1, keepdim=True).exp().clamp(max=cap).expand_as(diff)


TIS_WEIGHTS = {"token": token, "sequence": sequence}     # algo.tis: the registry ("none" = no weights)
TIS_LEVELS = ("none", *TIS_WEIGHTS)


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
    if level not in TIS_WEIGHTS:
        raise ValueError(f"unknown TIS level '{level}' (choose from none, {', '.join(TIS_WEIGHTS)})")
    w = TIS_WEIGHTS[level](diff, cap)
    return torch.where(m > 0, w, torch.ones_like(w)).to(old_logp.dtype)
