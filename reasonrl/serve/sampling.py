"""Per-row sampling for a batch of requests with different parameters, and incremental detokenizing.

`sample_next` draws by inverse CDF from given uniforms, so each row's randomness comes from its own
generator (a request with a `seed` gets the same draws whichever batch it lands in).
"""
from __future__ import annotations

import torch


def filtered_probs(logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor,
                   top_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted, renormalised sampling distribution per row.

    logits (R, V); temperature (R,) > 0; top_p (R,) in (0, 1]; top_k (R,) long, 0 = off.
    Returns (probs (R, V) in descending order, zero where filtered out, each row summing to 1;
    order (R, V) the vocabulary index of each sorted column). top-k and top-p both apply: a token
    is kept if its rank is < top_k and the probability mass strictly before it is < top_p.
    """
    probs = torch.softmax(logits.float() / temperature[:, None], dim=-1)
    probs, order = probs.sort(dim=-1, descending=True)
    rank = torch.arange(probs.shape[1], device=probs.device)[None, :]              # (1, V)
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, probs.shape[1]))
    before = probs.cumsum(dim=-1) - probs                                            # mass before each
    keep = (rank < k[:, None]) & (before < top_p[:, None].float())
    keep[:, 0] = True
    probs = probs * keep
    return probs / probs.sum(dim=-1, keepdim=True), order


def sample_next(logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor, top_k: torch.Tensor,
                uniforms: torch.Tensor) -> torch.Tensor:
    """Next token per row. logits (R, V); temperature (R,) (0 = greedy); top_p (R,); top_k (R,) long;
    uniforms (R,) in [0, 1). Returns (R,) long token ids: the first sorted token whose cumulative
    probability exceeds the row's uniform."""
    greedy = temperature <= 0
    safe_t = torch.where(greedy, torch.ones_like(temperature), temperature)
    probs, order = filtered_probs(logits, safe_t, top_p, top_k)
    cdf = probs.cumsum(dim=-1)
    col = torch.searchsorted(cdf, uniforms[:, None].to(cdf.dtype), right=True).clamp_max(probs.shape[1] - 1)
    picked = order.gather(1, col).squeeze(1)
    return torch.where(greedy, logits.argmax(dim=-1), picked)


class IncrementalDecoder:
    """Text of a growing list of token ids, one delta at a time, without re-decoding everything:
    decodes a short window and holds back a trailing U+FFFD (a multi-byte character cut in two)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.ids: list[int] = []
        self.prefix = 0                      # window start
        self.read = 0                        # ids already turned into emitted text

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        dec = self.tok.decode
        before = dec(self.ids[self.prefix:self.read], skip_special_tokens=True)
        text = dec(self.ids[self.prefix:], skip_special_tokens=True)
        if len(text) > len(before) and not text.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return text[len(before):]
        return ""
