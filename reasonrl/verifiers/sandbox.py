"""Run model-written code against tests in a sandbox: never in the trainer's process.

    res = run_tests(code="def f(x): return x", tests=["assert f(1) == 1"], limits=Limits())
    res.status, res.passed, res.total, res.isolation   # 'ok', 1, 1, {'isolated': True, ...}

Each run gets a fresh temporary directory, a scrubbed environment (no variable of the trainer's),
its own session and process group, and `_sandbox_child.py` as its program, which isolates itself
(new pid, mount and network namespaces and a fresh unprivileged uid when the OS allows; see that
file) and applies resource limits before the candidate runs. This side enforces the wall clock and
the output size, then kills the whole process group with SIGKILL and removes the directory.

status: ok (the tests ran; see passed/total) | timeout | output_limit | infra_error (the sandbox
itself failed: reported apart from failed tests). A program that dies mid-test (memory, exit,
signal) is `ok` with the tests it did not finish counted as failed.
"""
from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHILD = Path(__file__).with_name("_sandbox_child.py")


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 1024
    procs: int = 16
    file_mb: int = 16
    output_kb: int = 256

    @classmethod
    def from_settings(cls, s) -> "Limits":
        return cls(s.code_wall_s, s.code_cpu_s, s.code_memory_mb, s.code_procs, s.code_file_mb, s.code_output_kb)


@dataclass
class SandboxResult:
    status: str                       # ok | timeout | output_limit | infra_error
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)   # "test i: reason", first few
    isolation: dict = field(default_factory=dict)      # what the READY line reported
    output: str = ""                  # the program's stdout+stderr, capped
    exit_code: int | None = None
    wall_s: float = 0.0
    reason: str = ""

    def isolation_note(self) -> str:
        iso = self.isolation
        if not iso:
            return "sandbox did not start"
        if not iso.get("isolated"):
            return f"sandbox NOT isolated: network reachable, {iso.get('user', '')}; limits only"
        return f"sandbox: {iso.get('namespaces')} namespaces, {iso.get('user', '')}, network: {iso.get('network')}"


def _env(work: str, token: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "REASONRL_SANDBOX": token}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _pump(proc: subprocess.Popen, result_r: int, limits: Limits) -> tuple[str, bytes, bytes]:
    """Read output and results until both close, the deadline passes or the output cap is hit."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(result_r, selectors.EVENT_READ, "res")
    out, res, cap = bytearray(), bytearray(), limits.output_kb * 1024
    deadline, status = time.monotonic() + limits.wall_s, "ok"
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            status = "timeout"
            break
        for key, _ in sel.select(timeout=min(left, 0.5)):
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
            elif key.data == "out":
                out += data
                if len(out) > cap:
                    status = "output_limit"
            else:
                res += data[: 1 << 20]
        if status == "output_limit":
            break
    sel.close()
    return status, bytes(out[:cap]), bytes(res)


def _parse_results(raw: bytes, n_tests: int, res: SandboxResult) -> None:
    seen: dict[int, str] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "READY":
            try:
                res.isolation = json.loads(rest)
            except ValueError:
                res.isolation = {"isolated": False, "raw": rest[:200]}
        elif kind == "INFRA":
            res.reason = rest
        elif kind == "T":
            i, _, tail = rest.partition(" ")
            ok, _, why = tail.partition(" ")
            if i.isdigit() and int(i) < n_tests and int(i) not in seen:
                seen[int(i)] = "" if ok == "pass" else (why or "failed")
    res.passed = sum(1 for v in seen.values() if not v)
    res.total = n_tests
    res.failures = [f"test {i}: {v}" for i, v in sorted(seen.items()) if v][:5]
    missing = n_tests - len(seen)
    if missing:
        res.failures.append(f"{missing} test(s) never finished")


def run_tests(code: str, tests: list[str], *, setup: str = "", entry_point: str | None = None,
              limits: Limits = Limits(), isolate: bool = True) -> SandboxResult:
    """Run `code`, then `setup`, then each test statement in one sandboxed process (see module doc).
    With entry_point, the name `candidate` is bound to that function before the tests run."""
    base = tempfile.mkdtemp(prefix="reasonrl-sbx-")
    work = os.path.join(base, "work")
    os.mkdir(work, 0o700)
    token = secrets.token_hex(8)
    r, w = os.pipe()
    job = {"code": code, "tests": list(tests), "setup": setup, "entry_point": entry_point, "work": work,
           "result_fd": w, "isolate": isolate, "uid": 200_000 + secrets.randbelow(800_000),
           "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "procs": limits.procs,
                      "file_mb": limits.file_mb}}
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(CHILD)], cwd=work, env=_env(work, token),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(w,), start_new_session=True)
    except OSError as e:
        os.close(r), os.close(w), shutil.rmtree(base, ignore_errors=True)
        return SandboxResult("infra_error", total=len(tests), reason=f"cannot start the sandbox: {e}")
    os.close(w)
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        status, out, raw = _pump(proc, r, limits)
    except (BrokenPipeError, OSError) as e:
        status, out, raw = "infra_error", b"", f"INFRA sandbox pipe failed: {e}".encode()
    finally:
        _kill_group(proc)
        os.close(r)
        proc.stdout.close()
        shutil.rmtree(base, ignore_errors=True)
    res = SandboxResult(status, output=out.decode("utf-8", "replace"), exit_code=proc.returncode,
                        wall_s=time.monotonic() - t0)
    _parse_results(raw, len(tests), res)
    if status == "ok" and (not res.isolation or res.reason):
        res.status = "infra_error"
        res.reason = res.reason or f"sandbox exited ({proc.returncode}) before it was ready: {res.output[-300:]}"
    elif status == "ok" and proc.returncode in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        res.status, res.reason = "timeout", f"CPU time limit ({limits.cpu_s}s)"
    return res
