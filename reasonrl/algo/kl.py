"""Per-token KL estimators between the policy and a frozen reference, from sampled-token logprobs.

`logp` (N, T) policy logprobs (with grad), `ref_logp` (N, T) reference logprobs (no grad).
With x = ref_logp - logp (log of pi_ref / pi_theta on a token sampled from pi_theta):
  k1 = -x                 unbiased for KL(pi_theta || pi_ref), high variance, can be negative
  k2 = x^2 / 2            biased, low variance, >= 0
  k3 = exp(x) - x - 1     unbiased, >= 0 (Schulman 2020; the R1 paper's form)
"""
from __future__ import annotations

import torch


def k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return logp - ref_logp


def k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return 0.5 * (ref_logp - logp) ** 2


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    x = ref_logp - logp
    return torch.exp(x) - x - 1


KL_ESTIMATORS = {"k1": k1, "k2": k2, "k3": k3}
