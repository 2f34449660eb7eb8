"""The sandbox's walls, one test each, seen from inside (what the program gets back as plain data) and
from outside (what exists on the host afterwards). Tests that need bubblewrap skip, saying why, where
the host has no sealed sandbox; the refusal and the opt-in path are tested everywhere."""
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

import reasonrl
import reasonrl.verifiers.sandbox as sbmod
from reasonrl.verifiers.codecheck import verdict_from
from reasonrl.verifiers.judge import judge
from reasonrl.verifiers.sandbox import Limits, NotPlainReturn, Refused, Sandbox, SandboxStopped, isolation_level

FAST = Limits(wall_s=3.0, cpu_s=1, memory_mb=512, procs=16, file_mb=4, output_kb=64, disk_mb=8)
MARK = "Untrusted side of the code judge"          # a line of the sandbox server's own source
sealed = pytest.mark.skipif(isolation_level()[0] != "sealed",
                            reason=f"no sealed sandbox on this host: {isolation_level()[1]}")

PROBE = """
def probe(paths, mode):
    out = []
    for p in paths:
        try:
            with open(p, mode) as f:
                out.append(f.read() if mode == "r" else f.write("x"))
        except Exception as e:
            out.append(type(e).__name__)
    return out
"""


def _server_processes() -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        try:
            if MARK.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                out.append(int(p))
        except (OSError, ValueError):
            pass
    return out


def _run(code: str, name: str, *args, limits: Limits = FAST):
    with Sandbox(code, limits) as sb:
        try:
            return sb.call(name, args, {}), sb
        except (Exception, SandboxStopped) as e:  # noqa: BLE001 - the test looks at what happened
            return e, sb


@sealed
def test_a_call_returns_plain_data_and_the_output_is_kept():
    value, sb = _run("def f(x):\n    print('hello')\n    return {'x': (x, [x * 0.5], {b'k'})}", "f", 3)
    assert value == {"x": (3, [1.5], {b"k"})} and type(value["x"]) is tuple
    assert (sb.status, sb.names, sb.calls) == ("ok", {"f": "call"}, 1)
    assert sb.output == "hello\n" and sb.isolation.startswith("sealed: bubblewrap")


@sealed
def test_sentinel_files_outside_its_directory_cannot_be_read(tmp_path):
    secret = f"sentinel-{uuid.uuid4().hex}"
    outside = tmp_path / "sentinel.txt"
    in_project = Path(reasonrl.__file__).parent / f".sentinel-{uuid.uuid4().hex}.txt"
    outside.write_text(secret)
    in_project.write_text(secret)
    try:
        paths = [str(outside), str(in_project), "/etc/passwd", "/etc/hostname", os.path.expanduser("~/.bashrc"),
                 str(Path(reasonrl.__file__).resolve()), f"/proc/1/root{outside}", "/work/shared/DESIGN.md"]
        got, sb = _run(PROBE, "probe", paths, "r")
    finally:
        in_project.unlink()
    assert sb.status == "ok" and got == ["FileNotFoundError"] * len(paths), got


@sealed
def test_no_file_can_be_created_outside_its_directory(tmp_path):
    name = f"escape-{uuid.uuid4().hex}"
    project = Path(reasonrl.__file__).parent
    host = [tmp_path / name, project / name, Path("/tmp") / name, Path("/run/lock") / name, Path("/dev/shm") / name,
            Path("/var/tmp") / name]
    inside = [f"/{name}", f"/usr/{name}", f"/sandbox/../{name}", f"/dev/{name}", f"/proc/{name}"]
    got, sb = _run(PROBE, "probe", [str(p) for p in host] + inside + [f"/sandbox/{name}"], "w")
    assert sb.status == "ok" and got[-1] == 1                       # its own directory is writable
    assert all(isinstance(g, str) and g.endswith("Error") for g in got[:-1]), got
    assert not any(p.exists() for p in host)


@sealed
def test_the_total_disk_quota_holds_against_many_small_files():
    code = ("import os\ndef fill(size):\n    n = total = 0\n    while n < 100000:\n        try:\n"
            "            with open(f'f{n}', 'wb') as f:\n                f.write(b'x' * size)\n"
            "        except OSError:\n            break\n        n += 1\n        total += size\n"
            "    st = os.statvfs('.')\n    return n, total, st.f_blocks * st.f_frsize\n")
    (n, total, size), sb = _run(code, "fill", 8192)
    assert sb.status == "ok" and size == FAST.disk_mb << 20 and 0 < total <= size and n > 100
    (n, _, _), sb = _run(code, "fill", 1)          # one-byte files still take a page each
    assert sb.status == "ok" and 100 < n <= (FAST.disk_mb << 20) // 4096


