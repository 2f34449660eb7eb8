"""Logprobs of sampled tokens under a causal LM, with the sampler's temperature, and the masks
that decide which tokens count.
"""
from __future__ import annotations

import contextlib

import torch


def completion_mask(completion_ids: torch.Tensor, eos_ids: list[int] | tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask built from positions, never from token values, so pad == eos tokenizers work.

    completion_ids (N, T) -> mask (N, T) with 1 up to and including the first EOS (any of eos_ids),
    and truncated (N,) True where no EOS was generated (mask is then all ones).
    """
    n, t = completion_ids.shape
    is_eos = torch.isin(completion_ids, torch.tensor(list(eos_ids), device=completion_ids.device))
    has_eos = is_eos.any(dim=1)                                                   # (N,)
    first = torch.where(has_eos, is_eos.int().argmax(dim=1), torch.full_like(has_eos, t, dtype=torch.long))
    pos = torch.arange(t, device=completion_ids.device)[None, :]                  # (1, T)
    mask = (pos <= first[:, None]) & (pos < t)
    return mask.long(), ~has_eos


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids for left-padded rows, as HF `generate` builds them: cumsum(mask) - 1, pads at 0.
    attention_mask (N, L) -> (N, L)."""
    pos = attention_mask.long().cumsum(dim=1) - 1
    return pos.clamp_min(0)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """logits (N, T, V) predicting targets (N, T) -> log softmax(logits / temperature)[targets], (N, T).
    Same as `log_softmax(logits / temperature).gather(-1, targets)` computed in float32."""
    logits = logits.float() / temperature
    return torch.gather(logits.log_softmax(dim=-1), -1, targets.unsqueeze(-1)).squeeze(-1)


def token_entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy of softmax(logits / temperature) per position: (N, T, V) -> (N, T)."""
    logp = (logits.float() / temperature).log_softmax(dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def sequence_logprobs(model, input_ids, attention_mask, prompt_len: int, temperature: float = 1.0,
                      with_entropy: bool = False, autocast=None):
    """Forward a (left-padded prompt + completion) batch and return the completion tokens' logprobs.

    input_ids, attention_mask (N, P + T) with the prompt occupying the first P = prompt_len columns.
    Position ids follow the attention mask (the same as the sampler's), so logprobs match `generate`.
    Returns logp (N, T) and, if asked, entropy (N, T). autocast: a context manager the forward runs
    under, e.g. torch.autocast(...) in bf16 (reasonrl.scale.lora.autocast builds it from model.autocast);
    None = plain precision. Logprobs are computed in float32 either way.
    """
    pos = position_ids_from_mask(attention_mask)
    t = input_ids.shape[1] - prompt_len
    # the LM head runs on the last T + 1 positions only (large savings for big vocabularies)
    with autocast if autocast is not None else contextlib.nullcontext():
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=False,
                    logits_to_keep=t + 1)
    logits = out.logits[:, -(t + 1):-1, :]                                         # (N, T, V)
    targets = input_ids[:, prompt_len:]                                            # (N, T)
    logp = token_logprobs(logits, targets, temperature)
    if with_entropy:
        with torch.no_grad():
            ent = token_entropy(logits.detach(), temperature)
        return logp, ent
    return logp, None
