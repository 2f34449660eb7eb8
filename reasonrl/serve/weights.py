"""Weight reload for a running server: read safetensors from a path and copy them into the model in
place (same architecture and shapes), so a trainer can publish new weights without a restart."""
from __future__ import annotations

from pathlib import Path

import torch

from reasonrl.errors import UserError


class WeightsError(UserError):
    """A reload path or its tensors do not fit the served model."""


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a `.safetensors` file, or of every `*.safetensors` in a folder (sharded HF)."""
    from safetensors.torch import load_file

    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(f"weights path '{path}' does not exist")
    files = [p] if p.is_file() else sorted(p.glob("*.safetensors"))
    if not files:
        raise WeightsError(f"weights path '{path}' holds no .safetensors file")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            state.update(load_file(str(f)))
        except Exception as e:  # safetensors raises its own error types for bad headers
            raise WeightsError(f"weights file '{f}': cannot read ({str(e).splitlines()[0]})") from None
    return state


def apply_weights(model, state: dict[str, torch.Tensor]) -> int:
    """Copy `state` into `model`'s parameters and buffers in place; returns the tensors copied.

    Every tensor of the model must be given, except one tied to a given tensor (e.g. `lm_head.weight`
    sharing the embedding). Unknown names and shape mismatches are refused before anything changes."""
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise WeightsError(f"weights have {len(unknown)} tensor(s) the model lacks, e.g. '{unknown[0]}'")
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsError(f"tensor '{k}' has shape {tuple(state[k].shape)}, model expects {tuple(own[k].shape)}")
    given = {own[k].data_ptr() for k in state}
    missing = sorted(k for k in own if k not in state and own[k].data_ptr() not in given)
    if missing:
        raise WeightsError(f"weights lack {len(missing)} tensor(s) of the model, e.g. '{missing[0]}'")
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)
    return len(state)
