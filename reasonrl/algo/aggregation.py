"""Loss aggregation: per-token losses (N, T) -> one scalar, with the normalizer of the whole
optimizer step so that micro-batches add up exactly to the full-batch loss.

`StepTotals` holds the step-wide counts (over every micro-batch and, under torchrun, every rank:
reasonrl.train.update.step_totals sums them with reasonrl.dist); each micro-batch's `aggregate(...)`
returns its share, and the shares sum to the step's loss (over all ranks).

Modes (sequences i, tokens t, mask m, L_i = sum_t m_it):
  token_mean          sum_it l*m / sum_it m                  (DAPO; every token weighs the same)
  seq_mean_token_mean (1/S) sum_i (sum_t l*m / L_i)          (DeepSeekMath / R1; length-biased)
  seq_mean_token_sum  (1/S) sum_i sum_t l*m                  (RLOO-style sequence sums)
  constant            sum_it l*m / (S * max_len)             (Dr. GRPO; unbiased in length)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepTotals:
    tokens: int       # masked tokens in the optimizer step, summed over all ranks
    sequences: int    # sequences in the optimizer step, summed over all ranks
    max_len: int      # the generation budget (max_new_tokens), for the constant normalizer


# Every mode: masked = loss * mask (n, T), m = mask as floats (n, T), totals -> scalar share.
def token_mean(masked: torch.Tensor, m: torch.Tensor, totals: StepTotals) -> torch.Tensor:
    return masked.sum() / max(totals.tokens, 1)


def seq_mean_token_mean(masked: torch.Tensor, m: torch.Tensor, totals: StepTotals) -> torch.Tensor:
    per_seq = masked.sum(dim=1) / m.sum(dim=1).clamp_min(1)
    return per_seq.sum() / max(totals.sequences, 1)


def seq_mean_token_sum(masked: torch.Tensor, m: torch.Tensor, totals: StepTotals) -> torch.Tensor:
    return masked.sum() / max(totals.sequences, 1)


def constant(masked: torch.Tensor, m: torch.Tensor, totals: StepTotals) -> torch.Tensor:
    return masked.sum() / max(totals.sequences * totals.max_len, 1)


AGGREGATIONS = {"token_mean": token_mean, "seq_mean_token_mean": seq_mean_token_mean,
                "seq_mean_token_sum": seq_mean_token_sum, "constant": constant}     # algo.aggregation


def aggregate(loss: torch.Tensor, mask: torch.Tensor, mode: str, totals: StepTotals) -> torch.Tensor:
    """loss (n, T), mask (n, T) of one micro-batch -> scalar share of the step's loss."""
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation mode '{mode}'")
    m = mask.to(loss.dtype)
    return AGGREGATIONS[mode](loss * m, m, totals)
