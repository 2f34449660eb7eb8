"""A pool of verifier worker processes with a wall-clock limit on every call.

Why not `multiprocessing.Pool` or `ProcessPoolExecutor`: neither can kill one stuck call. A sympy
simplification of `9^{9^{9^{9}}}` never returns, and signal-based timeouts (math-verify's SIGALRM)
only work in a main thread. Here each worker owns one pipe; a call that passes its deadline gets the
verdict `timeout`, its worker is killed (SIGKILL) and replaced, and the pool keeps serving. A worker
that dies mid-call gives `error`. Workers are fresh interpreters (`python -m reasonrl.verifiers.pool`,
never a fork of the trainer, which holds threads and CUDA state, and no re-import of the caller's
`__main__`) and report `ready` before they are given work, so start-up never counts against a limit.

    pool = WorkerPool(workers=2, timeout_s=5.0)
    results = pool.map(fn, [(a, b), ...])   # -> [CallResult(status, value, reason), ...] in order
    pool.close()
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class CallResult:
    """status: ok | timeout | error. value is the function's return value when ok."""
    status: str
    value: Any = None
    reason: str = ""


def _worker_main() -> None:
    """Worker loop (`python -m reasonrl.verifiers.pool`): messages arrive on stdin, answers leave on a
    private copy of stdout (fd 1 itself is pointed at stderr so stray prints cannot corrupt them)."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    conn_in, conn_out = Connection(0, writable=False), Connection(out_fd, readable=False)
    initializer = conn_in.recv()
    if initializer is not None:
        initializer()
    conn_out.send(("ready", None))
    while True:
        try:
            fn, args = conn_in.recv()
        except (EOFError, OSError):
            return
        try:
            conn_out.send(("ok", fn(*args)))
        except Exception as e:  # noqa: BLE001 - reported to the caller as an error verdict
            conn_out.send(("error", f"{type(e).__name__}: {e}"[:500]))


class _Worker:
    """One worker process, started with subprocess (not multiprocessing: no re-import of the
    caller's __main__, no fork of the trainer)."""

    def __init__(self, initializer):
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.proc = subprocess.Popen([sys.executable, "-m", "reasonrl.verifiers.pool"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.send_conn = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.conn = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.send_conn.send(initializer)
        self.ready = False
        self.job: int | None = None       # index of the call it is running
        self.deadline = 0.0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.conn.close()
        self.send_conn.close()


class WorkerPool:
    """N worker processes; `map` runs fn(*args) for each args tuple with a per-call time limit."""

    def __init__(self, workers: int = 2, timeout_s: float = 5.0, initializer: Callable | None = None):
        if workers < 1 or timeout_s <= 0:
            raise ValueError(f"workers must be >= 1 and timeout_s > 0 (got {workers}, {timeout_s})")
        self.timeout_s = timeout_s
        self._init = initializer
        self._workers = [_Worker(initializer) for _ in range(workers)]
        self._lock = threading.Lock()
        self.replaced = 0                 # workers killed and restarted so far (timeouts, crashes)
        self._start_failures = 0

    def map(self, fn: Callable, arg_tuples: list[tuple], timeout_s: float | None = None) -> list[CallResult]:
        """fn must be importable by name (a module-level function). Results come back in order."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            return self._map(fn, list(arg_tuples), limit)

    def _map(self, fn, todo: list[tuple], limit: float) -> list[CallResult]:
        results: list[CallResult | None] = [None] * len(todo)
        queue = deque(range(len(todo)))
        while queue or any(w.job is not None for w in self._workers):
            for w in self._workers:
                if w.ready and w.job is None and queue:
                    i = queue.popleft()
                    w.job, w.deadline = i, time.monotonic() + limit
                    w.send_conn.send((fn, todo[i]))
            self._wait_and_collect(results, limit)
        return results  # type: ignore[return-value]

    def _wait_and_collect(self, results: list, limit: float) -> None:
        busy = [w.deadline for w in self._workers if w.job is not None]
        wait_s = max(0.0, min(busy) - time.monotonic()) if busy else 1.0
        ready = wait([w.conn for w in self._workers], timeout=wait_s)
        for idx, w in enumerate(list(self._workers)):
            if w.conn in ready:
                try:
                    kind, payload = w.conn.recv()
                except (EOFError, OSError):
                    self._fail(idx, results, "error", "worker process died during the call")
                    continue
                if kind == "ready":
                    w.ready = True
                elif w.job is not None:
                    results[w.job] = CallResult("ok", payload) if kind == "ok" else CallResult("error", None, payload)
                    w.job = None
            elif w.job is not None and time.monotonic() >= w.deadline:
                self._fail(idx, results, "timeout", f"no result within {limit:g}s wall clock; worker replaced")

    def _fail(self, idx: int, results: list, status: str, reason: str) -> None:
        """Record the running call's failure, kill the worker and start a fresh one in its place."""
        w = self._workers[idx]
        if w.job is not None:
            results[w.job] = CallResult(status, None, reason)
        w.kill()
        self._start_failures = 0 if w.ready else self._start_failures + 1
        if self._start_failures >= 3:
            raise RuntimeError("verifier worker processes die while starting (3 in a row); "
                               "run `python -c 'import math_verify'` to see why")
        self._workers[idx] = _Worker(self._init)
        self.replaced += 1

    def close(self) -> None:
        for w in self._workers:
            w.kill()
        self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_SHARED: dict[tuple, WorkerPool] = {}


def shared_pool(workers: int, timeout_s: float, initializer: Callable | None = None) -> WorkerPool:
    """One pool per (workers, timeout, initializer) for the whole process, closed at exit."""
    key = (workers, timeout_s, initializer)
    if key not in _SHARED:
        _SHARED[key] = WorkerPool(workers, timeout_s, initializer)
    return _SHARED[key]


@atexit.register
def _close_shared() -> None:
    for p in _SHARED.values():
        p.close()
    _SHARED.clear()


if __name__ == "__main__":
    _worker_main()
