"""One RL step's policy update: old/reference logprobs, mini-batches, micro-batches, clipping.

Micro-batching never changes the math: every micro-batch's loss share is normalized by the totals
of its whole optimizer step (algo.aggregation.StepTotals), so 1x8 and 8x1 give the same gradient.
Data parallel (reasonrl.dist) never changes it either: the totals are summed over ranks before the
loss is built and the gradients are summed over ranks before clipping, so 2 ranks with half the
groups each take the same optimizer step as one process with all of them.

The update owns which rows it trains on (`plan`): it reports them with its statistics
(`UpdateResult.usage`), and cost accounting (reasonrl.report.cost) reads that report.

MoE policies (reasonrl.rollout.routing): the gradient forwards count router telemetry (moe/* stats),
and a batch that carries the sampler's experts (Generations.routing, rollout.routing_replay) has
them replayed in every forward of the update: old policy, reference and gradient passes.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from reasonrl import dist
from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.logprobs import sequence_logprobs
from reasonrl.algo.loss import policy_loss
from reasonrl.algo.tis import is_mask, tis_weights
from reasonrl.rollout.routing import RouterHooks, telemetry
from reasonrl.scale import fsdp, lora
from reasonrl.types import RolloutBatch, UpdateUsage


@dataclass(frozen=True)
class UpdateResult:
    stats: dict             # metrics of the update (combined over ranks)
    usage: UpdateUsage      # the rows and passes this rank's update used


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


def plan(batch: RolloutBatch, algo) -> UpdateUsage:
    """The rows the update trains on (kept_rows) and what they cost: prompt + completion tokens, loss
    tokens (after algo.mask_truncated), passes with gradient (epochs) and without (reference when
    beta > 0, old policy when epochs * mini_batches > 1)."""
    g, rows = batch.gen, kept_rows(batch, algo)
    seq = (g.prompt_mask.sum(dim=1) + g.completion_mask.sum(dim=1))[rows.to(g.prompt_mask.device)]
    loss = g.completion_mask.sum(dim=1)
    if algo.mask_truncated:
        loss = loss * (~g.truncated).long()
    return UpdateUsage(rows=rows, seq_tokens=int(seq.sum().item()),
                       loss_tokens=int(loss[rows.to(loss.device)].sum().item()), epochs=algo.epochs,
                       logprob_passes=int((algo.beta or 0) > 0) + int(algo.epochs * algo.mini_batches > 1))


def _width(attn: torch.Tensor, p: int) -> int:
    """Longest completion of a micro-batch: attn (n, P+T) -> the T its forward needs (>= 1)."""
    return max(int(attn[:, p:].sum(1).max().item()), 1) if attn.shape[0] else 1


def _logp(model, ids, attn, p, temperature, autocast, with_entropy=False):
    return sequence_logprobs(model, ids, attn, p, temperature, with_entropy=with_entropy,
                             autocast=lora.autocast(autocast, ids.device))


@contextlib.contextmanager
def _routed(hooks: RouterHooks | None, routing, attn, count: bool):
    """A micro-batch's forward (and backward) on an MoE model: its recorded experts routing (n, W, L, k)
    replayed when not None, its real tokens (attn (n, W) = 1) counted in the telemetry when `count`.
    Nothing at all for a dense model (hooks None)."""
    if hooks is None:
        yield
        return
    hooks.replay = None if routing is None else routing.flatten(0, 1)
    hooks.mask = attn.flatten().bool() if count else None
    try:
        with hooks:
            yield
    finally:
        hooks.replay = hooks.mask = None


@torch.no_grad()
def _forward_logp(model, ids, attn, p, temperature, micro, autocast="none", routing=None):
    """(n, P+T) -> logprobs (n, T); each micro-batch runs only up to its own longest completion (0 after).
    routing (n, P+T, L, k): the experts to replay (MoE), or None."""
    out = torch.zeros(ids.shape[0], ids.shape[1] - p, device=ids.device)
    n_micro = -(-ids.shape[0] // micro)
    busiest = _busiest(model, n_micro)
    hooks = RouterHooks.of(model) if routing is not None else None
    for i in range(0, ids.shape[0], micro):
        t = _width(attn[i:i + micro], p)
        with _routed(hooks, None if hooks is None else routing[i:i + micro, :p + t],
                     attn[i:i + micro, :p + t], False):
            out[i:i + micro, :t] = _logp(model, ids[i:i + micro, :p + t], attn[i:i + micro, :p + t], p,
                                         temperature, autocast)[0]
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
            logp = _logp(model, ids, torch.ones_like(ids), 1, temperature, autocast)[0]
        if backward:
            (logp.sum() * 0.0).backward()


@dataclass
class _Inputs:
    """The update's rows on the model's device: ids, attn (n, P+T), mask (n, T), adv (n,), samp (n, T) or None,
    routing (n, P+T, L, k) the sampler's MoE experts or None (on the CPU: each micro-batch's slice moves)."""
    ids: torch.Tensor
    attn: torch.Tensor
    mask: torch.Tensor
    p: int
    adv: torch.Tensor
    samp: torch.Tensor | None
    routing: torch.Tensor | None = None
    old_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None
    hooks: RouterHooks | None = None      # the policy's router hooks (None: dense)


def _inputs(batch, algo, rows: torch.Tensor, device, multi: bool) -> tuple[_Inputs, torch.Tensor]:
    """The kept rows' tensors, longest first when there is a single pass; -> (inputs, rows in that order)."""
    ids, attn, mask, p = (x.to(device) if torch.is_tensor(x) else x for x in build_inputs(batch))
    if not multi:     # longest first: micro-batches of similar lengths, each cut to its own longest (no padding work)
        rows = rows[torch.argsort(attn[rows, p:].sum(1).cpu(), descending=True, stable=True)]
    ids, attn, mask = ids[rows], attn[rows], mask[rows].clone()
    adv = batch.advantages.to(device)[rows]
    if algo.mask_truncated:
        mask[batch.gen.truncated.to(device)[rows]] = 0
    samp = (batch.gen.sampler_logp.to(device)[rows][:, :mask.shape[1]]
            if batch.gen.sampler_logp is not None else None)
    routing = (batch.gen.routing[rows.to(batch.gen.routing.device)][:, :ids.shape[1]]    # stays where it is (CPU)
               if batch.gen.routing is not None else None)
    return _Inputs(ids, attn, mask, p, adv, samp, routing), rows


