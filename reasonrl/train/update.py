"""One RL step's policy update: old/reference logprobs, mini-batches, micro-batches, clipping.

Micro-batching never changes the math: every micro-batch's loss share is normalized by the totals
of its whole optimizer step (algo.aggregation.StepTotals), so 1x8 and 8x1 give the same gradient.
"""
from __future__ import annotations

import math

import torch

from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.logprobs import sequence_logprobs
from reasonrl.algo.loss import policy_loss


def build_inputs(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """-> input_ids (N, P+T), attention_mask (N, P+T), loss mask (N, T), P; T trimmed to the
    longest completion."""
    g = batch.gen
    t = max(int(g.completion_mask.sum(dim=1).max().item()), 1)
    ids = torch.cat([g.prompt_ids, g.completion_ids[:, :t]], dim=1)
    attn = torch.cat([g.prompt_mask, g.completion_mask[:, :t]], dim=1)
    return ids, attn, g.completion_mask[:, :t], g.prompt_ids.shape[1]


def kept_rows(batch, algo) -> torch.Tensor:
    """Indices of sequences that enter the update (groups with reward variance, if asked)."""
    n, gsize = batch.rewards.shape[0], batch.group_size
    keep = torch.ones(n, dtype=torch.bool)
    if algo.skip_zero_variance:
        r = batch.rewards.view(-1, gsize)
        varied = ~(r == r[:, :1]).all(dim=1)                      # (B,)
        keep &= varied.repeat_interleave(gsize)
    return keep.nonzero().flatten()


@torch.no_grad()
def _forward_logp(model, ids, attn, p, temperature, micro):
    out = []
    for i in range(0, ids.shape[0], micro):
        out.append(sequence_logprobs(model, ids[i:i + micro], attn[i:i + micro], p, temperature)[0])
    return torch.cat(out) if out else torch.zeros(0)


def policy_update(model, ref_model, optimizer, batch, algo, *, temperature: float, max_new_tokens: int,
                  micro_batch_size: int, max_grad_norm: float, step_seed: int) -> dict:
    """Run algo.epochs x algo.mini_batches optimizer steps on one rollout batch; return stats."""
    device = next(model.parameters()).device
    rows = kept_rows(batch, algo)
    stats = {"update/sequences": int(rows.numel()), "update/optimizer_steps": 0, "update/skipped_nonfinite": 0}
    if rows.numel() == 0:
        return stats
    ids, attn, mask, p = (x.to(device) if torch.is_tensor(x) else x for x in build_inputs(batch))
    ids, attn, mask = ids[rows], attn[rows], mask[rows].clone()
    adv = batch.advantages.to(device)[rows]
    if algo.mask_truncated:
        mask[batch.gen.truncated.to(device)[rows]] = 0
    multi = algo.epochs * algo.mini_batches > 1
    old_logp = _forward_logp(model, ids, attn, p, temperature, micro_batch_size) if multi else None
    ref_logp = (_forward_logp(ref_model, ids, attn, p, temperature, micro_batch_size)
                if algo.beta > 0 else None)
    gen = torch.Generator().manual_seed(step_seed)
    sums = {"loss": 0.0, "kl_sum": 0.0, "tokens": 0.0, "ent_sum": 0.0, "clip/low": 0.0, "clip/high": 0.0,
            "ratio/max": 1.0, "ratio/min": 1.0}
    norms = []
    model.train()
    for _epoch in range(algo.epochs):
        order = torch.randperm(rows.numel(), generator=gen) if multi else torch.arange(rows.numel())
        for mb in order.chunk(algo.mini_batches):
            # sequences with no token left (masked truncations) leave numerator and denominator alike
            totals = StepTotals(tokens=int(mask[mb].sum().item()), sequences=int((mask[mb].sum(1) > 0).sum()),
                                max_len=max_new_tokens)
            optimizer.zero_grad(set_to_none=True)
            for i in range(0, mb.numel(), micro_batch_size):
                idx = mb[i:i + micro_batch_size].to(device)
                logp, ent = sequence_logprobs(model, ids[idx], attn[idx], p, temperature, with_entropy=True)
                old = old_logp[idx] if old_logp is not None else logp.detach()
                ref = ref_logp[idx] if ref_logp is not None else None
                loss, st = policy_loss(logp, old, ref, adv[idx], mask[idx], surrogate=algo.surrogate,
                                       aggregation=algo.aggregation, totals=totals, kl=algo.kl, beta=algo.beta,
                                       clip_low=algo.clip_low, clip_high=algo.clip_high, dual_clip=algo.dual_clip)
                loss.backward()
                m = mask[idx].float()
                sums["loss"] += loss.item()
                sums["kl_sum"] += st["kl_sum"]
                sums["tokens"] += st["tokens"]
                sums["ent_sum"] += (ent * m).sum().item()
                for k in ("clip/low", "clip/high"):
                    sums[k] += st.get(k, 0.0) * st["tokens"]
                sums["ratio/max"] = max(sums["ratio/max"], st.get("ratio/max", 1.0))
                sums["ratio/min"] = min(sums["ratio/min"], st.get("ratio/min", 1.0))
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm).item()
            if not math.isfinite(norm):
                optimizer.zero_grad(set_to_none=True)
                stats["update/skipped_nonfinite"] += 1
                continue
            norms.append(norm)
            optimizer.step()
            stats["update/optimizer_steps"] += 1
    tok = max(sums["tokens"], 1.0)
    n_passes = algo.epochs * algo.mini_batches
    stats.update({"loss/policy": sums["loss"] / n_passes, "kl": sums["kl_sum"] / tok if algo.beta > 0 else None,
                  "entropy": sums["ent_sum"] / tok, "clip/low": sums["clip/low"] / tok,
                  "clip/high": sums["clip/high"] / tok, "ratio/max": sums["ratio/max"],
                  "ratio/min": sums["ratio/min"], "grad_norm": sum(norms) / len(norms) if norms else None})
    return stats
