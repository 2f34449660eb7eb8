"""Checkpoints: `checkpoints/step-N/` = an HF model folder + `trainer_state.pt` (optimizer, scheduler,
RNG states, step) + `manifest.json` (size and sha256 of every file). With LoRA (reasonrl.scale.lora) the model
part is the peft adapter folder (adapter_config.json, adapter_model.safetensors); `export` merges it.

Written to a temporary folder, fsynced, then renamed, so a kill mid-save never leaves a half-written
`step-N`. Resume takes the newest checkpoint whose manifest verifies; a damaged one is reported and
moved aside to `checkpoints/damaged/` (never deleted). Keep-last-k pruning spares the checkpoint
named in `checkpoints/best.json` (best held-out accuracy). A full disk while saving removes the
partial folder, leaves every earlier checkpoint intact, and raises `DiskFullError`.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from reasonrl.safeio import DiskFullError, atomic_write_text, is_disk_full

_STEP = re.compile(r"^step-(\d+)$")
STATE_FILE = "trainer_state.pt"
MANIFEST = "manifest.json"


class NonFiniteWeightsError(RuntimeError):
    """Refusing to checkpoint weights that contain NaN or inf."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path) -> None:
    files = {f.name: {"size": f.stat().st_size, "sha256": _sha256(f)}
             for f in sorted(Path(folder).iterdir()) if f.is_file() and f.name != MANIFEST}
    (Path(folder) / MANIFEST).write_text(json.dumps({"files": files}, indent=1))


def verify(folder: Path) -> str | None:
    """None if the checkpoint's manifest matches its files, else what is wrong (one line)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        return f"manifest missing or unreadable ({type(e).__name__})"
    for name, meta in manifest.items():
        f = folder / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != meta["size"]:
            return f"{name} has {f.stat().st_size} bytes, manifest says {meta['size']}"
        if _sha256(f) != meta["sha256"]:
            return f"{name} fails its checksum"
    return None


def checkpoint_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (those with a trainer state), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        m = _STEP.match(d.name)
        has_model = (d / "config.json").is_file() or (d / "adapter_config.json").is_file()   # full or LoRA
        if m and (d / STATE_FILE).is_file() and has_model:
            found.append((int(m.group(1)), d))
    return sorted(found)


def latest(run_dir: Path, log=print) -> tuple[int, Path] | None:
    """The newest checkpoint that verifies; damaged ones are reported and moved to checkpoints/damaged/."""
    for step, d in reversed(checkpoint_dirs(run_dir)):
        problem = verify(d)
        if problem is None:
            return step, d
        aside = d.parent / "damaged" / f"{d.name}-{int(os.path.getmtime(d))}"
        aside.parent.mkdir(exist_ok=True)
        os.replace(d, aside)
        log(f"checkpoint {d} is damaged ({problem}): moved to {aside}, trying an older one")
    return None


def all_finite(model, state_dict: dict | None = None) -> bool:
    tensors = state_dict.values() if state_dict is not None else model.parameters()
    return all(bool(torch.isfinite(p).all()) for p in tensors if p.is_floating_point())


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, step: int, model, tokenizer, trainer_state: dict, keep: int = 2,
         state_dict: dict | None = None) -> Path:
    """Atomically write checkpoints/step-{step} with its manifest; keep the newest `keep` checkpoints
    (and the protected best one). `state_dict`: the full weights to write instead of the model's own (an
    FSDP-sharded model, reasonrl.scale.fsdp.full_state). Raises NonFiniteWeightsError or DiskFullError."""
    if not all_finite(model, state_dict):
        raise NonFiniteWeightsError(f"step {step}: weights contain NaN/inf; no checkpoint written")
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}-{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        model.save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        torch.save({**trainer_state, "step": step, "rng": rng_state()}, tmp / STATE_FILE)
        write_manifest(tmp)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError on a full disk
        free_at_failure = shutil.disk_usage(root).free
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_disk_full(e, free_at_failure):
            raise
        need = sum(p.numel() * p.element_size() for p in model.parameters()) * 3
        free = shutil.disk_usage(root).free
        raise DiskFullError(f"disk full while writing checkpoint {final}: needs about {need / 2**20:.1f} MiB, "
                            f"{free / 2**20:.1f} MiB free; earlier checkpoints are intact") from None
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    prune(run_dir, keep)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def mark_best(run_dir: Path, step: int, value: float) -> bool:
    """Record step as the protected best checkpoint if value beats the recorded one."""
    f = Path(run_dir) / "checkpoints" / "best.json"
    old = json.loads(f.read_text()) if f.exists() else None
    if old is not None and old["value"] >= value:
        return False
    f.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f, json.dumps({"step": step, "value": value}), what="checkpoint index")
    return True


def prune(run_dir: Path, keep: int) -> None:
    """Remove all but the newest `keep` checkpoints, sparing the best one. Each is renamed to
    `.pruning-step-N` first, so a kill mid-removal never leaves a half-deleted `step-N`."""
    if keep <= 0:
        return
    f = Path(run_dir) / "checkpoints" / "best.json"
    best = json.loads(f.read_text())["step"] if f.exists() else None
    for s, old in checkpoint_dirs(run_dir)[:-keep]:
        if s != best:
            doomed = old.with_name(f".pruning-{old.name}")
            os.replace(old, doomed)
            shutil.rmtree(doomed, ignore_errors=True)


_LEFTOVER = re.compile(r"^\.(?:tmp-(?:step-\d+|final)-(\d+)|pruning-step-\d+)$")


def clean_leftovers(run_dir: Path, log=print) -> list[Path]:
    """Remove what a killed process left in a run directory: temporary checkpoint and export folders
    (`.tmp-step-N-PID`, `.tmp-final-PID`) of processes no longer running, interrupted prunes
    (`.pruning-step-N`), and `step-N` folders missing their trainer state, model or manifest (a prune
    or copy cut short; a complete folder that fails its checksum is left to `latest`). The half-made
    `step-N` folders are only removed by the process holding the run's lock. -> the paths removed."""
    from reasonrl.runlock import holds_lock

    run_dir, removed = Path(run_dir), []
    owner = holds_lock(run_dir)
    for root in (run_dir, run_dir / "checkpoints"):
        if not root.is_dir():
            continue
        for d in root.iterdir():
            m = _LEFTOVER.match(d.name)
            if m and d.is_dir() and (owner or not m.group(1) or not _alive(int(m.group(1)))):
                removed.append(d)
            elif owner and root.name == "checkpoints" and _STEP.match(d.name) and d.is_dir() and _half_made(d):
                removed.append(d)
    for d in removed:
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        shutil.rmtree(d, ignore_errors=True)
        log(f"removed leftover {d} ({size / 2**20:.1f} MiB) of an interrupted save or prune")
    return removed


