"""Collecting one RL step's data: draw problems, sample groups, score them, filter (DAPO dynamic
sampling), compute advantages. Used by the loop in reasonrl/train/rl.py.

`collect` is the one owner of the batch the update trains on: it returns it finished and immutable,
with its advantages computed once (over every rank's rewards under torchrun, so estimators with
batch statistics see the global batch)."""
from __future__ import annotations

import dataclasses
import time

import torch

from reasonrl import dist
from reasonrl.algo.advantages import compute_advantages
from reasonrl.algo.filters import mixed_groups, soft_overlong_penalty
from reasonrl.config import Config
from reasonrl.rollout import cat_generations, select_rows
from reasonrl.types import RolloutBatch
from reasonrl.verifiers.compose import status_metrics

EXTRA_DRAW_STRIDE = 1_000_000   # extra draws of step s use task step s + k * stride (pure in seed, step, k)


def sampling_seed(seed: int, step: int, rank: int) -> int:
    """The torch seed of step `step`'s sampling on `rank`: each step's draws depend on (seed, step, rank) only."""
    return seed * 1_000_003 + step + 1_000_000_007 * rank


def draw(step: int, cfg: Config, task, backend, reward_fn, render) -> RolloutBatch:
    """Sample G completions for each of B problems and score them (advantages not yet set: None)."""
    samples = task.train_batch(cfg.seed, step, cfg.train.prompts_per_step)
    g = cfg.rollout.num_generations
    gen = backend.generate([render(s.prompt) for s in samples], n=g, temperature=cfg.rollout.temperature,
                           top_p=cfg.rollout.top_p, top_k=cfg.rollout.top_k,
                           max_new_tokens=cfg.rollout.max_new_tokens)
    per_seq = [s for s in samples for _ in range(g)]
    ids = [row[m.bool()].tolist() for row, m in zip(gen.completion_ids, gen.completion_mask)]
    rewards, comps, statuses = reward_fn([render.prefill + t for t in gen.texts], per_seq, step=step,
                                         completion_ids=ids, truncated=gen.truncated)
    if cfg.algo.overlong_buffer:
        shaping = soft_overlong_penalty(gen.completion_mask.sum(dim=1), cfg.rollout.max_new_tokens,
                                        cfg.algo.overlong_buffer, cfg.algo.overlong_penalty)
        rewards, comps["overlong"] = rewards + shaping, shaping
    answer = statuses.get("answer", ["n/a"] * len(per_seq))
    return RolloutBatch(samples=samples, group_size=g, gen=gen, rewards=rewards, components=comps,
                        advantages=None, statuses=answer, info=status_metrics(statuses))


def select_groups(batch: RolloutBatch, groups: torch.Tensor) -> RolloutBatch:
    """The sub-batch made of the given group indices (B',)."""
    g = batch.group_size
    rows = (groups[:, None] * g + torch.arange(g)[None, :]).flatten()
    return RolloutBatch(samples=[batch.samples[i] for i in groups.tolist()], group_size=g,
                        gen=select_rows(batch.gen, rows), rewards=batch.rewards[rows],
                        components={k: v[rows] for k, v in batch.components.items()},
                        advantages=None if batch.advantages is None else batch.advantages[rows],
                        statuses=[batch.statuses[i] for i in rows.tolist()])


def merge(batches: list[RolloutBatch], pad_id: int) -> RolloutBatch:
    """Several draws' batches as one (before advantages are computed)."""
    if len(batches) == 1:
        return batches[0]
    keys = set.intersection(*(set(b.components) for b in batches))
    return RolloutBatch(samples=[s for b in batches for s in b.samples], group_size=batches[0].group_size,
                        gen=cat_generations([b.gen for b in batches], pad_id),
                        rewards=torch.cat([b.rewards for b in batches]),
                        components={k: torch.cat([b.components[k] for b in batches]) for k in keys},
                        advantages=None, statuses=[s for b in batches for s in b.statuses])


def advantages(rewards: torch.Tensor, group_size: int, estimator: str, std_floor: float) -> torch.Tensor:
    """rewards (n,) of this rank's groups -> advantages (n,). Under torchrun the estimator sees the
    rewards of every rank (ranks may hold different counts), so batch statistics span the global batch."""
    full, start = dist.gather_rows(rewards)
    if full.numel() == 0:
        return torch.zeros_like(rewards)
    adv = compute_advantages(estimator, full.view(-1, group_size), std_floor).flatten()
    return adv[start:start + rewards.numel()]


def dynamic_sample(step: int, first: RolloutBatch, cfg: Config, task, backend, reward_fn, render):
    """DAPO dynamic sampling: keep the groups of `first` whose raw accuracy is mixed and draw more
    prompts (at most algo.max_resample extra draws) until B mixed groups are kept.
    -> (the kept groups as one batch, sampling metrics)."""
    g, b = first.group_size, cfg.train.prompts_per_step
    kept, n_kept, k, current = [], 0, 0, first
    while True:
        acc = current.components.get("answer", current.rewards).view(-1, g)
        groups = mixed_groups(acc).nonzero().flatten()[: b - n_kept]
        kept.append(select_groups(current, groups))
        n_kept += groups.numel()
        if n_kept >= b or k >= cfg.algo.max_resample:
            break
        k += 1
        current = draw(step + EXTRA_DRAW_STRIDE * k, cfg, task, backend, reward_fn, render)
    batch = merge([x for x in kept if x.samples] or [select_groups(first, torch.arange(0))],
                  backend.tokenizer.pad_token_id)
    return batch, {"sampling/draws": k + 1, "sampling/kept_groups": n_kept}


def sample(step: int, cfg: Config, task, backend, reward_fn, render) -> tuple[RolloutBatch, RolloutBatch, dict]:
    """Sample and score one step's groups (with dynamic sampling's extra draws), advantages not yet set:
    -> (the kept batch, the first draw as sampled from the policy, metrics). The asynchronous rollout
    worker (reasonrl.train.worker) runs this part; no collective inside."""
    t0 = time.time()
    first = draw(step, cfg, task, backend, reward_fn, render)
    batch, m = first, {}
    if cfg.algo.dynamic_sampling:
        batch, m = dynamic_sample(step, first, cfg, task, backend, reward_fn, render)
    m.update({"time/generate_s": time.time() - t0, **first.info})
    return batch, first, m


def finish(batch: RolloutBatch, first: RolloutBatch, cfg: Config) -> tuple[RolloutBatch, RolloutBatch]:
    """Set the advantages of a sampled batch (over every rank's rewards under torchrun: a collective,
    so the trainer runs it) -> (the finished batch, the first draw; the same object without dynamic sampling)."""
    adv = advantages(batch.rewards, batch.group_size, cfg.algo.advantage, cfg.algo.std_floor)
    finished = dataclasses.replace(batch, advantages=adv)
    return finished, finished if batch is first else first


def collect(step: int, cfg: Config, task, backend, reward_fn, render) -> tuple[RolloutBatch, RolloutBatch, dict]:
    """One step's data: returns (the finished batch to train on, the first draw as sampled from the
    policy, metrics). Without dynamic sampling both are the same object."""
    batch, first, m = sample(step, cfg, task, backend, reward_fn, render)
    return (*finish(batch, first, cfg), m)
