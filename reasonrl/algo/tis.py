"""Corrections for the rollout/trainer logprob mismatch: truncated importance sampling (TIS) and
masked importance sampling (token masks as in IcePop, sequence masks as in MIS).

A rollout engine (a server, vLLM, a bf16 decoder) samples from pi_sampler, which differs slightly
from the trainer's pi_old (other kernels, precision, batch shapes). The policy-gradient term is
reweighted per token by the ratio r_it = pi_old / pi_sampler = exp(old_it - sampler_it), which is
either truncated at `cap` (Yao et al. 2025, "Your efficient RL framework secretly brings you
off-policy RL training"; verl/OpenRLHF `tis_imp_ratio_cap`) or, for the `*_mask` choices, set to 0
outside the band [low, high] (the token or sequence leaves the loss):

  token          w_it = min(r_it, cap)                                          (N, T)
  sequence       w_i  = min(R_i, cap),  R_i = prod_t r_it = exp(sum_t m_it d_it)     broadcast over T
  token_mask     w_it = r_it if low <= r_it <= high else 0            IcePop (Ling Team 2025)
  sequence_mask  w_i  = R_i  if low <= R_i  <= high else 0            MIS with the product ratio
                                                                      (Yao et al. 2025; TRL `sequence_mask`)
  geo_mask       w_i  = 1    if low <= G_i  <= high else 0,  G_i = exp(sum_t m_it d_it / L_i), the
                 geometric mean of the token ratios (length-independent; a rejection mask, no reweighting)

d_it = old_it - sampler_it, L_i = sum_t m_it. The weights are constants (no gradient). The KL term
is not reweighted. Positions outside the loss mask get 1. A new correction is one function
(diff, m, *, cap, low, high) -> (n, T) here and one line in `TIS_WEIGHTS`; name it `*_mask` when it
reads the band rather than the cap (the logged metrics and the run's description follow the name).
"""
from __future__ import annotations

import math

import torch


def token(diff: torch.Tensor, m: torch.Tensor, *, cap: float, **_) -> torch.Tensor:
    """diff (n, T) = masked old - sampler logprobs -> per-token weights min(exp(diff), cap), (n, T)."""
    return diff.exp().clamp(max=cap)


def sequence(diff: torch.Tensor, m: torch.Tensor, *, cap: float, **_) -> torch.Tensor:
    """diff (n, T) -> one weight per sequence min(exp(sum_t diff), cap), broadcast to (n, T)."""
    return diff.sum(dim=1, keepdim=True).exp().clamp(max=cap).expand_as(diff)


def _band(ratio: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """ratio (n, k) -> the ratio inside [low, high], 0 outside (n, k)."""
    return torch.where((ratio >= low) & (ratio <= high), ratio, torch.zeros_like(ratio))


def token_mask(diff: torch.Tensor, m: torch.Tensor, *, low: float, high: float, **_) -> torch.Tensor:
    """IcePop: diff (n, T) -> exp(diff) where it lies in [low, high], else 0, (n, T)."""
    return _band(diff.exp(), low, high)


def sequence_mask(diff: torch.Tensor, m: torch.Tensor, *, low: float, high: float, **_) -> torch.Tensor:
    """MIS: diff (n, T) -> the sequence ratio exp(sum_t diff) where it lies in [low, high], else 0,
    broadcast to (n, T)."""
    return _band(diff.sum(dim=1, keepdim=True).exp(), low, high).expand_as(diff)


def geo_mask(diff: torch.Tensor, m: torch.Tensor, *, low: float, high: float, **_) -> torch.Tensor:
    """diff, m (n, T) -> 1 for sequences whose geometric-mean ratio exp(sum_t diff / L) lies in
    [low, high], else 0, broadcast to (n, T)."""
    geo = (diff.sum(dim=1, keepdim=True) / m.sum(dim=1, keepdim=True).clamp_min(1)).exp()     # (n, 1)
    return (_band(geo, low, high) > 0).to(diff.dtype).expand_as(diff)


TIS_WEIGHTS = {"token": token, "sequence": sequence, "token_mask": token_mask, "sequence_mask": sequence_mask,
               "geo_mask": geo_mask}     # algo.tis: the registry ("none" = no weights)
TIS_LEVELS = ("none", *TIS_WEIGHTS)


def is_mask(level: str) -> bool:
    """True for the choices that drop tokens outside the band [low, high] (named `*_mask`)."""
    return level.endswith("_mask")


def tis_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor, *, level: str,
                cap: float, low: float = 0.0, high: float = math.inf) -> torch.Tensor | None:
    """old_logp (trainer, pi_old), sampler_logp (rollout engine), mask: (n, T) -> weights (n, T), or None
    when level is 'none'. Weights are detached; truncation caps them at `cap` from above, the `*_mask`
    choices set them to 0 outside [low, high]."""
    if level == "none":
        return None
    if cap <= 0:
        raise ValueError("the TIS cap must be > 0")
    if not 0 <= low < high:
        raise ValueError(f"the TIS band must have 0 <= low < high, got [{low}, {high}]")
    m = mask.to(old_logp.dtype)
    diff = (old_logp.detach().float() - sampler_logp.float()) * m          # (n, T); 0 on masked tokens
    if level not in TIS_WEIGHTS:
        raise ValueError(f"unknown TIS level '{level}' (choose from none, {', '.join(TIS_WEIGHTS)})")
    w = TIS_WEIGHTS[level](diff, m.float(), cap=cap, low=low, high=high)
    return torch.where(m > 0, w, torch.ones_like(w)).to(old_logp.dtype)
