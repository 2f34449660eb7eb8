"""Fault-injection harness: the tiny default under SIGKILL (many, some during checkpoint writes),
SIGTERM, a corrupted newest checkpoint, a full disk, and NaN losses; after each fault the same
command resumes, and the end result is compared with an uninterrupted run of the same seed.

    python bench/faults.py                 # about 5-10 minutes on 2 cores
    python bench/faults.py --steps 40 --kills 12 --seed 3

Prints one table row per fault kind: faults injected, resumes, steps lost per fault (work redone
after the resume), and whether the final weights equal the uninterrupted run's. NaN injection
changes the trajectory on purpose (the poisoned update is skipped), so its row checks instead that
the run survived with finite weights and the skip was counted.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["train.prompts_per_step=8", "rollout.num_generations=4", "eval.size=16", "eval.every=10",
         "eval.sampled=false", "rollout.max_new_tokens=30", "train.checkpoint_every=2",
         "train.keep_checkpoints=2", "train.threads=1"]


def cmd(out: Path, steps: int, seed: int) -> list[str]:
    return [sys.executable, "-m", "reasonrl.cli", "train", *SMALL, f"out={out}", f"train.steps={steps}",
            f"seed={seed}"]


def last_step(out: Path) -> int:
    f = out / "metrics.jsonl"
    if not f.exists():
        return 0
    rows = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return max((r["step"] for r in rows), default=0)


def ckpt_step(out: Path) -> int:
    from reasonrl.checkpoint import checkpoint_dirs, verify
    good = [s for s, d in checkpoint_dirs(out) if verify(d) is None]
    return max(good, default=0)


def same_final(a: Path, b: Path) -> bool:
    x, y = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def metrics_equal(a: Path, b: Path) -> bool:
    def rows(p):
        return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
                for x in (p / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return rows(a) == rows(b)


def run_to_end(out: Path, steps: int, seed: int, env=None) -> int:
    return subprocess.run(cmd(out, steps, seed), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).returncode


def kill_during(out: Path, steps: int, seed: int, rng: random.Random, in_checkpoint: bool) -> tuple[int, int]:
    """Start the run, SIGKILL it at a random moment (or while a checkpoint is being written).
    Returns (step reached when killed, checkpoint step it will resume from)."""
    p = subprocess.Popen(cmd(out, steps, seed), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = last_step(out)
    deadline = time.time() + 120
    wait = rng.uniform(0.5, 4.0)
    t0 = time.time()
    while p.poll() is None and time.time() < deadline:
        tmp = list((out / "checkpoints").glob(".tmp-step-*")) if (out / "checkpoints").exists() else []
        if (in_checkpoint and tmp) or (not in_checkpoint and time.time() - t0 > wait and last_step(out) > start):
            break
        time.sleep(0.002 if in_checkpoint else 0.05)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()
    return last_step(out), ckpt_step(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary run directories")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="reasonrl-faults-"))
    base, run = tmp / "uninterrupted", tmp / "faulted"
    t0 = time.time()
    assert run_to_end(base, a.steps, a.seed) == 0
    print(f"uninterrupted run: {a.steps} steps in {time.time() - t0:.0f}s")
    rows = []
    # 1. SIGKILLs at random moments, every third one while a checkpoint is being written
    lost, resumes = [], 0
    for i in range(a.kills):
        if last_step(run) >= a.steps - 2:
            break
        reached, resume_from = kill_during(run, a.steps, a.seed, rng, in_checkpoint=(i % 3 == 2))
        lost.append(reached - resume_from)
        resumes += 1
    # 2. SIGTERM: graceful stop, exit 75, nothing lost
    p = subprocess.Popen(cmd(run, a.steps, a.seed), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = last_step(run)
    while p.poll() is None and last_step(run) <= start:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    term_rc = p.wait()
    term_lost = last_step(run) - ckpt_step(run)
    # 3. corrupt the newest checkpoint: the resume sets it aside and uses the previous one
    from reasonrl.checkpoint import checkpoint_dirs
    _s, newest = checkpoint_dirs(run)[-1]
    before = last_step(run)
    f = newest / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(data)
    corrupt_lost = before - ckpt_step(run)
    rc = run_to_end(run, a.steps, a.seed)
    identical = rc == 0 and same_final(run, base) and metrics_equal(run, base)
    rows.append(("SIGKILL (random; every 3rd during a checkpoint write)", len(lost), resumes,
                 f"{sum(lost) / max(len(lost), 1):.1f} (max {max(lost, default=0)})", identical))
    rows.append((f"SIGTERM (exit code {term_rc})", 1, 1, str(term_lost), identical))
    rows.append(("corrupted newest checkpoint", 1, 1, str(corrupt_lost), identical))
    # 4. full disk: a size-limited tmpfs when the OS allows mounting one
    rows.append(disk_full_row(tmp, a))
    # 5. NaN in the loss at two steps: skipped, counted, run completes with finite weights
    nan_run = tmp / "nan"
    rc = run_to_end(nan_run, a.steps, a.seed, env={"REASONRL_INJECT_NAN_STEPS": "3,4"})
    skipped = sum(json.loads(x).get("update/skipped_nonfinite", 0)
                  for x in (nan_run / "metrics.jsonl").read_text().splitlines())
    finite = all(torch.isfinite(t).all() for t in load_file(str(nan_run / "final" / "model.safetensors")).values())
    rows.append((f"NaN loss at steps 3,4 (skipped updates: {skipped})", 2, 0, "0", f"n/a (finite: {finite})"))
    print_table(rows, time.time() - t0)
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if identical else 1


def disk_full_row(tmp: Path, a) -> tuple:
    mnt = tmp / "small-disk"
    mnt.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True).returncode == 0
    if not ok:
        return ("full disk (tmpfs could not be mounted here)", 0, 0, "-", "skipped")
    try:
        out = mnt / "run"
        r = subprocess.run(cmd(out, a.steps, a.seed), cwd=ROOT, capture_output=True, text=True)
        said = "disk full while writing checkpoint" in r.stderr
        from reasonrl.checkpoint import checkpoint_dirs, verify
        intact = all(verify(d) is None for _s, d in checkpoint_dirs(out))
        return (f"full disk (16 MiB tmpfs; exit {r.returncode}, message: {said})", 1, 0, "-",
                f"n/a (previous checkpoints intact: {intact})")
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def print_table(rows, seconds: float) -> None:
    print(f"\n| fault | injected | resumes | steps lost per fault | final weights identical to uninterrupted |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print(f"\nharness wall time {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