def _half_made(d: Path) -> bool:
    has_model = (d / "config.json").is_file() or (d / "adapter_config.json").is_file()
    return not ((d / STATE_FILE).is_file() and has_model and (d / MANIFEST).is_file())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_state(ckpt: Path) -> dict:
    return torch.load(Path(ckpt) / STATE_FILE, weights_only=False)


def restore(ckpt: Path, optimizer, scheduler, model=None) -> dict:
    """Load a checkpoint's trainer state into optimizer and scheduler and restore the RNG; -> the state.
    With `model`, optimizer state saved by parameter name (FSDP runs) or into a sharded model is mapped
    by name (reasonrl.scale.fsdp.load_optim_state), so runs resume across FSDP and plain data parallel."""
    from reasonrl.scale.fsdp import load_optim_state

    state = load_state(ckpt)
    if model is None:
        optimizer.load_state_dict(state["optimizer"])
    else:
        load_optim_state(model, optimizer, state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state


def export(model, tokenizer, out: Path, state_dict: dict | None = None) -> None:
    """Write a plain HF folder (e.g. the run's `final/`), atomically; LoRA adapters are merged in.
    `state_dict`: the full weights of an FSDP-sharded model (reasonrl.scale.fsdp.full_state)."""
    from reasonrl.scale.lora import merged

    model, out = merged(model), Path(out)
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        model.save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError on a full disk
        free = shutil.disk_usage(out.parent).free
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_disk_full(e, free):
            raise
        raise DiskFullError(f"disk full while writing {out} ({free / 2**20:.1f} MiB free); the checkpoints are "
                            f"intact: free space and re-run the same command to export it") from None
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
