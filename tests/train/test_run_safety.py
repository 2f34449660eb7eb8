"""Run-directory safety without training: the lock, leftover cleanup, the divergence rule, the stall
watchdog."""
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from reasonrl import checkpoint
from reasonrl.runlock import RunDirBusyError, holds_lock, lock_run_dir
from reasonrl.train.guards import (EXIT_DIVERGED, EXIT_STALLED, DivergenceGuard, DivergenceRule, divergence,
                                   invalid_distribution)


def _holder(path):
    """A process that takes the lock on `path`, says so and waits."""
    code = (f"import time; from reasonrl.runlock import lock_run_dir; lock_run_dir({str(path)!r}); "
            f"print('ok', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ok"
    return p


def test_lock_names_the_holder_and_is_taken_over_after_it_dies(tmp_path):
    p = _holder(tmp_path)
    try:
        with pytest.raises(RunDirBusyError, match=rf"'{tmp_path}' is in use by process {p.pid} \(lock .*\.lock\)"):
            lock_run_dir(tmp_path)
        assert not holds_lock(tmp_path)
    finally:
        p.kill()
        p.wait()
    lock_run_dir(tmp_path)                         # the holder was killed: its lock went with it
    assert holds_lock(tmp_path) and (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    lock_run_dir(tmp_path)                         # again in the same process: fine


def test_second_trainer_on_a_directory_is_one_line_exit_2(tmp_path):
    """Also shows `python -m reasonrl` (what `torchrun -m reasonrl` runs)."""
    p = _holder(tmp_path)
    try:
        r = subprocess.run([sys.executable, "-m", "reasonrl", "train", f"out={tmp_path}", "train.steps=1"],
                           capture_output=True, text=True, timeout=120)
    finally:
        p.kill()
        p.wait()
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"reasonrl: error: run directory '{tmp_path}' is in use "
                                                        f"by process {p.pid}")
    assert not (tmp_path / "metrics.jsonl").exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _fake_step(folder, *names):
    folder.mkdir(parents=True)
    for n in names:
        (folder / n).write_text("x")


def test_leftovers_of_killed_saves_and_prunes_are_removed(tmp_path):
    ck = tmp_path / "checkpoints"
    dead, live = _dead_pid(), os.getppid()
    _fake_step(ck / f".tmp-step-3-{dead}", "config.json")
    _fake_step(ck / f".tmp-step-4-{live}", "config.json")
    _fake_step(ck / ".pruning-step-1", "config.json")
    _fake_step(ck / "step-2", "config.json")                     # a prune cut short: only config.json left
    _fake_step(ck / "step-5", "config.json", checkpoint.STATE_FILE, checkpoint.MANIFEST)   # complete
    _fake_step(tmp_path / f".tmp-final-{dead}", "config.json")
    said = []
    removed = checkpoint.clean_leftovers(tmp_path, log=said.append)   # not the lock holder: only dead writers
    assert sorted(p.name for p in removed) == sorted([f".tmp-step-3-{dead}", ".pruning-step-1", f".tmp-final-{dead}"])
    assert all(s.startswith("removed leftover ") and "of an interrupted save or prune" in s for s in said)
    lock_run_dir(tmp_path)
    removed = checkpoint.clean_leftovers(tmp_path, log=said.append)
    assert sorted(p.name for p in removed) == [f".tmp-step-4-{live}", "step-2"]
    assert sorted(p.name for p in ck.iterdir()) == ["step-5"]


def test_prune_never_leaves_a_half_deleted_step(tmp_path, monkeypatch):
    for s in (1, 2, 3):
        _fake_step(tmp_path / "checkpoints" / f"step-{s}", "config.json", checkpoint.STATE_FILE, checkpoint.MANIFEST)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)    # killed before removing anything
    checkpoint.prune(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [".pruning-step-1", "step-2", "step-3"]
    assert [s for s, _ in checkpoint.checkpoint_dirs(tmp_path)] == [2, 3]


RULE = DivergenceRule(window=3, reward_drop=0.9, heldout_drop=0.75, max_kl=10.0, grad_factor=1000.0)


def _rows(rewards, **extra):
    return [{"step": i + 1, "reward/mean": r, **extra} for i, r in enumerate(rewards)]


def test_reward_collapse():
    # windows of 3: means 0.4, 0.4, 0.4, 0.2667, 0.1333, 0.0 -> the last is < 0.1 x 0.4
    rows = _rows([0.4, 0.4, 0.4, 0.4, 0.0, 0.0, 0.0])
    assert divergence(rows[:-1], RULE) is None
    why, since = divergence(rows, RULE)
    assert since == 5 and why.startswith("mean reward 0.000 over steps 5-7, best window 0.400")
    assert divergence(_rows([0.4, 0.4, 0.4, 0.05, 0.04, 0.04]), RULE) is None     # 0.0433 > 0.04
    assert divergence(_rows([0.0] * 10), RULE) is None                             # never had a reward
    assert divergence(rows, replace(RULE, window=0)) is None                       # guard off


def test_reward_collapse_must_exceed_its_noise():
    """Sparse rewards (best window 0.05, std 0.2) over 3 steps of 16 completions: a standard error of
    0.2 / sqrt(48) = 0.0289, so a fall to 0 (0.05 < 3 x 0.0289) is not a collapse; over 3 steps of 64
    (standard error 0.0144) it is."""
    rows = _rows([0.05, 0.05, 0.05, 0.0, 0.0, 0.0], **{"reward/std": 0.2})
    assert divergence(rows, replace(RULE, samples_per_step=16)) is None
    assert divergence(rows, replace(RULE, samples_per_step=64))[1] == 4


def test_heldout_kl_and_gradient_explosions():
    rows = [{"step": 0, "acc/heldout": 0.38}] + _rows([0.5] * 4) + [{"step": 5, "reward/mean": 0.5,
                                                                     "acc/heldout": 0.09}]
    why, since = divergence(rows, replace(RULE, heldout_n=200))     # 3 x sqrt(0.38 x 0.62 / 200) = 0.103
    assert why.startswith("held-out accuracy 0.09, best 0.38 at step 0") and since == 1
    assert divergence(rows, replace(RULE, heldout_n=8)) is None      # 8 problems: 3 x 0.172 > 0.29
    rows[-1]["acc/heldout"] = 0.1                                    # 0.1 >= 0.25 x 0.38 = 0.095
    assert divergence(rows, RULE) is None
    assert divergence(_rows([0.5] * 3, kl=0.01) + [{"step": 4, "reward/mean": 0.5, "kl": 11.0}], RULE)[0] \
        == "KL to the reference 11 > train.diverge_max_kl=10"
    grads = _rows([0.5] * 3, grad_norm=2.0) + [{"step": 4, "reward/mean": 0.5, "grad_norm": 2001.0}]
    assert divergence(grads, RULE)[0].startswith("gradient norm 2e+03 > train.diverge_grad_factor=1000 x its "
                                                 "median 2")
    grads[-1]["grad_norm"] = 1999.0
    assert divergence(grads, RULE) is None


def test_divergence_sets_later_checkpoints_aside(tmp_path):
    from reasonrl.config import load_config

    for s in (2, 4, 6):
        _fake_step(tmp_path / "checkpoints" / f"step-{s}", "config.json", checkpoint.STATE_FILE)
    said = []
    cfg = load_config(None, ["train.diverge_window=3"])
    guard = DivergenceGuard(cfg, tmp_path, [{"step": 0, "acc/heldout": 0.4}], said.append)
    assert [guard.check(s, {"reward/mean": r}) for s, r in enumerate([0.5, 0.5, 0.5, 0.0, 0.0, 0.0], 1)] \
        == [False] * 5 + [True]
    assert [s for s, _ in checkpoint.checkpoint_dirs(tmp_path)] == [2]
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "diverged").iterdir()) == ["step-4", "step-6"]
    assert said[0].startswith("error: training diverged at step 6: mean reward 0.000 over steps 4-6")
    assert f"exit {EXIT_DIVERGED}" in said[0] and "step-2" in said[0]
    assert invalid_distribution(RuntimeError("probability tensor contains either `inf`, `nan` or element < 0"))
    assert not invalid_distribution(RuntimeError("CUDA out of memory"))
    assert guard.sampling_failed(7, RuntimeError("probability tensor contains either `inf`, `nan` or element < 0"))


def test_stall_watchdog_dumps_stacks_and_exits(tmp_path):
    code = textwrap.dedent(f"""
        import threading, time
        from reasonrl.train.watchdog import StallWatchdog
        def stuck_in_a_collective():
            threading.Event().wait()
        with StallWatchdog({str(tmp_path)!r}, factor=5, min_s=1.5, poll_s=0.05) as w:
            for step in range(1, 4):
                time.sleep(0.05)
                w.beat(step)
            stuck_in_a_collective()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == EXIT_STALLED
    assert re.match(r"error: stalled: no step finished for 2s after step 3 \(limit 2s = max\(train.stall_min_s, "
                    r"train.stall_factor x median step time\)\); stacks in .*stall-\d+.txt; exiting with 78", r.stderr)
    dump = next(tmp_path.glob("stall-*.txt")).read_text()
    assert dump.startswith("no step finished") and "stuck_in_a_collective" in dump and "children: none" in dump

