"""One process owns a run directory at a time: `lock_run_dir` takes an advisory lock on `OUT/.lock`,
held until the process exits and released by the kernel however it exits (a killed holder never
leaves a stale lock: the next run takes it over), with the holder's PID in the file for the error.
`train` and `sft` called from Python release it when they return (`owned_while_running`)."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from reasonrl.errors import UserError

LOCK_FILE = ".lock"
_HELD: dict[str, int] = {}      # resolved run directory -> fd of its lock file, for the life of the process


class RunDirBusyError(UserError):
    """Another live process holds the run directory's lock."""


def lock_run_dir(out: Path) -> Path:
    """Take the run directory's lock for the life of this process (again in the same process: no-op).
    A POSIX record lock (fcntl F_SETLK), not flock: children forked by the trainer (verifier workers)
    do not inherit it, so a killed trainer never leaves its directory locked by a surviving child.
    Raises RunDirBusyError naming the holder's PID."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = str(out.resolve())
    if key in _HELD:
        return out / LOCK_FILE
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunDirBusyError(f"run directory '{out}' is in use by process {holder} (lock {out / LOCK_FILE}); "
                              f"wait for it to finish or stop it, or use another out=DIR") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:                   # a full disk: the PID is only for the message, the lock holds anyway
        pass
    _HELD[key] = fd
    return out / LOCK_FILE


def holds_lock(out: Path) -> bool:
    """True if this process holds the run directory's lock."""
    return str(Path(out).resolve()) in _HELD


def release_run_dir(out: Path) -> None:
    """Give up this process's lock on a run directory (no-op when it holds none)."""
    fd = _HELD.pop(str(Path(out).resolve()), None)
    if fd is not None:
        os.close(fd)                  # closing the only descriptor drops the record lock


@contextmanager
def owned_while_running(out: Path):
    """For library callers: a lock taken on `out` inside the block is released when the block ends, so
    the directory is free for the next command once a run returns (a lock held before is kept)."""
    before = holds_lock(out)
    try:
        yield
    finally:
        if not before:
            release_run_dir(out)