def _micro_step(model, x: _Inputs, idx, algo, totals: StepTotals, temperature, autocast, sums: dict) -> None:
    """Forward + backward of one micro-batch (rows idx of x); adds its statistics to `sums`."""
    t = _width(x.attn[idx], x.p)
    routing = None if x.routing is None else x.routing[idx.to(x.routing.device), :x.p + t]
    with _routed(x.hooks, routing, x.attn[idx, :x.p + t], True):
        logp, ent = _logp(model, x.ids[idx, :x.p + t], x.attn[idx, :x.p + t], x.p, temperature, autocast,
                          with_entropy=True)
        _micro_loss(logp, ent, x, idx, t, algo, totals, sums)


def _micro_loss(logp, ent, x: _Inputs, idx, t: int, algo, totals: StepTotals, sums: dict) -> None:
    """The loss of one micro-batch's logprobs/entropy (rows idx of x, width t), its backward and statistics."""
    tis = getattr(algo, "tis", None) or "none"      # off, or no sampler logprobs (hf backend): no weights
    old = x.old_logp[idx, :t] if x.old_logp is not None else logp.detach()
    ref = x.ref_logp[idx, :t] if x.ref_logp is not None else None
    mk, sp = x.mask[idx, :t], (x.samp[idx, :t] if x.samp is not None else None)
    w = tis_weights(old, sp, mk, level=tis, cap=algo.tis_cap, low=algo.tis_low,
                    high=algo.tis_high) if sp is not None else None
    loss, st = policy_loss(logp, old, ref, x.adv[idx], mk, surrogate=algo.surrogate,
                           aggregation=algo.aggregation, totals=totals, kl=algo.kl, beta=algo.beta,
                           clip_low=algo.clip_low, clip_high=algo.clip_high, dual_clip=algo.dual_clip,
                           is_weights=w)
    loss.backward()
    m = mk.float()
    if sp is not None:      # rollout/trainer logprob mismatch, every step, on the rollouts
        sums["mismatch"] += ((old - sp).abs() * m).sum().item()
    if w is not None:
        _tis_sums(w, m, algo.tis_cap, sums)
    sums["loss"] += loss.item()
    sums["kl_sum"] += st["kl_sum"]
    sums["tokens"] += st["tokens"]
    sums["ent_sum"] += (ent * m).sum().item()
    for k in ("clip/low", "clip/high"):
        sums[k] += st.get(k, 0.0) * st["tokens"]
    sums["ratio/max"] = max(sums["ratio/max"], st.get("ratio/max", 1.0))
    sums["ratio/min"] = min(sums["ratio/min"], st.get("ratio/min", 1.0))


def _tis_sums(w: torch.Tensor, m: torch.Tensor, cap: float, sums: dict) -> None:
    """Adds the correction's statistics over the loss tokens m (n, T) of weights w (n, T): their sum, the
    tokens at the TIS cap, the tokens masked out (weight 0), and the sequences with every token masked."""
    sums["tis_sum"] += (w * m).sum().item()
    sums["tis_capped"] += ((w >= cap) * m).sum().item()
    masked = (w == 0) & (m > 0)                                               # (n, T)
    live = m.sum(dim=1) > 0                                                   # (n,) sequences in the loss
    sums["tis_masked"] += masked.sum().item()
    sums["tis_masked_seqs"] += (live & (masked.sum(dim=1) == m.sum(dim=1))).sum().item()
    sums["seqs"] += live.sum().item()


