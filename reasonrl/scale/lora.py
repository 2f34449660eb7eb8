"""LoRA adapters through `peft` for RL and SFT (opt-in: `model.lora_r > 0`), and the bf16 autocast switch.

The policy is the loaded HF causal LM wrapped by `peft.get_peft_model`: only the adapter weights
(lora_A, lora_B of the `model.lora_targets` modules) are trainable; the base weights stay frozen and
bit-identical. The KL reference stays the frozen base model. Checkpoints hold the adapter only
(`adapter_config.json`, `adapter_model.safetensors`) next to the trainer state; resume loads the base
from `model.path` and the adapter from the checkpoint. `final/` (and anything served) is the plain HF
model with the adapters merged in (`merged`), loadable by `reasonrl.models.load_model`.

Departure from the paper: R1 trains all weights; LoRA is a cost option (Hu et al. 2021), off by default.

CPU:   reasonrl train model.lora_r=4 train.steps=3 out=runs/lora
       reasonrl sft data.files=[traces.jsonl] model.lora_r=8 train.lr=1e-3 out=runs/sft-lora
GPUs:  reasonrl train my.yaml model.path=/models/Qwen2.5-7B model.lora_r=64 model.lora_alpha=128 \
           model.autocast=bfloat16
`peft` is the optional extra `pip install -e '.[lora]'`, imported only when LoRA is on.
"""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import torch

from reasonrl.config import ConfigError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
AUTOCAST = {"none": None, "bfloat16": torch.bfloat16}


def check(m) -> None:
    """Validate the LoRA / autocast keys of a ModelConfig; raises ConfigError naming the key."""
    if m.autocast not in AUTOCAST:
        raise ConfigError(f"config key 'model.autocast': unknown value '{m.autocast}' (choose from "
                          f"{', '.join(AUTOCAST)})")
    if m.lora_r < 0:
        raise ConfigError(f"config key 'model.lora_r' must be >= 0 (0 = off), got {m.lora_r}")
    if m.lora_r and not m.lora_targets:
        raise ConfigError("config key 'model.lora_targets' must name at least one module when model.lora_r > 0")
    if not 0.0 <= m.lora_dropout < 1.0:
        raise ConfigError(f"config key 'model.lora_dropout' must be in [0, 1), got {m.lora_dropout}")


def is_lora(model) -> bool:
    """True for a peft-wrapped model (checked without importing peft)."""
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def _peft():
    try:
        import peft
    except ImportError:
        raise ConfigError("config key 'model.lora_r': LoRA needs the optional extra peft "
                          "(pip install -e '.[lora]')") from None
    return peft


def wrap(model, m, seed: int = 0, adapter_dir: Path | None = None):
    """Wrap a loaded HF causal LM with fresh LoRA adapters (initialised from `seed`, so runs repeat),
    or with the adapters saved in `adapter_dir`; -> a peft PeftModel whose only trainable parameters
    are the adapters. `m` is the ModelConfig."""
    check(m)
    peft = _peft()
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in m.lora_targets if t not in names]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, mod in model.named_modules()
                         if isinstance(mod, torch.nn.Linear) and n.rsplit(".", 1)[-1] != "lm_head"})
        raise ConfigError(f"config key 'model.lora_targets': no module named {', '.join(missing)} in "
                          f"{type(model).__name__} (its linear layers: {', '.join(linear)}; choose with "
                          f"model.lora_targets=[...], docs/model-families.md)")
    lcfg = peft.LoraConfig(r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
                           target_modules=list(m.lora_targets), task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wrapped = peft.get_peft_model(model, lcfg)
    if adapter_dir is not None:
        load_adapter(wrapped, adapter_dir)
    return wrapped


def load_adapter(model, folder: Path) -> None:
    """Load the adapter weights saved by `model.save_pretrained(folder)` into a wrapped model."""
    from safetensors.torch import load_file

    f = Path(folder) / ADAPTER_FILES[1]
    if not f.is_file():
        raise ConfigError(f"model.lora_r > 0 but checkpoint {folder} holds no {ADAPTER_FILES[1]} "
                          f"(was it trained without LoRA?)")
    device = next(model.parameters()).device
    result = _peft().set_peft_model_state_dict(model, load_file(str(f), device=str(device)))
    if getattr(result, "unexpected_keys", None):
        raise ConfigError(f"checkpoint {folder}: adapter keys do not match model.lora_targets "
                          f"({result.unexpected_keys[0]}, ...)")


def describe(model, m) -> str:
    """One log line: rank, alpha, targets and the number of trainable parameters of a wrapped model."""
    n = sum(p.numel() for p in trainable(model))
    return f"LoRA r={m.lora_r} alpha={m.lora_alpha} on {','.join(m.lora_targets)}: {n:,} trainable parameters"


def trainable(model) -> list[torch.nn.Parameter]:
    """The parameters the optimizer updates (all of them without LoRA, the adapters with it)."""
    return [p for p in model.parameters() if p.requires_grad]


def merged(model):
    """A plain HF model with the adapters merged into the base weights (a copy; `model` is untouched);
    a model without adapters is returned as is."""
    if not is_lora(model):
        return model
    return copy.deepcopy(model).merge_and_unload()


def autocast(mode: str, device: torch.device | str):
    """Context for a policy forward: torch.autocast in bf16 when mode == 'bfloat16', else a no-op."""
    dtype = AUTOCAST.get(mode)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
