"""Fast fault injection (the full harness is bench/faults.py): corrupt checkpoints, SIGTERM,
SIGKILL, NaN, full disk. After each fault the run resumes and ends as if nothing happened."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from reasonrl import checkpoint
from reasonrl.config import load_config
from reasonrl.train import rl
from reasonrl.train.guards import EXIT_NONFINITE, EXIT_STOPPED
from reasonrl.train.hooks import from_env, nan_advantages

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
         "eval.sampled=false", "rollout.max_new_tokens=30", "train.log_rollouts=1", "train.keep_checkpoints=3",
         "train.threads=1"]   # the same thread count in-process and in subprocesses: bitwise comparisons
QUIET = dict(log=lambda *_: None)


def _cfg(out, *extra):
    return load_config(None, SMALL + [f"out={out}"] + list(extra))


def _metrics(out):
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def _same_weights(a, b):
    x, y = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _args(out, *extra):
    return [sys.executable, "-m", "reasonrl.cli", "train", *SMALL, f"out={out}", *extra]


def _cli(out, *extra):
    return subprocess.Popen(_args(out, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_corrupt_newest_checkpoint_is_set_aside(tmp_path):
    whole, hurt = tmp_path / "whole", tmp_path / "hurt"
    rl.train(_cfg(whole, "train.steps=4", "train.checkpoint_every=2"), **QUIET)
    rl.train(_cfg(hurt, "train.steps=4", "train.checkpoint_every=2"), **QUIET)
    newest = hurt / "checkpoints" / "step-4" / "model.safetensors"
    data = bytearray(newest.read_bytes())
    data[-100] ^= 0xFF                                        # one flipped byte
    newest.write_bytes(data)
    (hurt / "final").rename(hurt / "final-old")
    messages = []
    # resume: step-4 fails its checksum, so the run continues from step-2 and redoes 3..4
    rl.train(_cfg(hurt, "train.steps=4", "train.checkpoint_every=2"), log=messages.append)
    assert any("damaged" in m and "step-4" in m for m in messages)
    assert [p.name.split("-1")[0] for p in (hurt / "checkpoints" / "damaged").iterdir()] == ["step-4"]
    assert _metrics(hurt) == _metrics(whole) and _same_weights(hurt, whole)


def test_manifest_detects_truncation(tmp_path):
    rl.train(_cfg(tmp_path, "train.steps=1"), **QUIET)
    ckpt = tmp_path / "checkpoints" / "step-1"
    assert checkpoint.verify(ckpt) is None
    with open(ckpt / "trainer_state.pt", "r+b") as f:
        f.truncate(100)
    assert "trainer_state.pt has 100 bytes" in checkpoint.verify(ckpt)


def test_nan_steps_are_skipped_then_stop(tmp_path):
    rl.train(_cfg(tmp_path / "one", "train.steps=3", "train.checkpoint_every=1"), hooks=nan_advantages([2]), **QUIET)
    rows = _metrics(tmp_path / "one")
    assert rows[2]["update/skipped_nonfinite"] == 1 and rows[3]["update/skipped_nonfinite"] == 0
    assert (tmp_path / "one" / "nonfinite" / "step-2.jsonl").is_file()
    # three consecutive bad steps stop the run; checkpoints hold finite weights
    result = rl.train(_cfg(tmp_path / "three", "train.steps=6", "train.checkpoint_every=1"),
                      hooks=from_env({"REASONRL_INJECT_NAN_STEPS": "2,3,4"}), **QUIET)   # as `reasonrl train` reads it
    assert result["exit_code"] == EXIT_NONFINITE and result["steps"] == 4
    step, ckpt = checkpoint.latest(tmp_path / "three")
    assert step == 3 and checkpoint.verify(ckpt) is None
    assert all(torch.isfinite(t).all() for t in load_file(str(ckpt / "model.safetensors")).values())


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    rl.train(_cfg(tmp_path, "train.steps=1"), **QUIET)
    real = checkpoint.write_manifest

    def full(folder):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint, "write_manifest", full)
    with pytest.raises(checkpoint.DiskFullError, match="disk full while writing checkpoint .*step-2.*MiB free"):
        rl.train(_cfg(tmp_path, "train.steps=2"), **QUIET)
    monkeypatch.setattr(checkpoint, "write_manifest", real)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert names == ["step-1"] and checkpoint.verify(tmp_path / "checkpoints" / "step-1") is None


def _wait_for_step(out, step, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        f = out / "metrics.jsonl"
        if f.exists() and any(json.loads(x)["step"] >= step for x in f.read_text().splitlines() if x):
            return
        time.sleep(0.05)
    raise AssertionError(f"step {step} not reached")


def test_sigterm_stops_gracefully_and_sigkill_resumes_exactly(tmp_path):
    whole = tmp_path / "whole"
    rl.train(_cfg(whole, "train.steps=5", "train.checkpoint_every=1"), **QUIET)
    run = tmp_path / "run"
    p = _cli(run, "train.steps=5", "train.checkpoint_every=1")
    _wait_for_step(run, 1, p)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == EXIT_STOPPED and "SIGTERM received" in out and "checkpoint saved" in out
    stopped_at = checkpoint.latest(run)[0]
    assert stopped_at == max(r["step"] for r in _metrics(run))
    p = _cli(run, "train.steps=5", "train.checkpoint_every=1")
    _wait_for_step(run, stopped_at + 1, p)
    p.kill()                                                   # SIGKILL: no handler runs
    p.wait(timeout=60)
    assert subprocess.run(_args(run, "train.steps=5", "train.checkpoint_every=1"),
                          capture_output=True, timeout=300).returncode == 0
    assert _metrics(run) == _metrics(whole) and _same_weights(run, whole)
