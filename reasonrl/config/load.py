"""YAML + `a.b=value` overrides -> a frozen, type-checked, resolved config; the forms it is printed in."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from reasonrl.config.ranges import check_ranges
from reasonrl.config.sections import SERVER_KINDS, Config
from reasonrl.errors import ConfigError


# Keys that may differ between a run directory's saved config and a resuming command.
RESUMABLE_CHANGES = ("train.steps", "train.time_budget_s", "train.threads", "rollout.threads", "eval.every",
                     "train.checkpoint_minutes", "verify.math_workers", "verify.code_parallel", "train.log_to",
                     "train.fsdp", "train.micro_batch_size", "train.gradient_checkpointing",
                     "train.diverge_window", "train.diverge_reward_drop", "train.diverge_heldout_drop",
                     "train.diverge_max_kl", "train.diverge_grad_factor", "train.stall_factor", "train.stall_min_s")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints widen to floats, lists become tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"config key '{key}': expected {_tname(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        (inner, *_rest) = typing.get_args(tp)
        return tuple(_coerce(v, inner, key) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):     # YAML 1.1 reads "3e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config key '{key}': expected {_tname(tp)}, got {value!r}")


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known: {', '.join(sorted(known))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name] or {}, f"{prefix}{f.name}.")
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, prefix + f.name)
    try:
        return cls(**kwargs)
    except ValueError as e:          # a section's own validation (__post_init__)
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}': {e}") from None


def parse_overrides(overrides: list[str]) -> dict:
    """`["algo.preset=dapo", "train.steps=5"]` -> nested dict; values parsed as YAML scalars/lists."""
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"override key '{key}' must be 'name' or 'section.name'")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override key '{key}' conflicts with another override")
        node[parts[-1]] = value
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, cls: type = Config):
    """Read YAML (optional), apply dotted overrides, type-check, resolve the algorithm preset."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file '{p}' does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"config file '{p}{where}': not valid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{p}': top level must be a mapping")
    data = _merge(data, parse_overrides(thread_alias(overrides or [], cls)))
    try:
        cfg = _build(cls, data, "")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    check_ranges(cfg, path, overrides or [])
    return resolve(cfg) if cls is Config else cfg


def resolve(cfg: Config) -> Config:
    """Fill the algorithm axes from the preset and validate cross-field constraints."""
    from reasonrl.algo.presets import resolve_algo

    _check_async(cfg)
    if cfg.train.async_staleness and cfg.algo.tis is None:    # async: stale samples get token-level TIS
        cfg = replace(cfg, algo=replace(cfg.algo, tis="token"))
    cfg = replace(cfg, algo=resolve_algo(cfg.algo))
    if len(cfg.reward.functions) != len(cfg.reward.weights):
        raise ConfigError(
            f"config keys 'reward.functions' and 'reward.weights' differ in length "
            f"({len(cfg.reward.functions)} vs {len(cfg.reward.weights)})")
    for key, value in (("rollout.num_generations", cfg.rollout.num_generations),
                       ("train.prompts_per_step", cfg.train.prompts_per_step),
                       ("train.micro_batch_size", cfg.train.micro_batch_size),
                       ("rollout.max_new_tokens", cfg.rollout.max_new_tokens)):
        if value < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {value}")
    from reasonrl.templates import TEMPLATES
    if cfg.model.template not in TEMPLATES:
        raise ConfigError(f"config key 'model.template': unknown template '{cfg.model.template}' "
                          f"(choose from {', '.join(TEMPLATES)})")
    if cfg.rollout.server_kind not in SERVER_KINDS:
        raise ConfigError(f"config key 'rollout.server_kind': unknown server kind '{cfg.rollout.server_kind}' "
                          f"(choose from {', '.join(SERVER_KINDS)})")
    if not cfg.rollout.server_url.startswith(("http://", "https://")):
        raise ConfigError(f"config key 'rollout.server_url' must start with http:// or https://, "
                          f"got {cfg.rollout.server_url!r}")
    if cfg.rollout.server_timeout_s <= 0 or cfg.rollout.server_retries < 1:
        raise ConfigError("config keys 'rollout.server_timeout_s'/'rollout.server_retries' must be > 0 / >= 1, "
                          f"got {cfg.rollout.server_timeout_s}/{cfg.rollout.server_retries}")
    if cfg.rollout.temperature <= 0:
        raise ConfigError("config key 'rollout.temperature' must be > 0 for RL sampling")
    if cfg.rollout.top_p < 1.0 or cfg.rollout.top_k > 0:
        raise ConfigError("config keys 'rollout.top_p'/'rollout.top_k' must stay 1.0/0 for training: "
                          "truncated sampling makes the trainer's logprobs differ from the sampler's")
    n = cfg.train.prompts_per_step * cfg.rollout.num_generations
    if n % cfg.algo.mini_batches:
        raise ConfigError(f"config key 'algo.mini_batches' ({cfg.algo.mini_batches}) must divide "
                          f"prompts_per_step * num_generations ({n})")
    return cfg