@sealed
def test_no_network_not_even_the_hosts_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    code = ("import socket\ndef reach(port):\n    try:\n        socket.create_connection(('127.0.0.1', port), timeout=1)\n"
            "        return 'connected'\n    except OSError as e:\n        return type(e).__name__\n")
    got, sb = _run(code, "reach", server.getsockname()[1])
    with pytest.raises(BlockingIOError):
        server.accept()                                  # nothing ever connected
    server.close()
    assert sb.status == "ok" and got != "connected"


@sealed
def test_own_pid_namespace_no_capabilities_no_trainer_environment(monkeypatch):
    monkeypatch.setenv("REASONRL_TEST_SECRET", "s3cr3t-value-42")
    code = ("import os, signal\ndef look(host_pid):\n    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "    cap = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]\n"
            "    env = ''.join(open(f'/proc/{p}/environ').read() for p in pids) + str(dict(os.environ))\n"
            "    try:\n        os.kill(host_pid, signal.SIGKILL)\n        hit = True\n    except OSError:\n        hit = False\n"
            "    return pids, cap, 's3cr3t' in env, hit\n")
    (pids, cap, leaked, hit), sb = _run(code, "look", os.getpid())
    assert sb.status == "ok" and max(pids) < 10                 # its own pid namespace: a handful of pids
    assert cap == "0000000000000000" and not leaked and not hit


@sealed
def test_fork_bomb_is_capped_and_every_process_dies():
    code = ("import os, time\ndef bomb():\n    n = 0\n    for _ in range(500):\n        try:\n            pid = os.fork()\n"
            "        except OSError:\n            break\n        if pid == 0:\n            os.setsid()\n"
            "            time.sleep(600)\n            os._exit(0)\n        n += 1\n    return n\n")
    n, sb = _run(code, "bomb")
    assert sb.status == "ok" and n < FAST.procs
    time.sleep(0.3)
    assert _server_processes() == []                     # even the setsid() children are gone


@sealed
@pytest.mark.parametrize("code, status", [
    ("def f():\n    while True:\n        pass\n", "timeout"),                      # CPU limit
    ("import time\ndef f():\n    time.sleep(60)\n", "timeout"),                     # wall clock
    ("import sys\ndef f():\n    sys.stdout.write('x' * 2**24)\n", "output_limit"),
    ("import os\ndef f():\n    os._exit(0)\n", "crashed"),
    ("def f():\n    return 'x' * 2**23\n", "violation"),                           # over reply_kb
])
def test_limits_end_the_program_with_their_own_status(code, status):
    t0 = time.monotonic()
    got, sb = _run(code, "f", limits=Limits(wall_s=2.0, cpu_s=1, output_kb=64, reply_kb=1024, disk_mb=8))
    assert isinstance(got, SandboxStopped) and sb.status == status
    assert time.monotonic() - t0 < 6


@sealed
def test_memory_hog_and_non_plain_returns_are_the_programs_failures():
    got, sb = _run("def f():\n    return [bytearray(2**30) for _ in range(4)]\n", "f")
    assert sb.status == "ok" and got.exc == "MemoryError"
    got, sb = _run("class I(int):\n    def __eq__(s, o):\n        return True\ndef f():\n    return I(1)\n", "f")
    assert sb.status == "ok" and isinstance(got, NotPlainReturn) and "is not plain data" in str(got)


def test_without_a_sealed_sandbox_code_rewards_refuse_unless_opted_in(monkeypatch):
    monkeypatch.setattr(sbmod, "isolation_level", lambda: ("unsealed", "bubblewrap (bwrap) is not installed"))
    with pytest.raises(Refused, match="code_allow_unsealed"):
        Sandbox("x = 1", FAST)
    job = {"code": "def f(x):\n    return x\n", "tests": ["assert f(1) == 1"], "setup": "", "entry_point": None}
    v = verdict_from(judge(job, FAST, allow_unsealed=False), "all_pass")
    assert (v.score, v.status) == (None, "error") and v.reason.startswith("refused: no sealed sandbox")
    v = verdict_from(judge(job, FAST, allow_unsealed=True), "all_pass")
    assert (v.score, v.status) == (1.0, "correct") and "isolation: UNSEALED (opted in" in v.reason


def test_a_sandbox_that_does_not_start_is_not_the_programs_fault(monkeypatch):
    monkeypatch.setattr(sbmod, "SERVER", "import sys; sys.exit(3)")
    monkeypatch.setattr(sbmod, "isolation_level", lambda: ("unsealed", "test"))
    job = {"code": "x = 1", "tests": ["assert x == 1"], "setup": "", "entry_point": None}
    v = verdict_from(judge(job, FAST, allow_unsealed=True), "all_pass")
    assert (v.score, v.status) == (None, "error") and "did not start" in v.reason
