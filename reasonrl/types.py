"""Shared vocabulary of the package. Shapes: B prompts, G samples per prompt, N = B*G, T tokens."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Sample:
    """One problem: the prompt text shown to the model and the gold answer its verifier checks."""
    prompt: str
    answer: str
    verifier: str = "exact"           # name in reasonrl.verifiers.VERIFIERS
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement. status: correct | wrong | unparseable | not_applicable | timeout | error.
    score is None when no score applies (not_applicable); it is never silently 0 or 1."""
    score: float | None
    status: str
    reason: str = ""
    answer: str | None = None         # the extracted answer that was judged, when there is one


@dataclass
class Generations:
    """What a rollout backend returns for N = len(prompts) * n completions (grouped row-major)."""
    prompt_ids: torch.Tensor          # (N, P) left-padded prompt tokens
    prompt_mask: torch.Tensor         # (N, P) 1 = real token
    completion_ids: torch.Tensor      # (N, T) sampled tokens, pad after the first EOS
    completion_mask: torch.Tensor     # (N, T) 1 up to and including the first EOS
    truncated: torch.Tensor           # (N,) bool: no EOS within max_new_tokens
    texts: list[str]                  # N decoded completions (special tokens dropped)
    sampler_logp: torch.Tensor | None = None  # (N, T) logprobs reported by the sampler, if any
    temperature: float = 1.0          # the sampling temperature that produced them; the trainer's logprobs use it
    versions: torch.Tensor | None = None  # (N,) long: policy version (trainer steps applied) that sampled each row
    routing: torch.Tensor | None = None   # (N, P+T, L, k) long: experts each MoE layer chose per token, -1 = none


@dataclass(frozen=True)
class RolloutBatch:
    """One RL step's data after verification and advantage estimation. Immutable: collect() builds the
    batch the update trains on once, with its advantages (None only on a draw not yet estimated)."""
    samples: list[Sample]             # B problems
    group_size: int                   # G
    gen: Generations                  # N sequences
    rewards: torch.Tensor             # (N,) weighted total reward
    components: dict[str, torch.Tensor]  # name -> (N,) raw component scores (nan = not applicable)
    advantages: torch.Tensor | None   # (N,), set once by reasonrl.train.collect
    statuses: list[str]               # N statuses of the answer verifier
    info: dict[str, float] = field(default_factory=dict)  # per-batch rates (verifier timeouts, parse failures)


@dataclass(frozen=True)
class UpdateUsage:
    """What one policy update trained on (reasonrl.train.update.plan); cost accounting reads it."""
    rows: torch.Tensor                # (N',) indices of the batch rows that entered the loss
    seq_tokens: int                   # prompt + completion tokens of those rows (one pass over them)
    loss_tokens: int                  # their loss tokens (after algo.mask_truncated), one epoch
    epochs: int                       # passes with gradient over each row
    logprob_passes: int               # passes without gradient (reference model, old policy)