def _check_async(cfg: Config) -> None:
    """train.async_staleness (docs/async.md): a rollout worker process beside the trainer, or with
    rollout.backend=server a sampling thread feeding the server."""
    k = cfg.train.async_staleness
    if k < 0 or cfg.rollout.threads < 0:
        raise ConfigError(f"config keys 'train.async_staleness'/'rollout.threads' must be >= 0, "
                          f"got {k}/{cfg.rollout.threads}")
    if k and cfg.rollout.backend not in ("hf", "fast", "server"):
        raise ConfigError(f"config key 'train.async_staleness': not supported with rollout.backend="
                          f"{cfg.rollout.backend} (an in-process engine on the trainer's device; use fast or server)")
    if k and cfg.rollout.backend == "server" and cfg.rollout.server_kind == "vllm":
        raise ConfigError("config key 'train.async_staleness': not supported with rollout.server_kind=vllm (its "
                          "responses name no weight version, so staleness cannot be checked; use reasonrl or sglang)")
    if k and cfg.task.curriculum == "adaptive":
        raise ConfigError("config key 'train.async_staleness': not supported with task.curriculum=adaptive (its "
                          "levels follow the trainer's accuracy step by step); use none or steps")
    if k and cfg.train.fsdp:
        raise ConfigError("config key 'train.async_staleness': not supported with train.fsdp=true")
    if cfg.rollout.routing_replay and cfg.rollout.backend not in ("hf", "fast"):
        raise ConfigError(f"config key 'rollout.routing_replay': backend '{cfg.rollout.backend}' does not return the "
                          f"experts it routed each token to (backends that do: fast, hf)")


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def flat_items(cfg: Config) -> dict[str, Any]:
    """{'train.steps': 60, ...} for comparisons and printing."""
    out = {}
    for k, v in to_dict(cfg).items():
        if isinstance(v, dict):
            out.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- the command-line form of a config
def split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """`[CONFIG.yaml] [key=value ...]` -> (the config file or None, the overrides)."""
    config = None
    overrides = []
    for it in items:
        if "=" in it:
            overrides.append(it)
        elif config is None:
            config = it
        else:
            raise ConfigError(f"unexpected argument '{it}' (overrides are key=value)")
    return config, overrides


def defaults_help(cls: type) -> str:
    """Every option of a config class with its default, for a command's --help."""
    lines = []
    for k, v in to_dict(cls()).items():
        if isinstance(v, dict):
            lines += [f"  {k}.{k2}={v2}" for k2, v2 in v.items()]
        else:
            lines.append(f"  {k}={v}")
    return "options (key=default):\n" + "\n".join(lines)


def summary_line(cfg: Any, saved: str | Path) -> str:
    """The resolved config in one line (the full YAML is in `saved`; printed in full with -v)."""
    import os

    if os.environ.get("REASONRL_VERBOSE"):
        return dump_yaml(cfg).rstrip()
    flat = flat_items(cfg)
    keys = ("model.path", "task.name", "algo.preset", "train.steps", "train.prompts_per_step",
            "rollout.num_generations", "train.epochs", "train.batch_size", "sample.k", "prompts.count")
    shown = ", ".join(f"{k}={flat[k]}" for k in keys if k in flat)
    return f"config: {saved} ({shown}; all settings there, or run with -v)"


def thread_alias(overrides: list[str], cls: type) -> list[str]:
    """`threads=N` is accepted by every command: it names train.threads where threads live there."""
    if "threads" in {f.name for f in fields(cls)}:
        return overrides
    return [("train." + o) if o.startswith("threads=") else o for o in overrides]
