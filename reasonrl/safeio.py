"""Writes a run can survive: whole-file replacement that is atomic (temporary file, fsync, rename) and
JSONL appends that are all-or-nothing (one write of the whole line, cut back on failure), with a full
disk reported in one line (DiskFullError) instead of a traceback and a half-written file."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from reasonrl.errors import UserError


class DiskFullError(UserError):
    """No space left while writing part of a run; what was written before is intact and the run
    resumes when re-run with space freed."""


def is_disk_full(e: BaseException, free_bytes: int | None = None) -> bool:
    """ENOSPC/EDQUOT, or a writer failing with the disk (nearly) full: torch.save raises RuntimeErrors
    such as 'iostream error' or 'unexpected pos' instead of OSError."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left" in str(e) or (free_bytes is not None and free_bytes < 2**20)


def disk_full(path: Path, what: str) -> DiskFullError:
    free = _free(Path(path))
    return DiskFullError(f"disk full while writing {what} {path} ({free / 2**20:.1f} MiB free); what was written "
                         f"before is intact: free space and re-run the same command to resume")


def _free(path: Path) -> int:
    for p in (path, *path.parents):
        if p.exists():
            return shutil.disk_usage(p).free
    return 0


def atomic_write_text(path: Path, text: str, what: str = "file") -> None:
    """Replace `path` with `text` so that a reader (or a resume after a kill) sees the old or the new
    content, never a mix. Raises DiskFullError on a full disk (the old file is kept)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(path, what) from None
        raise


def append_line(path: Path, line: str, what: str = "log") -> None:
    """Append one line (newline added) in a single write; if it cannot be written whole (disk full),
    the file is cut back to where it was, so it never ends in a torn line. Raises DiskFullError."""
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as e:
            os.ftruncate(fd, size)
            if is_disk_full(e):
                raise disk_full(path, what) from None
            raise
    finally:
        os.close(fd)
