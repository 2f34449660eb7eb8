"""Verifier settings: one frozen dataclass, never mutated.

Training passes its settings (the `verify:` config section) to the reward function
(`RewardFn(..., settings=cfg.verify)`), which applies them only while it scores (`using`).
`reasonrl verify` sets the process defaults from its flags with `configure`:

    from reasonrl.verifiers.settings import configure
    configure(math_workers=4, code_score="fraction")
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class VerifierSettings:
    math_workers: int = dataclasses.field(default_factory=_default_workers)  # math worker processes
    math_timeout_s: float = 5.0       # wall clock per math check; past it the verdict is 'timeout'
    math_strict: bool = True          # multi-part answers must match as sets (not merely overlap)
    code_score: str = "all_pass"      # all_pass: 1 only if every test passes | fraction: share passed
    code_wall_s: float = 10.0         # wall clock per sandboxed program
    code_cpu_s: int = 5               # CPU seconds per sandboxed program (RLIMIT_CPU)
    code_memory_mb: int = 1024        # address space per process (RLIMIT_AS)
    code_procs: int = 16              # processes the program may have (RLIMIT_NPROC)
    code_file_mb: int = 16            # largest file it may write (RLIMIT_FSIZE)
    code_output_kb: int = 256         # stdout+stderr kept; more ends the run as 'output limit'
    code_disk_mb: int = 64            # all files the program writes, together (sandbox tmpfs size)
    code_allow_unsealed: bool = False  # without bubblewrap, run model code with resource limits only
    code_parallel: int = dataclasses.field(default_factory=_default_workers)  # sandboxes at once

    def __post_init__(self):
        if self.code_score not in ("all_pass", "fraction"):
            raise ValueError(f"code_score must be 'all_pass' or 'fraction' (got {self.code_score!r})")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (bool, str)) and v <= 0:
                raise ValueError(f"verifier setting {f.name} must be > 0 (got {v})")


_CURRENT = [VerifierSettings()]


def current() -> VerifierSettings:
    return _CURRENT[0]


@contextlib.contextmanager
def using(settings: VerifierSettings | None):
    """Apply `settings` for the block (None: leave the current ones), restoring the previous after it."""
    if settings is None:
        yield current()
        return
    before, _CURRENT[0] = _CURRENT[0], settings
    try:
        yield settings
    finally:
        _CURRENT[0] = before


def configure(**changes) -> VerifierSettings:
    """Replace the process-wide settings (unknown names raise TypeError); returns the new settings."""
    _CURRENT[0] = dataclasses.replace(_CURRENT[0], **changes)
    return _CURRENT[0]
