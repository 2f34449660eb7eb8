"""The sandbox a candidate program runs in, and the channel its return values come back on.

    with Sandbox("def f(x):\\n    return x + 1", Limits()) as sb:
        sb.names                  # {'f': 'call'}: what the program defined (call | value | module <name>)
        sb.call("f", (1,), {})    # 2, decoded from plain data; never an object the program made
    sb.status, sb.isolation       # 'ok', 'sealed: bubblewrap ...'

Isolation levels (`isolation_level()` probes the host once per process):
  sealed     bubblewrap (bwrap, from the distribution's packages): new user, pid, network, ipc and uts
             namespaces, no capabilities, no further user namespaces, dies with its parent; the file
             system is an empty read-only root with /usr (and the interpreter's own directory) bound
             read-only, its own /proc and a minimal read-only /dev; the only writable place is
             /sandbox, a tmpfs whose size is the disk quota for all its files together. When the
             trainer runs as root the sandbox runs under a fresh unprivileged uid, so that the
             process limit counts its processes alone.
  unsealed   no bubblewrap, or the kernel refuses it: a bare process with resource limits only, in
             a fresh directory with an empty environment. It can read and write what the trainer's
             user can. Used only when the user opts in (verifier setting `code_allow_unsealed`);
             otherwise `Sandbox` raises `Refused`.
Resource limits in both: CPU seconds, address space, processes, file size, open files, no core file;
this side enforces the wall clock, the size of stdout+stderr and of each reply.

status after use: ok | timeout | output_limit | crashed (the program ended while requests were
pending: exit, signal, memory) | violation (a reply that is malformed, out of order or too big) |
error (the sandbox itself did not start: not the program's fault).
"""
from __future__ import annotations

import functools
import json
import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reasonrl.verifiers.plaindata import from_tree, to_tree

_HERE = Path(__file__).resolve().parent
SERVER = (_HERE / "plaindata.py").read_text() + "\n" + (_HERE / "_sandbox_child.py").read_text()
SANDBOX_DIR = "/sandbox"
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0              # the whole program: start, loading and every call
    cpu_s: int = 5
    memory_mb: int = 1024             # address space per process
    procs: int = 16                   # processes and threads (RLIMIT_NPROC)
    file_mb: int = 16                 # largest single file
    output_kb: int = 256              # stdout+stderr; more ends the run as output_limit
    disk_mb: int = 64                 # all its files together (sealed level only)
    reply_kb: int = 4096              # one encoded return value

    @classmethod
    def from_settings(cls, s) -> "Limits":
        return cls(s.code_wall_s, s.code_cpu_s, s.code_memory_mb, s.code_procs, s.code_file_mb,
                   s.code_output_kb, s.code_disk_mb)


class Refused(RuntimeError):
    """No sealed sandbox on this host and the user did not opt in to an unsealed one."""


class SandboxStopped(BaseException):
    """The program can answer no more (timeout, crash, violation). A BaseException so that test
    code's `except Exception` cannot turn a dead program into a pass."""


class CandidateRaised(Exception):
    """The program raised; exc is the name of its exception type, msg its text."""

    def __init__(self, exc: str, msg: str):
        super().__init__(f"{exc}: {msg}")
        self.exc, self.msg = exc, msg


class NotPlainReturn(Exception):
    """The program returned something that is not plain data."""


def _open_to_others(path: str) -> bool:
    parts = Path(path).parts
    return all(os.stat(os.path.join(*parts[:i])).st_mode & 0o001 for i in range(2, len(parts)))


def _python() -> str | None:
    """An interpreter the sandbox can run: the trainer's own, else the system's. As root the sandbox
    user is unprivileged, so every directory above the interpreter must be open to others."""
    for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        real = os.path.realpath(exe)
        if os.path.isfile(real) and (os.geteuid() != 0 or _open_to_others(real)):
            return real
    return None


def _fs_args(python: str) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    prefix = os.path.dirname(os.path.dirname(python))
    if not (prefix + "/").startswith("/usr/"):
        args += ["--ro-bind", prefix, prefix]
    return args


