"""Fault-injection harness: random faults across every kind a run or a server meets, each followed by
the check that matters, and a table fault -> outcome.

    python bench/faults.py                       # 24 random faults, about 10-20 minutes on 2 cores
    python bench/faults.py --faults 30 --seed 3 --steps 12

Run faults (on the tiny default; the run resumes after each, and when it reaches the end its final
weights and metrics are compared bit for bit with an uninterrupted run of the same seed):
  kill          SIGKILL at a random moment, half the time leaving a torn last line in the logs
  kill-ckpt     SIGKILL while a checkpoint is being written (its temporary folder must be cleaned up)
  sigterm       graceful stop (exit 75)
  two-trainers  a second `reasonrl train` on the same directory (exit 2 naming the first one's PID)
  hang          a step never finishes (injected; the stall watchdog: exit 78, stacks dumped)
  disk-full     the disk fills at a random write (a tmpfs filled to a random free size; exit 2, one line)
  corrupt       one flipped byte in the newest checkpoint (set aside, the previous one resumes)
Stops that must be clean (own directory, checked for intact checkpoints and no final/):
  diverge       train.lr=1e6 or 1e30 (exit 77)          nan    NaN advantages 3 steps in a row (exit 76)
  rank-stop     rank 1 of 2 (torchrun, gloo) is stopped with SIGSTOP: rank 0's watchdog ends the run
                (exit 78, stacks dumped), and the same command resumes to the end
Service faults (`reasonrl serve` on 127.0.0.1):
  poison        one hostile request among 12 ordinary ones sent together (bench/faults_serve.py)
  server-hang   the rollout server stops answering mid-run (SIGSTOP): exit 2 within the deadline, then resume
  verifier-hang a verifier pool call that never returns

A run counts as corrupted when it ends different from the uninterrupted one, with an unreadable log
line or a checkpoint that fails its manifest; an innocent request failed when an ordinary request
sent with a poisoned one did not get 200. Both totals are printed and must be 0.
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
sys.path.insert(0, str(ROOT))
SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=4",
         "eval.sampled=false", "rollout.max_new_tokens=30", "train.checkpoint_every=2", "train.log_rollouts=2",
         "train.keep_checkpoints=2", "train.threads=1"]
RUN_KINDS = ("kill", "kill-ckpt", "sigterm", "two-trainers", "hang", "disk-full", "corrupt")
KINDS = RUN_KINDS + ("diverge", "nan", "rank-stop", "poison", "server-hang", "verifier-hang")


def cmd(out: Path, steps: int, seed: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reasonrl", "train", *SMALL, f"out={out}", f"train.steps={steps}", f"seed={seed}",
            *extra]


def start(out: Path, steps: int, seed: int, *extra: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(cmd(out, steps, seed, *extra), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def rows(out: Path) -> list[dict]:
    from reasonrl.logging import read_jsonl
    f = out / "metrics.jsonl"
    return read_jsonl(f)[0] if f.exists() else []


def last_step(out: Path) -> int:
    return max((r.get("step", 0) for r in rows(out)), default=0)


def ckpt_step(out: Path) -> int:
    from reasonrl.checkpoint import checkpoint_dirs, verify
    return max((s for s, d in checkpoint_dirs(out) if verify(d) is None), default=0)


def wait_progress(p: subprocess.Popen, out: Path, beyond: int, timeout: float = 300) -> bool:
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < timeout:
        if last_step(out) > beyond:
            return True
        time.sleep(0.05)
    return False


def intact(out: Path) -> bool:
    """Every log line readable and every checkpoint verifying its manifest."""
    from reasonrl.checkpoint import checkpoint_dirs, verify
    from reasonrl.logging import read_jsonl
    logs = [f for f in (out / "metrics.jsonl", out / "rollouts.jsonl", out / "samples.jsonl") if f.exists()]
    return all(read_jsonl(f)[1] == 0 for f in logs) and all(verify(d) is None for _s, d in checkpoint_dirs(out))


def identical(a: Path, b: Path) -> bool:
    if not (a / "final").exists():
        return False
    x, y = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    strip = [[{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows(p)] for p in (a, b)]
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) and strip[0] == strip[1]


class Episode:
    """One run directory taking faults until it reaches the end, then compared with the baseline."""

    def __init__(self, root: Path, steps: int, seed: int, rng: random.Random):
        self.out, self.steps, self.seed, self.rng = root, steps, seed, rng
        self.pending: list[list] = []              # table rows waiting for the end-of-run comparison

    def near_end(self) -> bool:
        return last_step(self.out) >= self.steps - 2

    def fault(self, kind: str, disk) -> tuple[str, str, bool | None]:
        return getattr(self, "_" + kind.replace("-", "_"))(disk)

    def _kill(self, _disk, in_ckpt: bool = False):
        p = start(self.out, self.steps, self.seed)
        begin = last_step(self.out)
        t0, wait = time.time(), self.rng.uniform(0.3, 3.0)
        while p.poll() is None and time.time() - t0 < 300:
            tmp = list((self.out / "checkpoints").glob(".tmp-step-*")) if (self.out / "checkpoints").exists() else []
            if (in_ckpt and tmp) or (not in_ckpt and time.time() - t0 > wait and last_step(self.out) > begin):
                break
            time.sleep(0.002 if in_ckpt else 0.05)
        killed_at = last_step(self.out)
        p.kill()
        p.wait()
        torn = ""
        if not in_ckpt and self.rng.random() < 0.5:        # as if the kill had cut a row in half
            for name in ("metrics.jsonl", "rollouts.jsonl"):
                with open(self.out / name, "a") as f:
                    f.write('{"step": 99, "reward/mean": 0.')
            torn = ", torn last line in 2 logs"
        left = len(list((self.out / "checkpoints").glob(".tmp-step-*")))
        what = f"SIGKILL at step {killed_at}" + (f" during a checkpoint write ({left} temporary folder)"
                                                 if in_ckpt else "") + torn
        return what, None, None

    def _kill_ckpt(self, disk):
        return self._kill(disk, in_ckpt=True)

    def _sigterm(self, _disk):
        p = start(self.out, self.steps, self.seed)
        wait_progress(p, self.out, last_step(self.out))
        p.send_signal(signal.SIGTERM)
        rc = p.wait(300)
        return f"SIGTERM at step {last_step(self.out)}", f"stopped cleanly with code {rc}", rc in (75, 0)

    def _two_trainers(self, _disk):
        """The first trainer holds the directory (it stalls at a later step, watchdog off, so it is surely
        still running) while a second one is started on it; then the first is killed."""
        begin = last_step(self.out)
        a = start(self.out, self.steps, self.seed, "train.stall_factor=0",
                  env={"REASONRL_INJECT_HANG_STEP": str(begin + 2)})
        wait_progress(a, self.out, begin)
        b = subprocess.run(cmd(self.out, self.steps, self.seed), cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        said = b.stderr.strip().splitlines()[-1] if b.stderr.strip() else ""
        named = f"is in use by process {a.pid}" in said and "Traceback" not in b.stderr
        alive = a.poll() is None
        a.kill()
        a.wait()
        return ("second trainer on the same directory",
                f"second stopped cleanly with code {b.returncode} naming the first's PID: {named}; the first ran "
                f"on undisturbed: {alive}, then SIGKILL", b.returncode == 2 and named and alive)

    def _hang(self, _disk):
        at = last_step(self.out) + 2
        p = start(self.out, self.steps, self.seed, "train.stall_min_s=5", "train.stall_factor=5",
                  env={"REASONRL_INJECT_HANG_STEP": str(at)})
        _o, err = p.communicate(timeout=600)
        dumps = list(self.out.glob("stall-*.txt"))
        ok = p.returncode == 78 and bool(dumps) and "Traceback" not in err
        for d in dumps:
            d.unlink()
        return f"training rank stops at step {at}", f"stopped cleanly with code {p.returncode}, stacks dumped: " \
                                                     f"{bool(dumps)}", ok

    def _disk_full(self, disk):
        if disk is None:
            return "disk full (no tmpfs here)", "skipped", None
        free = self.rng.randint(0, 14) << 20
        filler = disk / "filler"
        have = shutil.disk_usage(disk).free
        with open(filler, "wb") as f:
            if have > free:
                os.posix_fallocate(f.fileno(), 0, have - free)
        try:
            p = start(self.out, self.steps, self.seed)
            _o, err = p.communicate(timeout=600)
        finally:
            filler.unlink()
        said = err.strip().splitlines()[-1] if err.strip() else ""
        clean = (p.returncode == 2 and said.startswith("reasonrl: error: disk full while writing")
                 and "Traceback" not in err) or p.returncode == 0
        what = said.split(" while writing ")[1].split(" ")[0] if " while writing " in said else "nothing"
        return (f"disk full with {free >> 20} MiB free", f"stopped cleanly with code {p.returncode} (one line, "
                f"while writing {what})" if p.returncode else "finished (enough room)", clean and intact(self.out))

    def _corrupt(self, _disk):
        from reasonrl.checkpoint import checkpoint_dirs
        if not checkpoint_dirs(self.out):           # make one first: run until a step past the next checkpoint
            p = start(self.out, self.steps, self.seed)
            wait_progress(p, self.out, last_step(self.out) + 2)
            p.send_signal(signal.SIGTERM)
            p.wait(300)
        found = checkpoint_dirs(self.out)
        if not found:
            return "corrupt newest checkpoint (none yet)", "skipped", None
        f = found[-1][1] / "model.safetensors"
        data = bytearray(f.read_bytes())
        data[self.rng.randrange(len(data))] ^= 0xFF
        f.write_bytes(data)
        return f"one flipped byte in {found[-1][1].name}", None, None

    def finish(self, base: Path) -> list[list]:
        """Run to the end and settle every pending row: resumed identical, or corrupted."""
        r = subprocess.run(cmd(self.out, self.steps, self.seed), cwd=ROOT, capture_output=True, text=True,
                           timeout=900)
        same = r.returncode == 0 and identical(self.out, base) and intact(self.out)
        ck = self.out / "checkpoints"
        leftovers = list(ck.glob(".tmp-*")) + list(ck.glob(".pruning-*"))
        for row in self.pending:
            resumed = "resumed identical" if same and not leftovers else "CORRUPTED (differs from uninterrupted)"
            row[2] = resumed if row[2] is None else f"{row[2]}; {resumed}"
            row[3] = same and not leftovers and row[3] is not False
        return self.pending


def clean_stop(tmp: Path, kind: str, rng: random.Random, steps: int, seed: int) -> tuple[str, str, bool]:
    out = tmp / f"{kind}-{rng.randrange(10 ** 6)}"
    if kind == "diverge":
        lr = rng.choice(["1e6", "1e30"])
        p = start(out, steps, seed, f"train.lr={lr}")
        what, want = f"train.lr={lr}", 77
    else:
        at = rng.randrange(2, 5)
        p = start(out, steps, seed, "train.checkpoint_every=1",
                  env={"REASONRL_INJECT_NAN_STEPS": ",".join(str(at + i) for i in range(3))})
        what, want = f"NaN advantages at steps {at}-{at + 2}", 76
    _o, err = p.communicate(timeout=600)
    ok = p.returncode == want and not (out / "final").exists() and intact(out) and "Traceback" not in err
    return what, f"stopped cleanly with code {p.returncode}, no final/, checkpoints intact", ok


def rank_stops(tmp: Path, rng: random.Random, steps: int, seed: int) -> tuple[str, str, bool]:
    """Two ranks under torchrun (gloo); SIGSTOP rank 1 mid-run: rank 0 waits in a collective until its
    stall watchdog ends it (exit 78, stacks dumped); the same command then resumes to the end."""
    import socket
    out = tmp / f"ranks-{rng.randrange(10 ** 6)}"
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    args = [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node=2", "--master_addr=127.0.0.1",
            f"--master_port={port}", "-m", "reasonrl", "train", *SMALL, f"out={out}", f"train.steps={steps}",
            f"seed={seed}", "train.stall_min_s=5", "train.stall_factor=5"]
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    at = rng.randint(2, steps - 3)
    wait_progress(p, out, at - 1)
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    rank1 = [k for k in kids if b"LOCAL_RANK=1\0" in Path(f"/proc/{k}/environ").read_bytes()]
    if p.poll() is not None or not rank1:
        p.wait()
        return "training rank 1 stops (torchrun)", "skipped (the run ended first)", None
    os.kill(int(rank1[0]), signal.SIGSTOP)
    t0, stopped_at = time.time(), last_step(out)
    text, _ = p.communicate(timeout=600)
    said = "error: stalled: no step finished" in text and "exiting with 78" in text
    dumps = list(out.glob("stall-*.txt"))
    stuck = "all_gather" in dumps[0].read_text() if dumps else False
    p2 = subprocess.run(args[:3] + [f"--master_port={port + 1}"] + args[4:], cwd=ROOT, capture_output=True,
                        text=True, timeout=900)
    ok = said and bool(dumps) and p2.returncode == 0 and intact(out)
    why = "" if p2.returncode == 0 else f" ({[x for x in p2.stderr.splitlines() if 'rror' in x][:2]})"
    return (f"training rank 1 stops (SIGSTOP, torchrun, step {stopped_at})",
            f"stopped cleanly: rank 0 exit 78 (stall watchdog), stacks dumped (waiting in a collective: {stuck}), "
            f"torchrun done {time.time() - t0:.0f}s after the stop; resumed to the end: exit {p2.returncode}{why}",
            ok)


def plan(n: int, rng: random.Random) -> list[str]:
    kinds = list(KINDS)
    rng.shuffle(kinds)
    return (kinds + [rng.choice(KINDS) for _ in range(max(0, n - len(kinds)))])[:n]


def mount_tmpfs(tmp: Path) -> Path | None:
    disk = tmp / "disk"
    disk.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk)], capture_output=True)
    return disk if ok.returncode == 0 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", type=int, default=24)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary run directories")
    a = ap.parse_args()
    from bench import faults_serve as fs

    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="reasonrl-faults-"))
    disk = mount_tmpfs(tmp)
    t0 = time.time()
    base = tmp / "uninterrupted"
    assert subprocess.run(cmd(base, a.steps, a.seed), cwd=ROOT, capture_output=True).returncode == 0
    print(f"uninterrupted run: {a.steps} steps in {time.time() - t0:.0f}s", flush=True)
    kinds = plan(a.faults, rng)
    srv = fs.Server(ROOT) if {"poison", "server-hang"} & set(kinds) else None
    table, innocent, episodes = [], 0, 0
    ep = None
    try:
        for i, kind in enumerate(kinds, 1):
            if kind in RUN_KINDS:
                if ep is None or ep.near_end():
                    if ep is not None:
                        ep.finish(base)
                    episodes += 1
                    ep = Episode((disk or tmp) / f"run-{episodes}", a.steps, a.seed, rng)
                what, outcome, ok = ep.fault(kind, disk)
                row = [i, kind, outcome, ok, what]
                ep.pending.append(row)
            elif kind in ("diverge", "nan"):
                row = [i, kind] + list(_swap(clean_stop(tmp, kind, rng, a.steps, a.seed)))
            elif kind == "rank-stop":
                row = [i, kind] + list(_swap(rank_stops(tmp, rng, a.steps, a.seed)))
            elif kind == "poison":
                (what, outcome, ok), failed = fs.poisoned_under_load(srv, rng)
                innocent += failed
                row = [i, kind, outcome, ok, what]
            elif kind == "server-hang":
                row = [i, kind] + list(_swap(fs.rollout_server_stops(srv, ROOT, tmp / f"server-run-{i}", SMALL, rng,
                                                                      a.steps)))
            else:
                row = [i, kind] + list(_swap(fs.verifier_never_returns(rng)))
            table.append(row)
            print(f"  {i:2d} {kind:13s} {row[4]} -> {row[2] or '(settled at the end of the run)'}", flush=True)
        if ep is not None:
            ep.finish(base)
    finally:
        if srv is not None:
            srv.stop()
    print_table(table, innocent, time.time() - t0)
    if disk is not None:
        subprocess.run(["umount", str(disk)], capture_output=True)
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r[3] is not False for r in table) and innocent == 0 else 1


def _swap(t: tuple[str, str, bool]) -> tuple[str, bool, str]:
    """(what, outcome, ok) -> the table's column order (outcome, ok, what)."""
    return t[1], t[2], t[0]


def print_table(table: list[list], innocent: int, seconds: float) -> None:
    print("\n| # | fault | injected | outcome |")
    print("|---|---|---|---|")
    for i, kind, outcome, ok, what in table:
        mark = "" if ok is not False else " **FAILED**"
        print(f"| {i} | {kind} | {what} | {outcome}{mark} |")
    corrupted = sum(1 for r in table if r[3] is False and r[1] in RUN_KINDS + ("diverge", "nan", "rank-stop",
                                                                                "server-hang"))
    print(f"\nfaults: {len(table)} ({len({r[1] for r in table})} kinds); runs corrupted: {corrupted}; "
          f"innocent requests failed: {innocent}; other failed checks: "
          f"{sum(1 for r in table if r[3] is False) - corrupted}; harness wall time {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
