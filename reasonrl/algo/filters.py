"""Filters and reward shaping around the four axes (DAPO).

  mixed_groups           which groups have mixed raw accuracy (dynamic sampling keeps only those)
  soft_overlong_penalty  DAPO's length penalty over the last `buffer` tokens of the budget
"""
from __future__ import annotations

import torch


def mixed_groups(accuracy: torch.Tensor) -> torch.Tensor:
    """accuracy (B, G) of 0/1 (nan = not applicable, treated as 0) -> (B,) bool, True where the
    group is neither all correct nor all wrong."""
    a = torch.nan_to_num(accuracy, nan=0.0)
    return (a != a[:, :1]).any(dim=1)


def soft_overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, penalty: float = 1.0) -> torch.Tensor:
    """lengths (N,) of completion tokens -> (N,) reward shaping <= 0.

    0 while length <= max_len - buffer; then falls linearly to -penalty at length == max_len:
    -penalty * (length - (max_len - buffer)) / buffer. buffer = 0 -> all zeros.
    """
    if buffer <= 0:
        return torch.zeros_like(lengths, dtype=torch.float32)
    over = (lengths.float() - (max_len - buffer)).clamp(min=0.0, max=float(buffer))
    return -penalty * over / buffer
