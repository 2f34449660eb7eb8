"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for models whose weights, gradients and AdamW state do not
fit on one device: `train.fsdp=true` under torchrun.

How reasonrl uses it (reasonrl/train/rl.py, reasonrl/train/update.py):
  - every decoder layer (the classes in the model's `_no_split_modules`) and then the whole model are
    sharded over all ranks; parameters, gradients and optimizer state live 1/world on each rank;
  - gradients are *summed* over ranks in FSDP's reduce-scatter (divide factor 1), exactly like the
    plain data-parallel path's all-reduce: each rank's loss is its share of the global loss;
  - each forward and backward all-gathers / reduce-scatters, so every rank must run the same number
    of them: a rank with fewer micro-batches runs zero-weight 2-token passes (`reasonrl.train.update`);
  - rollouts and evaluation run inside `gathered(model)`: the full parameters are gathered once on
    every rank and kept until the block ends, so generation (whose number of decode steps differs per
    rank) runs no collectives. Like verl's colocated engine with tensor parallel 1, the full weights
    are therefore resident during generation; the update itself runs sharded;
  - checkpoints hold the full (unsharded) weights as a plain HF folder and the optimizer state keyed by
    parameter name, gathered to rank 0, so a run resumes on any number of processes, with or without FSDP.

Departures: no mixed-precision policy (use model.dtype / model.autocast), no CPU offload, no LoRA or
rollout-server/vLLM backends with FSDP yet (refused with a clear error).

CPU (tests): torchrun --nproc_per_node=2 --no-python reasonrl train train.fsdp=true train.threads=1
GPUs:        torchrun --nproc_per_node=8 --no-python reasonrl train my.yaml train.fsdp=true model.dtype=bfloat16
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


def _api():
    from torch.distributed.fsdp import FSDPModule, fully_shard
    return FSDPModule, fully_shard


def is_sharded(model) -> bool:
    """True if `model` was wrapped by `shard` (FSDP2)."""
    if model is None or not torch.distributed.is_available():
        return False
    return isinstance(model, _api()[0])


def shard(model):
    """Shard every decoder layer, then the root, over the default process group (in place; -> model).
    Gradients are summed over ranks, not averaged."""
    _, fully_shard = _api()
    layer_types = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in layer_types]
    if not layers:
        raise ValueError(f"{type(model).__name__} names no decoder layer class (_no_split_modules): "
                         f"cannot shard it with FSDP")
    for layer in layers:
        fully_shard(layer)
    fully_shard(model)
    for m in _fsdp_modules(model):
        m.set_gradient_divide_factor(1.0)
        m.set_force_sum_reduction_for_comms(True)     # plain SUM (gloo has no PREMUL_SUM)
    return model


def _fsdp_modules(model) -> list:
    FSDPModule, _ = _api()
    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextmanager
def gathered(model):
    """Full parameters on every rank for the block (generation, evaluation), no collectives inside it.
    Collective on entry: every rank must enter. A no-op for a model that is not sharded."""
    if not is_sharded(model):
        yield model
        return
    mods = _fsdp_modules(model)
    for m in mods:
        m.unshard()
    for m in mods:
        m.set_reshard_after_forward(False, recurse=False)
    try:
        yield model
    finally:
        for m in mods:
            m.set_reshard_after_forward(True, recurse=False)
            m.reshard()


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    return StateDictOptions(full_state_dict=True, **kw)


def full_state(model) -> dict | None:
    """The full (unsharded) state dict on CPU, on rank 0 ({} on the others); None for a plain model (use
    the model itself). Collective for a sharded model: every rank must call it."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import get_model_state_dict
    return get_model_state_dict(model, options=_options(cpu_offload=True))


def load_full_state(model, state: dict) -> None:
    """Load a full state dict (as `full_state` or a plain model's state_dict() gives) into `model`."""
    if not is_sharded(model):
        model.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_model_state_dict
    set_model_state_dict(model, state, options=_options())


def optim_state(model, optimizer) -> dict:
    """The optimizer state to checkpoint: `optimizer.state_dict()` for a plain model; for a sharded one the
    full state keyed by parameter name (gathered to rank 0; collective)."""
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def by_name(state: dict, names: list[str]) -> dict:
    """A torch optimizer state_dict keyed by parameter index -> the same keyed by parameter name.
    names[i] is the name of the optimizer's i-th parameter (one param group in reasonrl)."""
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    return {"state": {names[i]: s for i, s in state["state"].items()}, "param_groups": groups}


def load_optim_state(model, optimizer, state: dict) -> None:
    """Restore a checkpoint's optimizer state, whichever way it was saved (by index from a plain run, by
    name from an FSDP run) into a plain or a sharded model's optimizer."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    keyed_by_name = any(isinstance(p, str) for g in state["param_groups"] for p in g["params"])
    if not is_sharded(model):
        optimizer.load_state_dict(by_index(state, names) if keyed_by_name else state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict
    set_optimizer_state_dict(model, optimizer, state if keyed_by_name else by_name(state, names), options=_options())


def by_index(state: dict, names: list[str]) -> dict:
    """The inverse of `by_name`: a state keyed by parameter name -> keyed by the optimizer's index."""
    index = {n: i for i, n in enumerate(names)}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]]
    return {"state": {index[n]: s for n, s in state["state"].items()}, "param_groups": groups}


def item(x) -> float:
    """A scalar tensor (or DTensor, as clip_grad_norm_ returns for sharded parameters) -> float."""
    return (x.full_tensor() if hasattr(x, "full_tensor") else x).item()
