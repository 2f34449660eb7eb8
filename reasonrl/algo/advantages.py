"""Advantage estimators: rewards of a group of G completions per prompt -> one scalar per completion.

Every estimator takes `rewards` of shape (B, G) and `std_floor` and returns advantages of shape
(B, G). A group whose rewards are all equal gets exactly zero advantage (no float residue from the
mean). A new estimator is one function here plus one line in `ADVANTAGES`; its name is then a
legal `algo.advantage` (reasonrl.algo.presets.choices reads the registry). Under torchrun the
estimator sees the rewards of every rank (reasonrl.train.collect gathers them), so estimators that
span groups (batch_zscore) are exact in data parallel too.
"""
from __future__ import annotations

import torch


def _zero_equal_groups(adv: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    equal = (rewards == rewards[:, :1]).all(dim=1, keepdim=True)   # (B, 1)
    return torch.where(equal, torch.zeros_like(adv), adv)


def group_zscore(rewards: torch.Tensor, std_floor: float = 1e-4) -> torch.Tensor:
    """GRPO: (r - mean_g) / max(std_g, std_floor), unbiased std over the group. (B, G) -> (B, G)."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True, unbiased=True) if rewards.shape[1] > 1 else torch.zeros_like(mean)
    adv = (rewards - mean) / std.clamp_min(std_floor)
    return _zero_equal_groups(adv, rewards)


def group_mean(rewards: torch.Tensor, std_floor: float = 1e-4) -> torch.Tensor:
    """Dr. GRPO: r - mean_g, no division by the std (std_floor unused). (B, G) -> (B, G)."""
    return _zero_equal_groups(rewards - rewards.mean(dim=1, keepdim=True), rewards)


def rloo(rewards: torch.Tensor, std_floor: float = 1e-4) -> torch.Tensor:
    """Leave-one-out: r_i - mean_{j != i} r_j = G/(G-1) * (r_i - mean_g) (std_floor unused).
    (B, G) -> (B, G)."""
    g = rewards.shape[1]
    if g < 2:
        return torch.zeros_like(rewards)
    loo_mean = (rewards.sum(dim=1, keepdim=True) - rewards) / (g - 1)
    return _zero_equal_groups(rewards - loo_mean, rewards)


def batch_zscore(rewards: torch.Tensor, std_floor: float = 1e-4) -> torch.Tensor:
    """REINFORCE++-baseline style: r - mean_g, then divided by the std of those values over the
    whole batch (all B*G entries). (B, G) -> (B, G)."""
    centered = group_mean(rewards)
    std = centered.flatten().std(unbiased=True) if centered.numel() > 1 else centered.new_tensor(0.0)
    return centered / std.clamp_min(std_floor)


ADVANTAGES = {"group_zscore": group_zscore, "group_mean": group_mean, "rloo": rloo,
              "batch_zscore": batch_zscore}     # algo.advantage: name -> (rewards (B, G), std_floor) -> (B, G)


def compute_advantages(name: str, rewards: torch.Tensor, std_floor: float = 1e-4) -> torch.Tensor:
    """Dispatch by name. rewards (B, G) -> advantages (B, G)."""
    return ADVANTAGES[name](rewards, std_floor)
