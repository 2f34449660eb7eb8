"""Asynchronous RL end to end (train.async_staleness >= 1): a real rollout worker process per run.
Staleness stays within k under a slow trainer and under a slow worker; a killed or hung worker is
restarted; a killed trainer resumes with the worker sampling from the resumed weights; LoRA and
torchrun. Every run spawns a worker (model load, imports): slow tests."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasonrl.config import load_config
from reasonrl.train import rl, worker
from reasonrl.train.hooks import Hooks

pytestmark = pytest.mark.slow

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
         "train.checkpoint_every=2", "rollout.max_new_tokens=20", "train.log_rollouts=1", "train.threads=1",
         "rollout.threads=1"]


def _cfg(out, *extra):
    return load_config(None, SMALL + [f"out={out}"] + list(extra))


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][1:]   # step 0: evaluation only


def _sleep(seconds: float):
    def slow(step, batch):
        time.sleep(seconds)
        return batch
    return slow


def _check_bound(rows: list[dict], k: int, steps: int) -> None:
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for r in rows:      # every trained batch: its versions, staleness (step - 1) - version within [0, k]
        assert 0 <= r["step"] - 1 - r["async/version_max"] <= r["step"] - 1 - r["async/version_min"] <= k
        assert r["async/staleness_max"] <= k and abs(sum(r[f"async/staleness={i}"] for i in range(k + 1)) - 1) < 1e-9


def test_slow_trainer_runs_ahead_by_at_most_k(tmp_path):
    """The trainer sleeps 1.5 s per step: the worker fills the queue and samples exactly k steps ahead."""
    k, steps = 2, 6
    result = rl.train(_cfg(tmp_path, f"train.steps={steps}", f"train.async_staleness={k}"),
                      log=lambda *_: None, hooks=Hooks(before_update=_sleep(1.5)))
    rows = _rows(tmp_path)
    _check_bound(rows, k, steps)
    assert result["exit_code"] == 0 and rows[-1]["async/staleness_max"] == k     # the bound is reached, not passed
    assert all(r["tis/weight_mean"] > 0 for r in rows)                            # the default correction ran


def test_slow_worker_keeps_the_trainer_waiting(tmp_path):
    """The worker sleeps 1.5 s before each step: the trainer waits for it (idle), staleness stays <= k."""
    k, steps = 1, 4
    rl.train(_cfg(tmp_path, f"train.steps={steps}", f"train.async_staleness={k}"), log=lambda *_: None,
             hooks=Hooks(worker_delay_s=1.5))
    rows = _rows(tmp_path)
    _check_bound(rows, k, steps)
    assert all(r["async/trainer_idle_s"] > 0.5 for r in rows)


def test_killed_worker_is_restarted(tmp_path):
    def kill_worker(step, batch):
        if step == 2:
            os.kill(worker.ACTIVE[-1].proc.pid, signal.SIGKILL)
        return batch
    lines: list[str] = []
    result = rl.train(_cfg(tmp_path, "train.steps=4", "train.async_staleness=1"), log=lines.append,
                      hooks=Hooks(before_update=kill_worker))
    rows = _rows(tmp_path)
    _check_bound(rows, 1, 4)
    assert result["exit_code"] == 0 and rows[-1]["async/worker_restarts"] == 1
    assert any("rollout worker exited (code -9)" in line for line in lines)


def test_hung_worker_hits_the_deadline(tmp_path):
    """The worker never finishes step 2: after train.stall_min_s without a batch it is killed and restarted."""
    lines: list[str] = []
    rl.train(_cfg(tmp_path, "train.steps=3", "train.async_staleness=1", "train.stall_min_s=8",
                  "train.stall_factor=0"), log=lines.append, hooks=Hooks(worker_hang_step=2))
    rows = _rows(tmp_path)
    _check_bound(rows, 1, 3)
    assert rows[-1]["async/worker_restarts"] == 1 and any("sent no batch for 8s" in line for line in lines)


def test_killed_trainer_resumes_within_the_bound(tmp_path, monkeypatch):
    """Killed after step 3 (checkpoint of step 2): the re-run trains steps 3-4 again; its worker starts
    from the resumed weights (version 2), the record holds each step once, every one within k."""
    real = rl.progress_line

    def crash_at_3(step, total, m):
        if step == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(step, total, m)
    monkeypatch.setattr(rl, "progress_line", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        rl.train(_cfg(tmp_path, "train.steps=4", "train.async_staleness=1"), log=lambda *_: None)
    assert not worker.ACTIVE                       # the interrupted run stopped its worker
    monkeypatch.setattr(rl, "progress_line", real)
    rl.train(_cfg(tmp_path, "train.steps=4", "train.async_staleness=1"), log=lambda *_: None)
    rows = _rows(tmp_path)
    _check_bound(rows, 1, 4)
    assert rows[2]["async/version_min"] == rows[2]["async/version_max"] == 2   # sampled from the checkpoint's weights


def test_sigkilled_trainer_leaves_no_worker_and_resumes(tmp_path):
    """`reasonrl train` killed with SIGKILL mid-run: its worker exits by itself; re-running completes."""
    args = [sys.executable, "-m", "reasonrl", "train", *SMALL, f"out={tmp_path}", "train.steps=6",
            "train.async_staleness=1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics, children, end = tmp_path / "metrics.jsonl", set(), time.time() + 240
    while time.time() < end and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        children |= _children(proc.pid)
        time.sleep(0.2)
    children |= _children(proc.pid)
    proc.kill()
    proc.wait()
    assert children, "the trainer started no worker"
    end = time.time() + 30
    while time.time() < end and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{c}").exists() and "Z" not in _state(c) for c in children)
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    _check_bound(_rows(tmp_path), 1, 6)


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_lora_async(tmp_path):
    """LoRA: the worker loads the base once and receives only the adapters each step."""
    rl.train(_cfg(tmp_path, "train.steps=3", "train.async_staleness=1", "model.lora_r=4"), log=lambda *_: None)
    _check_bound(_rows(tmp_path), 1, 3)


def test_torchrun_one_worker_per_rank(tmp_path):
    """Two gloo ranks, each with its own worker sampling its half of the prompts."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_dist import launch

    launch("-m", "reasonrl", "train", *SMALL, f"out={tmp_path}", "train.steps=3", "train.async_staleness=1")
    _check_bound(_rows(tmp_path), 1, 3)
