"""One RL step's policy update: old/reference logprobs, mini-batches, micro-batches, clipping.

Micro-batching never changes the math: every micro-batch's loss share is normalized by the totals
of its whole optimizer step (algo.aggregation.StepTotals), so 1x8 and 8x1 give the same gradient.
Data parallel (reasonrl.dist) never changes it either: the totals are summed over ranks before the
loss is built and the gradients are summed over ranks before clipping, so 2 ranks with half the
groups each take the same optimizer step as one process with all of them.
"""
from __future__ import annotations

import math

import torch

from reasonrl import dist, fsdp
from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.logprobs import sequence_logprobs
from reasonrl.algo.loss import policy_loss
from reasonrl.algo.tis import tis_weights


def build_inputs(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """-> input_ids (N, P+T), attention_mask (N, P+T), loss mask (N, T), P; T trimmed to the
    longest completion."""
    g = batch.gen
    t = max(int(g.completion_mask.sum(dim=1).max().item()), 1) if g.completion_mask.numel() else 1
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


def _width(attn: torch.Tensor, p: int) -> int:
    """Longest completion of a micro-batch: attn (n, P+T) -> the T its forward needs (>= 1)."""
    return max(int(attn[:, p:].sum(1).max().item()), 1) if attn.shape[0] else 1


@torch.no_grad()
def _forward_logp(model, ids, attn, p, temperature, micro, autocast="none"):
    """(n, P+T) -> logprobs (n, T); each micro-batch runs only up to its own longest completion (0 after)."""
    out = torch.zeros(ids.shape[0], ids.shape[1] - p, device=ids.device)
    n_micro = -(-ids.shape[0] // micro)
    busiest = _busiest(model, n_micro)
    for i in range(0, ids.shape[0], micro):
        t = _width(attn[i:i + micro], p)
        out[i:i + micro, :t] = sequence_logprobs(model, ids[i:i + micro, :p + t], attn[i:i + micro, :p + t], p,
                                                 temperature, autocast=autocast)[0]
    _idle_passes(model, ids.device, busiest - n_micro, temperature, autocast, backward=False)
    return out


def _busiest(model, n_micro: int) -> int:
    """FSDP: the most micro-batches any rank runs in this pass (asked before any of them runs, so the
    collectives stay in the same order on every rank); n_micro otherwise."""
    return int(dist.all_reduce([float(n_micro)], "max")[0]) if fsdp.is_sharded(model) else n_micro


def _idle_passes(model, device, missing: int, temperature, autocast, backward: bool) -> None:
    """FSDP: every rank must run as many forwards (and backwards) as the busiest one; a rank with
    `missing` micro-batches fewer runs them on a 2-token dummy with zero weight."""
    ids = torch.zeros(1, 2, dtype=torch.long, device=device)
    for _ in range(missing):
        with torch.set_grad_enabled(backward):
            logp = sequence_logprobs(model, ids, torch.ones_like(ids), 1, temperature, autocast=autocast)[0]
        if backward:
            (logp.sum() * 0.0).backward()


def policy_update(model, ref_model, optimizer, batch, algo, *, temperature: float, max_new_tokens: int,
                  micro_batch_size: int, max_grad_norm: float, step_seed: int, autocast: str = "none") -> dict:
    """Run algo.epochs x algo.mini_batches optimizer steps on one rollout batch; return stats.
    autocast='bfloat16' runs every forward under torch.autocast (bf16); backward and optimizer stay outside."""
    device = next(model.parameters()).device
    rows = kept_rows(batch, algo)
    n_all = int(dist.all_reduce([float(rows.numel())])[0])       # every rank decides alike
    stats = {"update/sequences": n_all, "update/optimizer_steps": 0, "update/skipped_nonfinite": 0}
    if n_all == 0:
        return stats
    ids, attn, mask, p = (x.to(device) if torch.is_tensor(x) else x for x in build_inputs(batch))
    multi = algo.epochs * algo.mini_batches > 1
    if not multi:     # longest first: micro-batches of similar lengths, each cut to its own longest (no padding work)
        rows = rows[torch.argsort(attn[rows, p:].sum(1).cpu(), descending=True, stable=True)]
    ids, attn, mask = ids[rows], attn[rows], mask[rows].clone()
    adv = batch.advantages.to(device)[rows]
    if algo.mask_truncated:
        mask[batch.gen.truncated.to(device)[rows]] = 0
    tis = getattr(algo, "tis", None) or "none"      # off, or no sampler logprobs (hf backend): no weights
    samp = (batch.gen.sampler_logp.to(device)[rows][:, :mask.shape[1]]
            if batch.gen.sampler_logp is not None else None)
    old_logp = _forward_logp(model, ids, attn, p, temperature, micro_batch_size, autocast) if multi else None
    ref_logp = (_forward_logp(ref_model, ids, attn, p, temperature, micro_batch_size, autocast)
                if algo.beta > 0 else None)
    gen = torch.Generator().manual_seed(step_seed)
    sums = {"loss": 0.0, "kl_sum": 0.0, "tokens": 0.0, "ent_sum": 0.0, "clip/low": 0.0, "clip/high": 0.0,
            "ratio/max": 1.0, "ratio/min": 1.0, "tis_sum": 0.0, "tis_capped": 0.0, "mismatch": 0.0}
    norms = []
    model.train()
    for _epoch in range(algo.epochs):
        order = torch.randperm(rows.numel(), generator=gen) if multi else torch.arange(rows.numel())
        for mb in _mini_batches(order, algo.mini_batches):
            totals = step_totals(mask[mb], max_new_tokens)
            optimizer.zero_grad(set_to_none=True)
            n_micro = -(-mb.numel() // micro_batch_size)
            busiest = _busiest(model, n_micro)
            for i in range(0, mb.numel(), micro_batch_size):
                idx = mb[i:i + micro_batch_size].to(device)
                t = _width(attn[idx], p)
                logp, ent = sequence_logprobs(model, ids[idx, :p + t], attn[idx, :p + t], p, temperature,
                                              with_entropy=True, autocast=autocast)
                old = old_logp[idx, :t] if old_logp is not None else logp.detach()
                ref = ref_logp[idx, :t] if ref_logp is not None else None
                mk, sp = mask[idx, :t], (samp[idx, :t] if samp is not None else None)
                w = tis_weights(old, sp, mk, level=tis, cap=algo.tis_cap) if sp is not None else None
                loss, st = policy_loss(logp, old, ref, adv[idx], mk, surrogate=algo.surrogate,
                                       aggregation=algo.aggregation, totals=totals, kl=algo.kl, beta=algo.beta,
                                       clip_low=algo.clip_low, clip_high=algo.clip_high, dual_clip=algo.dual_clip,
                                       is_weights=w)
                loss.backward()
                m = mk.float()
                if sp is not None:      # rollout/trainer logprob mismatch, every step, on the rollouts
                    sums["mismatch"] += ((old - sp).abs() * m).sum().item()
                if w is not None:
                    sums["tis_sum"] += (w * m).sum().item()
                    sums["tis_capped"] += ((w >= algo.tis_cap) * m).sum().item()
                sums["loss"] += loss.item()
                sums["kl_sum"] += st["kl_sum"]
                sums["tokens"] += st["tokens"]
                sums["ent_sum"] += (ent * m).sum().item()
                for k in ("clip/low", "clip/high"):
                    sums[k] += st.get(k, 0.0) * st["tokens"]
                sums["ratio/max"] = max(sums["ratio/max"], st.get("ratio/max", 1.0))
                sums["ratio/min"] = min(sums["ratio/min"], st.get("ratio/min", 1.0))
            _idle_passes(model, device, busiest - n_micro, temperature, autocast, backward=True)
            if not fsdp.is_sharded(model):     # FSDP has already summed them in its reduce-scatter
                dist.all_reduce_grads(model.parameters())
            norm = fsdp.item(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
            if not math.isfinite(norm):
                optimizer.zero_grad(set_to_none=True)
                stats["update/skipped_nonfinite"] += 1
                continue
            norms.append(norm)
            optimizer.step()
            stats["update/optimizer_steps"] += 1
    sums = _reduce_sums(sums)
    tok = max(sums["tokens"], 1.0)
    n_passes = algo.epochs * algo.mini_batches
    stats.update({"loss/policy": sums["loss"] / n_passes, "kl": sums["kl_sum"] / tok if algo.beta > 0 else None,
                  "entropy": sums["ent_sum"] / tok, "clip/low": sums["clip/low"] / tok,
                  "clip/high": sums["clip/high"] / tok, "ratio/max": sums["ratio/max"],
                  "ratio/min": sums["ratio/min"], "grad_norm": sum(norms) / len(norms) if norms else None})
    if samp is not None:
        stats["rollout/logp_abs_diff"] = sums["mismatch"] / tok
    if samp is not None and tis != "none":
        stats.update({"tis/weight_mean": sums["tis_sum"] / tok, "tis/capped": sums["tis_capped"] / tok})
    return stats


def step_totals(mask: torch.Tensor, max_new_tokens: int) -> StepTotals:
    """The optimizer step's normalizer from its loss mask (n, T), summed over every rank. Sequences
    with no token left (masked truncations) leave numerator and denominator alike."""
    tokens, seqs = dist.all_reduce([float(mask.sum().item()), float((mask.sum(1) > 0).sum().item())])
    return StepTotals(tokens=int(tokens), sequences=int(seqs), max_len=max_new_tokens)


def _mini_batches(order: torch.Tensor, k: int) -> list[torch.Tensor]:
    """order.chunk(k); under data parallel padded with empty chunks to exactly k, so every rank
    joins the same number of gradient reductions even with fewer rows than mini-batches."""
    parts = list(order.chunk(k)) if order.numel() else []
    if dist.world_size() > 1:
        parts += [order[:0]] * (k - len(parts))
    return parts


def _reduce_sums(sums: dict) -> dict:
    """Token sums and clip counts summed over ranks, ratio extremes maxed/minned (no-op in one process)."""
    keys = [k for k in sums if not k.startswith("ratio/")]
    out = dict(zip(keys, dist.all_reduce([sums[k] for k in keys], "sum")))
    out["ratio/max"] = dist.all_reduce([sums["ratio/max"]], "max")[0]
    out["ratio/min"] = dist.all_reduce([sums["ratio/min"]], "min")[0]
    return out
