"""The run directory contract (DESIGN.md): config.yaml, metrics.jsonl, rollouts.jsonl,
checkpoints/step-N/, final/. Re-running the same command on a run directory resumes it.
One process owns a run directory at a time (reasonrl.runlock)."""
from __future__ import annotations

from pathlib import Path

import yaml

from dataclasses import replace

from reasonrl.checkpoint import checkpoint_dirs, clean_leftovers
from reasonrl.runlock import lock_run_dir
from reasonrl.safeio import atomic_write_text
from reasonrl.config import RESUMABLE_CHANGES, AlgoConfig, ConfigError, dump_yaml, flat_items, resolve


def check_or_write_config(cfg, out: Path) -> bool:
    """Write config.yaml to a new run directory, or check that an existing one was made by the same
    config (only RESUMABLE_CHANGES may differ). Returns True when resuming: the directory holds progress
    (has_progress); a directory without any takes the new config and the run starts fresh (False)."""
    out = Path(out)
    lock_run_dir(out)
    clean_leftovers(out)                # what a killed process left: temporary and half-pruned folders
    saved = out / "config.yaml"
    if not saved.exists() or not has_progress(out):   # a failed start never blocks a corrected rerun
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, dump_yaml(cfg), what="config")
        return False
    old = _flatten(yaml.safe_load(saved.read_text()) or {})
    new = flat_items(cfg)
    base = type(cfg)()
    if hasattr(cfg, "algo"):             # presets fill the algorithm keys
        base = resolve(replace(base, algo=AlgoConfig(preset=cfg.algo.preset)))
    defaults = flat_items(base)
    # keys added to the package after the run started: absent from the saved config, at their default
    old.update({k: v for k, v in new.items() if k not in old and _norm(v) == _norm(defaults.get(k))})
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
             if k not in RESUMABLE_CHANGES and _norm(old.get(k)) != _norm(new.get(k))]
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise ConfigError(f"run directory '{out}' was made by a different config ({shown}); "
                          f"use a new out=DIR or remove it")
    atomic_write_text(saved, dump_yaml(cfg), what="config")
    return True


def has_progress(out: Path) -> bool:
    """True once a run directory holds work a rerun would resume: a checkpoint, a final model or sampled
    parts. A directory without any (a start that failed, or stopped before its first checkpoint) is
    restartable with any config: its config.yaml is replaced and the run starts at step 0."""
    out = Path(out)
    return (bool(checkpoint_dirs(out)) or (out / "final").exists()
            or any((out / "parts").glob("*.jsonl")) or (out / "summary.json").exists())


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def _flatten(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            out[k] = v
    return out

