"""torch.distributed for data-parallel RL: the torchrun environment, rank helpers, and reductions
that are no-ops in one process (so the single-process path is unchanged, bit for bit).

Data parallel the way reasonrl does it (reasonrl/train/rl.py, reasonrl/train/update.py):
  - every rank draws the same B problems for a step and keeps its contiguous share of B / world
    prompts (`ShardedTask`), so each group of G completions lives on one rank;
  - the loss normalizer (StepTotals: tokens, sequences) is summed over ranks before the loss is
    built, so each rank's loss is its share of the *global* loss;
  - gradients are summed over ranks in one flat all-reduce (`all_reduce_grads`) before clipping,
    so every rank takes the identical optimizer step (no DDP wrapper: a rank whose groups were all
    filtered out still joins the reduction, and `save_pretrained` sees the plain HF model);
  - metrics are combined over ranks (`reduce_metrics`); only rank 0 writes logs and checkpoints.

CPU:   torchrun --nproc_per_node=2 --no-python reasonrl train train.threads=1       (gloo)
GPUs:  torchrun --nproc_per_node=8 --no-python reasonrl train my.yaml                (nccl)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as td


def world_size() -> int:
    return td.get_world_size() if td.is_available() and td.is_initialized() else 1


def rank() -> int:
    return td.get_rank() if td.is_available() and td.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "auto") -> bool:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1; True if distributed.
    nccl when the model goes to CUDA, gloo otherwise (CPU). Safe to call twice."""
    if not launched_by_torchrun():
        return False
    if not td.is_initialized():
        cuda = torch.cuda.is_available() and device != "cpu"
        if cuda:
            torch.cuda.set_device(local_rank())
        td.init_process_group(backend="nccl" if cuda else "gloo", timeout=collective_timeout())
    return True


def collective_timeout():
    """How long a collective waits for the other ranks before failing (a stopped or crashed rank):
    REASONRL_COLLECTIVE_TIMEOUT_S seconds, default 1800."""
    import datetime
    return datetime.timedelta(seconds=float(os.environ.get("REASONRL_COLLECTIVE_TIMEOUT_S") or 1800))


def close() -> None:
    if td.is_available() and td.is_initialized():
        td.barrier()
        td.destroy_process_group()


def rank_device(device: str) -> str:
    """The device of this rank: `auto`/`cuda` become cuda:LOCAL_RANK under torchrun with CUDA."""
    if world_size() > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{local_rank()}"
    return device


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if td.get_backend() == "nccl" else torch.device("cpu")


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """Reduce a list of floats over ranks (sum | max | min); identity in one process."""
    if world_size() == 1 or not values:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    td.all_reduce(t, op={"sum": td.ReduceOp.SUM, "max": td.ReduceOp.MAX, "min": td.ReduceOp.MIN}[op])
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank if it is true on any (stop requests, time budgets)."""
    return bool(all_reduce([float(flag)], "max")[0])


def all_reduce_grads(params) -> None:
    """Sum .grad over ranks in one flat buffer; a missing grad counts as zeros (and becomes one)."""
    if world_size() == 1:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    td.all_reduce(flat, op=td.ReduceOp.SUM)
    i = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[i:i + n].view_as(p.grad))
        i += n


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate equally shaped tensors (n, ...) of all ranks in rank order -> (world * n, ...)."""
    if world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world_size())]
    td.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def broadcast_object(obj):
    """Rank 0's `obj` on every rank (e.g. the checkpoint to resume from)."""
    if world_size() == 1:
        return obj
    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def _rule(key: str) -> str:
    if key.endswith("/max") or key.startswith("time/") or key.startswith("async/") and key.endswith(("_max", "_s")):
        return "max"
    if key.endswith("/min") or key.startswith("async/") and key.endswith("_min"):
        return "min"
    if key.startswith(("tokens/", "flops/", "cost/", "sampling/")) or key.endswith(("_tokens", "/tokens", "flops")):
        return "sum"
    return "mean"


def reduce_metrics(m: dict) -> dict:
    """Combine per-rank metric dicts: maxima (also async/*_max and async/*_s), minima, sums of counts
    (tokens/, flops/, cost/, sampling/), means of the rest (exact for means over equal shards;
    `reward/std` becomes the mean of the ranks' stds). Non-numeric values and keys missing on some
    ranks are taken from rank 0."""
    if world_size() == 1:
        return m
    rows = [None] * world_size()
    td.all_gather_object(rows, m)
    out = dict(rows[0])
    for k, v in rows[0].items():
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
        if len(vals) != len(rows) or isinstance(v, bool):
            continue
        rule = _rule(k)
        x = max(vals) if rule == "max" else min(vals) if rule == "min" else sum(vals)
        out[k] = x / len(vals) if rule == "mean" else (int(x) if isinstance(v, int) else x)
    return out


@dataclass
class ShardedTask:
    """A task whose `train_batch(seed, step, n)` returns this rank's n prompts of the n * world the
    whole job draws for that step: rank r gets the contiguous slice [r*n, (r+1)*n). Everything else
    (held-out split, style, ...) is the wrapped task's."""
    task: object
    rank: int
    world: int

    def train_batch(self, seed: int, step: int, n: int):
        full = self.task.train_batch(seed, step, n * self.world)
        return full[self.rank * n:(self.rank + 1) * n]

    def __getattr__(self, name):
        if name == "task":                  # not yet set (copy/pickle): never recurse
            raise AttributeError(name)
        return getattr(self.task, name)


def gather_rows(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Rows of every rank, which may hold different counts: t (n, ...) of this rank -> (the
    concatenation over ranks in rank order (n_all, ...) on t's device, the index of this rank's first
    row). One process: (t, 0), unchanged."""
    if world_size() == 1:
        return t, 0
    parts = [None] * world_size()
    td.all_gather_object(parts, t.cpu())
    start = sum(p.shape[0] for p in parts[:rank()])
    return torch.cat(parts).to(t.device), start
