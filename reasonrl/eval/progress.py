"""A progress bar for long evaluations, on stderr (the summary table stays alone on stdout).

On a terminal one line is redrawn at most every `every_s` seconds; elsewhere (a log file, CI) a line
is printed at every tenth of the work, so logs stay short."""
from __future__ import annotations

import sys
import time

from reasonrl.logging import progress_bar


def _clock(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """`with Progress(total, "gsm8k") as p: ... p.update(n)` -> `gsm8k [####------] 120/300 samples 0:12 < 0:18`."""

    def __init__(self, total: int, label: str, unit: str = "samples", stream=None, every_s: float = 0.5):
        self.total, self.label, self.unit = total, label, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s, self.done, self.t0, self.shown_at, self.tenth = every_s, 0, time.monotonic(), 0.0, 0

    def line(self) -> str:
        spent = time.monotonic() - self.t0
        left = spent / self.done * (self.total - self.done) if self.done else 0.0
        eta = f" < {_clock(left)}" if 0 < self.done < self.total else ""
        return (f"{self.label} {progress_bar(self.done, self.total)} {self.done}/{self.total} {self.unit} "
                f"{_clock(spent)}{eta}")

    def update(self, n: int) -> None:
        self.done += n
        if self.tty:
            now = time.monotonic()
            if now - self.shown_at >= self.every_s or self.done >= self.total:
                self.stream.write("\r" + self.line() + "\033[K")
                self.stream.flush()
                self.shown_at = now
        else:
            tenth = 10 * self.done // max(self.total, 1)
            if tenth > self.tenth:
                self.tenth = tenth
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.tty and self.shown_at:
            self.stream.write("\n")
            self.stream.flush()
