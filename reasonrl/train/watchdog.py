"""Stall watchdog: a daemon thread that ends a run which stopped making progress (a hung collective, a
rollout server or weight sync that never answers, a stuck rank) instead of letting it wait forever.

No step finished for max(train.stall_min_s, train.stall_factor x the median step time so far) ->
the stacks of every thread are written to RUN_DIR/stall-PID.txt (faulthandler), with the process's
children (verifier and sandbox workers: pid, state and what they wait on), one line goes to stderr,
and the process exits with EXIT_STALLED (78). Checkpoints are atomic and the logs append-safe, so
re-running the command resumes from the last checkpoint. The clock starts with the first step (the
model is loaded and the first evaluation done by then), which may take 2 x stall_min_s."""
from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from pathlib import Path

from reasonrl.train.guards import EXIT_STALLED

class StallWatchdog:
    def __init__(self, run_dir: Path, factor: float, min_s: float, rank: int = 0, log=None, poll_s: float = 1.0):
        self.run_dir, self.factor, self.min_s, self.rank = Path(run_dir), factor, min_s, rank
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.poll_s = poll_s
        self.durations: list[float] = []
        self.last: float | None = None             # when the last step finished (or the watch began)
        self.step = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="reasonrl-watchdog", daemon=True)

    def __enter__(self) -> "StallWatchdog":
        if self.factor > 0:
            self.last = time.monotonic()
            self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        return False

    def beat(self, step: int) -> None:
        """Step `step` finished."""
        now = time.monotonic()
        if self.last is not None:
            self.durations.append(now - self.last)
        self.last, self.step = now, step

    def limit_s(self) -> float:
        """Seconds without a finished step before the run counts as stalled (the first step: 2 x min_s)."""
        if not self.durations:
            return 2 * self.min_s
        d = sorted(self.durations)
        return max(self.min_s, self.factor * d[len(d) // 2])

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.last is not None and time.monotonic() - self.last > self.limit_s():
                self._fire(time.monotonic() - self.last)

    def _fire(self, waited: float) -> None:
        name = f"stall-rank{self.rank}-{os.getpid()}.txt" if self.rank else f"stall-{os.getpid()}.txt"
        path = self.run_dir / name
        try:
            with open(path, "w") as f:
                f.write(f"no step finished for {waited:.0f}s after step {self.step} (limit {self.limit_s():.0f}s)\n"
                        f"children: {children_report()}\n\nthread stacks:\n")
                f.flush()
                faulthandler.dump_traceback(file=f, all_threads=True)
        except OSError:
            path = None
        self.log(f"error: stalled: no step finished for {waited:.0f}s after step {self.step} (limit "
                 f"{self.limit_s():.0f}s = max(train.stall_min_s, train.stall_factor x median step time)); "
                 f"stacks in {path}; exiting with {EXIT_STALLED}: re-run the same command to resume")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_STALLED)


def children_report() -> str:
    """'pid state wchan cmd; ...' for the direct children of this process (Linux /proc), or 'none'."""
    out = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            proc = Path("/proc") / pid
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                wchan = (proc / "wchan").read_text().strip() or "-"
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
            except OSError:
                continue
            out.append(f"{pid} {state} {wchan} {cmd}")
    return "; ".join(out) or "none"


def hang_at(step: int):
    """Fault injection (bench/faults.py): Hooks whose step `step` never finishes, as a rank stuck in a
    collective or a weight sync that never returns would."""
    from reasonrl.train.hooks import Hooks

    def hang(s: int, batch):
        if s == step:
            threading.Event().wait()
        return batch
    return Hooks(before_update=hang)