def _optimizer_step(model, optimizer, max_grad_norm: float, stats: dict, norms: list) -> None:
    """Sum gradients over ranks, clip, and step (skipped, counted, when the norm is not finite)."""
    if not fsdp.is_sharded(model):     # FSDP has already summed them in its reduce-scatter
        dist.all_reduce_grads(model.parameters())
    norm = fsdp.item(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
    if not math.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        stats["update/skipped_nonfinite"] += 1
        return
    norms.append(norm)
    optimizer.step()
    stats["update/optimizer_steps"] += 1


def policy_update(model, ref_model, optimizer, batch: RolloutBatch, algo, *, max_new_tokens: int,
                  micro_batch_size: int, max_grad_norm: float, step_seed: int, autocast: str = "none") -> UpdateResult:
    """Run algo.epochs x algo.mini_batches optimizer steps on one rollout batch; return its stats and usage.
    Logprobs use the temperature the batch was sampled at (batch.gen.temperature).
    autocast='bfloat16' runs every forward under torch.autocast (bf16); backward and optimizer stay outside."""
    device, temperature = next(model.parameters()).device, batch.gen.temperature
    usage = plan(batch, algo)
    n_all = int(dist.all_reduce([float(usage.rows.numel())])[0])       # every rank decides alike
    stats = {"update/sequences": n_all, "update/optimizer_steps": 0, "update/skipped_nonfinite": 0}
    if n_all == 0:
        return UpdateResult(stats, usage)
    multi = algo.epochs * algo.mini_batches > 1
    x, rows = _inputs(batch, algo, usage.rows, device, multi)
    if multi:
        x.old_logp = _forward_logp(model, x.ids, x.attn, x.p, temperature, micro_batch_size, autocast, x.routing)
    if algo.beta > 0:
        x.ref_logp = _forward_logp(ref_model, x.ids, x.attn, x.p, temperature, micro_batch_size, autocast,
                                   x.routing)
    x.hooks = RouterHooks.of(model)
    gen = torch.Generator().manual_seed(step_seed)
    sums = {"loss": 0.0, "kl_sum": 0.0, "tokens": 0.0, "ent_sum": 0.0, "clip/low": 0.0, "clip/high": 0.0,
            "ratio/max": 1.0, "ratio/min": 1.0, "tis_sum": 0.0, "tis_capped": 0.0, "tis_masked": 0.0,
            "tis_masked_seqs": 0.0, "seqs": 0.0, "mismatch": 0.0}
    norms: list[float] = []
    model.train()
    for _epoch in range(algo.epochs):
        order = torch.randperm(rows.numel(), generator=gen) if multi else torch.arange(rows.numel())
        for mb in _mini_batches(order, algo.mini_batches):
            totals = step_totals(x.mask[mb], max_new_tokens)
            optimizer.zero_grad(set_to_none=True)
            n_micro = -(-mb.numel() // micro_batch_size)
            busiest = _busiest(model, n_micro)
            for i in range(0, mb.numel(), micro_batch_size):
                _micro_step(model, x, mb[i:i + micro_batch_size].to(device), algo, totals, temperature, autocast, sums)
            _idle_passes(model, device, busiest - n_micro, temperature, autocast, backward=True)
            _optimizer_step(model, optimizer, max_grad_norm, stats, norms)
    stats.update(_summary(_reduce_sums(sums), algo, norms, x.samp is not None))
    if x.hooks is not None:       # every rank holds the same routers: the sums line up
        stats.update(telemetry(dist.all_reduce(x.hooks.take_sums()), len(x.hooks.mods), x.hooks.n_experts,
                               x.routing is not None))
    return UpdateResult(stats, usage)


def _summary(sums: dict, algo, norms: list[float], sampler: bool) -> dict:
    """The update's metrics from its summed statistics (token means, clip rates, ratio extremes)."""
    tok = max(sums["tokens"], 1.0)
    out = {"loss/policy": sums["loss"] / (algo.epochs * algo.mini_batches),
           "kl": sums["kl_sum"] / tok if algo.beta > 0 else None,
           "entropy": sums["ent_sum"] / tok, "clip/low": sums["clip/low"] / tok,
           "clip/high": sums["clip/high"] / tok, "ratio/max": sums["ratio/max"],
           "ratio/min": sums["ratio/min"], "grad_norm": sum(norms) / len(norms) if norms else None}
    if sampler:
        out["rollout/logp_abs_diff"] = sums["mismatch"] / tok
    tis = getattr(algo, "tis", None) or "none"
    if sampler and tis != "none":
        out["tis/weight_mean"] = sums["tis_sum"] / tok
        if is_mask(tis):
            out.update({"tis/masked": sums["tis_masked"] / tok,
                        "tis/masked_seqs": sums["tis_masked_seqs"] / max(sums["seqs"], 1.0)})
        else:
            out["tis/capped"] = sums["tis_capped"] / tok
    return out


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