def bwrap_command(python: str, disk_mb: int) -> list[str]:
    env = [a for k, v in {**_ENV, "HOME": SANDBOX_DIR, "TMPDIR": SANDBOX_DIR}.items() for a in ("--setenv", k, v)]
    return ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv", *env, *_fs_args(python), "--proc", "/proc", "--dev", "/dev",
            "--size", str(disk_mb << 20), "--tmpfs", SANDBOX_DIR, "--chdir", SANDBOX_DIR,
            "--remount-ro", "/dev", "--remount-ro", "/", "--", python, "-I", "-S", "-u", "-c", SERVER]


def _user_kwargs() -> dict:
    """As root: run under a fresh unprivileged uid (its own process count, nothing of root's)."""
    if os.geteuid() != 0:
        return {}
    uid = 200_000 + secrets.randbelow(800_000)
    return {"user": uid, "group": uid, "extra_groups": []}


@functools.lru_cache(maxsize=None)
def isolation_level() -> tuple[str, str]:
    """('sealed' | 'unsealed', one line saying what is in force or why sealing is unavailable)."""
    python = _python()
    if shutil.which("bwrap") is None:
        return "unsealed", "bubblewrap (bwrap) is not installed"
    if python is None:
        return "unsealed", "no Python interpreter the sandbox user can read"
    cmd = bwrap_command(python, 1)[:-1] + ["pass"]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=30, env=_ENV, **_user_kwargs())
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unsealed", f"bwrap cannot start: {e}"
    if p.returncode != 0:
        tail = (p.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        return "unsealed", f"bwrap cannot create a sandbox here: {tail[:200]}"
    return "sealed", (f"sealed: bubblewrap, user/pid/net/ipc/uts namespaces, read-only /usr, "
                      f"writable {SANDBOX_DIR} only, Python {python}")


class Sandbox:
    """One running program (see module doc). Raises Refused when it may not run here."""

    def __init__(self, code: str, limits: Limits = Limits(), *, allow_unsealed: bool = False):
        level, detail = isolation_level()
        if level != "sealed" and not allow_unsealed:
            raise Refused(f"refused: no sealed sandbox ({detail}); install bubblewrap, "
                          "or set code_allow_unsealed=true to run model code with resource limits only")
        self.level = level
        self.isolation = detail if level == "sealed" else f"UNSEALED (opted in; {detail}): resource limits only"
        self.limits, self.status, self.names, self.calls = limits, "ok", {}, 0
        self.deadline = time.monotonic() + limits.wall_s
        self._out, self._over, self._next = bytearray(), False, 1
        self._tmp = None if level == "sealed" else tempfile.mkdtemp(prefix="reasonrl-sbx-")
        self._start(code)

    def _start(self, code: str) -> None:
        python = _python() or sys.executable
        cmd = bwrap_command(python, self.limits.disk_mb) if self.level == "sealed" else \
            [python, "-I", "-S", "-u", "-c", SERVER]
        r, self._w = os.pipe()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         pass_fds=(self._w,), start_new_session=True, cwd=self._tmp,
                                         env={**_ENV, "HOME": self._tmp or "/"},
                                         **(_user_kwargs() if self.level == "sealed" else {}))
        except OSError:
            os.close(r)
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        finally:
            os.close(self._w)
        self._r = r
        self._req = self.proc.stdin.fileno()
        os.set_blocking(self._req, False)
        self._drain = threading.Thread(target=self._pump_output, daemon=True)
        self._drain.start()
        lim = self.limits
        self._send({"code": code, "reply_fd": self._w, "limits": {
            "cpu_s": lim.cpu_s, "memory_mb": lim.memory_mb, "procs": lim.procs, "file_mb": lim.file_mb}})
        try:
            self._reply(-1)                          # sent before the program's code runs
        except SandboxStopped:
            self.status, self.reason = "error", f"the sandbox did not start: {self.output[-300:]}"
            return
        try:
            reply = self._reply(0)
        except SandboxStopped:
            return
        if reply.get("ok"):
            names = reply.get("names")
            if type(names) is not dict:
                self._stop("violation", "the load reply has no name table")
            self.names = {k: v for k, v in names.items() if type(k) is str and type(v) is str}
        else:
            self.load_error = f"{reply.get('exc')}: {reply.get('msg')}"

    load_error = ""

    def _pump_output(self) -> None:
        cap = self.limits.output_kb * 1024
        while True:
            data = self.proc.stdout.read1(65536)
            if not data:
                return
            self._out += data[: cap + 1 - len(self._out)]
            if len(self._out) > cap:
                self._over = True
                self.kill()
                return

    @property
    def output(self) -> str:
        return bytes(self._out[: self.limits.output_kb * 1024]).decode("utf-8", "replace")

    def _stop(self, status: str, why: str):
        if self.status == "ok":
            self.status = "output_limit" if self._over else status
            self.reason = "stdout+stderr over the limit" if self._over else why
        self.kill()
        raise SandboxStopped(f"{self.status}: {self.reason}")

    reason = ""

    def _io(self, fd: int, write: bool) -> None:
        """Wait until fd is ready, or stop the program at the deadline."""
        left = self.deadline - time.monotonic()
        ready = select.select([], [fd], [], max(0.0, left))[1] if write else select.select([fd], [], [], max(0.0, left))[0]
        if not ready:
            self._stop("timeout", f"no answer within the {self.limits.wall_s:g}s wall clock")

    def _send(self, obj: dict) -> None:
        if self.status != "ok":
            raise SandboxStopped(f"{self.status}: {self.reason}")
        data = json.dumps(obj, separators=(",", ":")).encode()
        data = struct.pack(">I", len(data)) + data
        while data:
            self._io(self._req, write=True)
            try:
                data = data[os.write(self._req, data):]
            except BlockingIOError:
                continue
            except OSError:
                self._stop(*self._ended())

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            self._io(self._r, write=False)
            chunk = os.read(self._r, min(n - len(buf), 1 << 20))
            if not chunk:
                self._stop(*self._ended())
            buf += chunk
        return buf

    def _ended(self) -> tuple[str, str]:
        """Why the program stopped answering: CPU limit (timeout) or anything else (crashed)."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code in (128 + signal.SIGXCPU, -signal.SIGXCPU) and not self._over:
            return "timeout", f"CPU time limit ({self.limits.cpu_s}s)"
        return "crashed", f"the program ended (exit {code}) before answering every request"

    def _reply(self, i: int) -> dict:
        size = struct.unpack(">I", self._read(4))[0]
        if size > self.limits.reply_kb * 1024:
            self._stop("violation", f"a reply of {size} bytes (limit {self.limits.reply_kb} KB)")
        try:
            msg = json.loads(self._read(size))
        except (ValueError, RecursionError):
            self._stop("violation", "a reply that is not JSON")
        if type(msg) is not dict or msg.get("id") != i or type(msg.get("ok")) is not bool:
            self._stop("violation", f"a reply out of order or malformed (expected id {i})")
        return msg

    def _request(self, op: str, name: str, **extra):
        i, self._next = self._next, self._next + 1
        self._send({"id": i, "op": op, "name": name, **extra})
        msg = self._reply(i)
        self.calls += 1
        if msg["ok"]:
            try:
                return from_tree(msg.get("value"))
            except ValueError as e:
                self._stop("violation", f"a reply that is not plain data: {e}"[:200])
        if msg.get("kind") == "unplain":
            raise NotPlainReturn(str(msg.get("msg"))[:300])
        raise CandidateRaised(str(msg.get("exc"))[:60], str(msg.get("msg"))[:300])

    def call(self, name: str, args: tuple, kwargs: dict):
        """name(*args, **kwargs) in the program; its decoded return value. Arguments must be plain
        data (NotPlain otherwise)."""
        return self._request("call", name, args=to_tree(tuple(args)), kwargs=to_tree(dict(kwargs)))

    def get(self, name: str):
        return self._request("get", name)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        self.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._drain.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        os.close(self._r)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
