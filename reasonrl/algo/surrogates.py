"""Per-token surrogate losses (to be minimised). Aggregation over tokens is separate (aggregation.py).

Inputs: `logp` (N, T) current policy logprobs of the sampled tokens (with grad), `old_logp` (N, T)
logprobs of the policy that sampled them (no grad), `adv` (N,) one advantage per sequence,
`mask` (N, T) 1 for tokens in the loss. Output: per-token loss (N, T) and a dict of detached stats.
"""
from __future__ import annotations

import torch


def pg(logp, old_logp, adv, mask, **_):
    """Plain policy gradient: -A * log pi. Ignores old_logp (REINFORCE / RLOO)."""
    return -adv[:, None] * logp, {}


def _clip_stats(ratio, adv, mask, low, high):
    m = mask.bool()
    n = m.sum().clamp_min(1)
    a = adv[:, None].expand_as(ratio)
    clipped_low = ((ratio < 1 - low) & (a < 0) & m).sum() / n
    clipped_high = ((ratio > 1 + high) & (a > 0) & m).sum() / n
    r = ratio.detach()[m]
    return {"clip/low": clipped_low.item(), "clip/high": clipped_high.item(),
            "ratio/mean": r.mean().item() if r.numel() else 1.0,
            "ratio/max": r.max().item() if r.numel() else 1.0,
            "ratio/min": r.min().item() if r.numel() else 1.0}


def clip(logp, old_logp, adv, mask, clip_low=0.2, clip_high=0.2, **_):
    """PPO clipped ratio: -min(r A, clip(r, 1-low, 1+high) A), r = exp(logp - old_logp)."""
    ratio = torch.exp(logp - old_logp)                                     # (N, T)
    a = adv[:, None]
    loss = -torch.minimum(ratio * a, ratio.clamp(1 - clip_low, 1 + clip_high) * a)
    return loss, _clip_stats(ratio, adv, mask, clip_low, clip_high)


def dual_clip(logp, old_logp, adv, mask, clip_low=0.2, clip_high=0.2, dual_clip=3.0, **_):
    """Dual-clip PPO: for A < 0 the clipped loss is further capped at -c*A (so at most c*|A|)."""
    loss, stats = clip(logp, old_logp, adv, mask, clip_low, clip_high)
    a = adv[:, None].expand_as(loss)
    capped = torch.minimum(loss, -dual_clip * a)                          # only binds where A < 0
    return torch.where(a < 0, capped, loss), stats


def gspo(logp, old_logp, adv, mask, clip_low=3e-4, clip_high=4e-4, **_):
    """GSPO: sequence ratio s = exp(mean_t (logp - old_logp)) over the mask, clipped per sequence.
    Token form s_t = sg(s) * exp(logp_t - sg(logp_t)) so each token gets gradient s * grad logp_t / |y|
    once aggregated with seq_mean_token_mean."""
    m = mask.to(logp.dtype)
    lens = m.sum(dim=1).clamp_min(1)
    seq_log_ratio = ((logp - old_logp) * m).sum(dim=1) / lens             # (N,)
    s = torch.exp(seq_log_ratio)                                          # (N,)
    s_tok = s.detach()[:, None] * torch.exp(logp - logp.detach())         # (N, T), value s, grad s*dlogp
    a = adv[:, None]
    loss = -torch.minimum(s_tok * a, s_tok.clamp(1 - clip_low, 1 + clip_high) * a)
    return loss, _clip_stats(s[:, None].expand_as(logp), adv, mask, clip_low, clip_high)


SURROGATES = {"pg": pg, "clip": clip, "dual_clip": dual_clip, "gspo": gspo}
