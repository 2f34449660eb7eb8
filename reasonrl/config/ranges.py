"""The range of every numeric config key, checked before anything runs or is written."""
from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from reasonrl.errors import ConfigError


# ---------------------------------------------------------------- value ranges of every numeric key
# Checked by load_config before anything runs or is written. A rule is (low, low_inclusive, high,
# high_inclusive), None = unbounded. A key is looked up by its dotted name ("train.lr"), then by its
# last part ("lr"); a numeric key listed nowhere must be >= 0 (no setting of this package is negative).
_AT_LEAST_1, _POSITIVE, _UNIT = (1, True, None, False), (0, False, None, False), (0, True, 1, True)
_BELOW_1, _UP_TO_1 = (0, True, 1, False), (0, False, 1, True)
RANGES: dict[str, tuple] = {
    **dict.fromkeys((
        "rollout.max_new_tokens", "rollout.server_retries", "train.prompts_per_step", "train.micro_batch_size",
        "train.checkpoint_every", "train.keep_checkpoints", "train.batch_size", "train.epochs", "train.log_every",
        "algo.epochs", "algo.mini_batches", "task.heldout_size", "data.max_length", "eval.max_new_tokens",
        "prompts.count", "steps", "sample.k", "sample.max_new_tokens", "sample.batch_prompts", "batch_size", "hidden",
        "layers", "heads", "intermediate", "gate_chunk_steps", "eval_size", "bpe_vocab", "max_positions",
        "verify.code_cpu_s", "verify.code_memory_mb", "verify.code_procs", "verify.code_file_mb",
        "verify.code_output_kb"), _AT_LEAST_1),
    **dict.fromkeys(("lr", "rollout.temperature", "sample.temperature", "eval.temperature", "max_grad_norm",
                     "rollout.server_timeout_s", "algo.tis_cap", "algo.tis_high", "verify.math_timeout_s",
                     "verify.code_wall_s", "lora_alpha"), _POSITIVE),
    **dict.fromkeys(("top_p", "rollout.vllm_gpu_memory"), _UP_TO_1),
    **dict.fromkeys(("lora_dropout", "adam_beta1", "adam_beta2", "algo.clip_low"), _BELOW_1),
    **dict.fromkeys(("min_lr_ratio", "worked_share", "anneal_share", "anneal_frac", "gate_accuracy",
                     "filter.min_language_share", "diverge_reward_drop", "diverge_heldout_drop",
                     "curriculum_accuracy", "partial_share", "partial_stop", "recheck_share"), _UNIT),
    **dict.fromkeys(("min_terms", "max_terms"), (2, True, None, False)),   # walk chains: pad_terms is 0 or >= max_terms
    **dict.fromkeys(("curriculum_steps", "curriculum_window"), _AT_LEAST_1),
    "algo.dual_clip": (1, False, None, False),
    "reward.weights": (None, False, None, False),       # a negative weight is a penalty
    "train.steps": (0, True, None, False),              # SFT: 0 = from epochs (RL: RL_RANGES)
}
# RL runs (sections rollout and algo): a step needs >= 2 completions per prompt, a table needs an evaluation
RL_RANGES: dict[str, tuple] = {"train.steps": _AT_LEAST_1, "eval.size": _AT_LEAST_1,
                               "rollout.num_generations": (2, True, None, False)}
_WHY = {"rollout.num_generations": " (group advantages of one completion are always 0: nothing would train)"}


def check_ranges(cfg: Any, path: str | Path | None = None, overrides: list[str] = ()) -> None:
    """Raise a one-line ConfigError for the first value out of its range, naming the key and, when the
    value came from the config file, the file and line. `out` may not be empty where it names a run."""
    from reasonrl.config.load import parse_overrides  # load imports this module at load time

    given = parse_overrides(list(overrides))
    rl = hasattr(cfg, "rollout") and hasattr(cfg, "algo")
    for key, value, default in _leaves(cfg):
        rule = (RL_RANGES.get(key) if rl else None) or RANGES.get(key) \
            or RANGES.get(key.rsplit(".", 1)[-1], (0, True, None, False))
        bad = next((v for v in (value if isinstance(value, tuple) else (value,)) if _outside(v, rule)), None)
        if key == "out" and default and not str(value).strip():
            raise ConfigError(_where(path, key, given) + "config key 'out' must name a run directory, got ''")
        if bad is not None:
            raise ConfigError(_where(path, key, given) + f"config key '{key}' must be {_describe(rule)}, "
                              f"got {bad}{_WHY.get(key, '')}")


def _leaves(cfg: Any, prefix: str = ""):
    """(dotted key, value, default) of every field, two levels deep."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value, f.default


def _outside(v: Any, rule: tuple) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    lo, lo_in, hi, hi_in = rule
    return bool(v != v or (lo is not None and (v < lo or (v == lo and not lo_in)))
                or (hi is not None and (v > hi or (v == hi and not hi_in))))


def _describe(rule: tuple) -> str:
    lo, lo_in, hi, hi_in = rule
    low = f"{'>=' if lo_in else '>'} {lo}"
    return low if hi is None else f"in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"


def _where(path: str | Path | None, key: str, given: dict) -> str:
    """'FILE:LINE: ' when `key` was set in the config file (not by an override), else ''."""
    node: Any = given
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if path is None or node is not None:
        return ""
    try:
        node = yaml.compose(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return f"{path}: "
    for part in key.split("."):
        node = next((v for k, v in node.value if k.value == part), None) \
            if isinstance(node, yaml.MappingNode) else None
    return f"{path}:{node.start_mark.line + 1}: " if node is not None else f"{path}: "
