"""Whole runs under the faults of docs/faults.md: divergence at an absurd learning rate, a torn log
line and a full disk mid-run, a stalled step; each ends with its own exit code and, where the run can
go on, resumes to the same end as an uninterrupted run."""
import errno
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from reasonrl import checkpoint, logging as rlog
from reasonrl.config import ConfigError, load_config
from reasonrl.safeio import DiskFullError
from reasonrl.train import rl
from reasonrl.train.guards import EXIT_DIVERGED, EXIT_STALLED

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
         "eval.sampled=false", "rollout.max_new_tokens=30", "train.log_rollouts=1", "train.threads=1"]
QUIET = dict(log=lambda *_: None)


def _cfg(out, *extra):
    return load_config(None, SMALL + [f"out={out}"] + list(extra))


def _metrics(out):
    rows = rlog.read_jsonl(out / "metrics.jsonl")[0]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def _same(a, b):
    x, y = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    return _metrics(a) == _metrics(b) and x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.parametrize("lr", ["1e6", "1e30"])
def test_absurd_learning_rate_stops_with_the_divergence_code(tmp_path, lr):
    said = []
    result = rl.train(_cfg(tmp_path, f"train.lr={lr}", "train.steps=10", "train.checkpoint_every=2",
                           "eval.every=4"), log=said.append)
    # 1e6: the reward is 0 from step 2 on, so the window of steps 2-6 is the collapse (the held-out
    # fall 25% -> 0% on 8 problems is within their noise and does not count)
    assert result["exit_code"] == EXIT_DIVERGED and result["steps"] <= 6
    assert not (tmp_path / "final").exists()
    line = next(s for s in said if s.startswith("error: training diverged"))
    assert "stopping (exit 77)" in line and "\n" not in line
    if lr == "1e30":                                   # the weights blow up: sampling itself fails
        assert "the sampling distribution is invalid" in line and result["steps"] <= 3
    # nothing written after the collapse began is left where a resume would pick it up
    assert all(checkpoint.verify(d) is None for _s, d in checkpoint.checkpoint_dirs(tmp_path))


def test_full_disk_then_torn_line_then_resume_identical(tmp_path, monkeypatch):
    whole, run = tmp_path / "whole", tmp_path / "run"
    rl.train(_cfg(whole, "train.steps=5", "train.checkpoint_every=2"), **QUIET)
    real, writes = os.write, []

    def full_at_step_4(fd, data):                                # the disk fills while logging step 4
        if bytes(data).startswith(b'{"step": 4'):
            writes.append(1)
            real(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)
    monkeypatch.setattr(os, "write", full_at_step_4)
    with pytest.raises(DiskFullError, match=r"disk full while writing log .*metrics\.jsonl .*re-run the same command"):
        rl.train(_cfg(run, "train.steps=5", "train.checkpoint_every=2"), **QUIET)
    monkeypatch.setattr(os, "write", real)
    assert writes and rlog.read_jsonl(run / "metrics.jsonl")[1] == 0        # no half row left behind
    with open(run / "metrics.jsonl", "a") as f:                 # and a kill that cut a row in half
        f.write('{"step": 4, "reward/mean": 0.')
    rl.train(_cfg(run, "train.steps=5", "train.checkpoint_every=2"), **QUIET)
    assert _same(run, whole)


@pytest.mark.slow          # ~20 s: a subprocess that must stall, then a resume (the watchdog alone: test_run_safety)
def test_stalled_step_exits_78_with_stacks_and_resumes_identical(tmp_path):
    whole, run = tmp_path / "whole", tmp_path / "run"
    rl.train(_cfg(whole, "train.steps=4", "train.checkpoint_every=1"), **QUIET)
    args = [sys.executable, "-m", "reasonrl", "train", *SMALL, f"out={run}", "train.steps=4",
            "train.checkpoint_every=1", "train.stall_min_s=2", "train.stall_factor=2"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "REASONRL_INJECT_HANG_STEP": "3"})
    assert r.returncode == EXIT_STALLED and "Traceback" not in r.stderr
    assert "error: stalled: no step finished" in r.stderr and "after step 2" in r.stderr
    dump = next(run.glob("stall-*.txt")).read_text()
    assert "thread stacks:" in dump and "in hang" in dump         # the stuck frame is named
    rl.train(_cfg(run, "train.steps=4", "train.checkpoint_every=1", "train.stall_min_s=2", "train.stall_factor=2"),
             **QUIET)
    assert _same(run, whole)


def test_checkpoint_every_zero_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"^config key 'train.checkpoint_every' must be >= 1, got 0$"):
        load_config(None, ["train.checkpoint_every=0"])


def test_bytes_that_are_not_utf8_in_train_sft_and_verify_readers(tmp_path):
    from reasonrl.errors import UserError
    from reasonrl.train.sft_data import read_examples
    from reasonrl.verifiers.grading import read_jsonl

    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"prompt": "p", "completion": "c", "answer": "1", "problem": "p"}\n'
                  b'{"prompt": "caf\xe9", "completion": "c"}\n'
                  + b'{"prompt": "q", "completion": "c", "answer": "2", "problem": "q"}\n' * 3)
    with pytest.raises(UserError, match=rf"^{f}:2: not UTF-8 text \(byte 0xe9 at column 16"):
        read_examples([f])
    with pytest.raises(UserError, match=rf"^{f}:2: not UTF-8 text \(byte 0xe9 at column 16"):
        read_jsonl(f)
    cfg = load_config(None, ["task.name=dataset", f"task.path=[{f}]", "task.on_bad_row=skip", "task.heldout_size=1"])
    from reasonrl.tasks import make_task
    said = []
    task = make_task(cfg.task, log=said.append)
    assert any(f"{f}:2: not UTF-8 text" in s for s in said) and any("skipped 1 bad row(s) of 5" in s for s in said)
    assert task is not None
