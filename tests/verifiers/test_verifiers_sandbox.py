"""Sandbox adversaries: each is contained, the trainer (this process) is unharmed, and the verdict is
right. Checks that depend on OS isolation skip, saying so, where the OS does not allow it."""
import os
import socket
import time

import pytest

from reasonrl.verifiers.codecheck import verdict_from
from reasonrl.verifiers.sandbox import Limits, run_tests

FAST = Limits(wall_s=3.0, cpu_s=2, memory_mb=512, procs=16, file_mb=4, output_kb=64)


def _sandbox_processes() -> list[int]:
    """Host pids of processes still running the sandbox program."""
    out = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"_sandbox_child.py" in f.read():
                    out.append(int(p))
        except (OSError, ValueError):
            pass
    return out


@pytest.fixture(scope="module")
def isolation() -> dict:
    res = run_tests("pass", ["assert True"], limits=FAST)
    assert res.status == "ok", res.reason
    return res.isolation


def _contained(isolation) -> bool:
    """Other processes of the trainer's user are out of reach (pid namespace or another uid)."""
    return bool(isolation.get("isolated")) or "unprivileged" in isolation.get("user", "")


def test_smoke_sandbox_passes_and_fails_tests(isolation):
    res = run_tests("def f(x):\n    return x + 1\nprint('hello')", ["assert f(1) == 2", "assert f(2) == 4"], limits=FAST)
    assert (res.status, res.passed, res.total) == ("ok", 1, 2)
    assert res.output == "hello\n" and "AssertionError" in res.failures[0]
    assert verdict_from(res, "fraction").score == 0.5 and verdict_from(res, "all_pass").score == 0.0


def test_infinite_loop_times_out():
    t0 = time.monotonic()
    res = run_tests("while True:\n    pass", ["assert True"], limits=FAST)
    assert res.status == "timeout" and time.monotonic() - t0 < 8
    assert verdict_from(res, "all_pass").status == "timeout"
    assert _sandbox_processes() == []


def test_fork_bomb_is_capped_and_every_process_dies(isolation):
    code = ("import os, time\nn = 0\nfor _ in range(1000):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        os.setsid()\n        time.sleep(600)\n"
            "        os._exit(0)\n    n += 1\nprint('forked', n, flush=True)\nwhile True:\n    pass\n")
    res = run_tests(code, ["assert True"], limits=FAST)
    assert res.status == "timeout"
    forked = int(res.output.split()[1])
    if _contained(isolation):
        assert forked < FAST.procs                        # RLIMIT_NPROC on a uid of its own
    time.sleep(0.2)
    assert _sandbox_processes() == []                     # even the setsid() escapees are gone


def test_memory_hog_gets_memory_error():
    res = run_tests("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))", ["assert True"], limits=FAST)
    assert res.status == "ok" and "MemoryError" in res.failures[0]
    assert verdict_from(res, "all_pass").status == "wrong"


def test_gigabyte_print_hits_the_output_limit():
    t0 = time.monotonic()
    res = run_tests("import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 2**20)", ["assert True"], limits=FAST)
    assert res.status == "output_limit" and len(res.output) == FAST.output_kb * 1024
    assert time.monotonic() - t0 < 8
    v = verdict_from(res, "all_pass")
    assert (v.score, v.status) == (0.0, "wrong") and "output limit" in v.reason


def test_writes_outside_its_directory_fail(tmp_path, isolation):
    if not _contained(isolation):
        pytest.skip(f"sandbox runs as the trainer's user here: {isolation}")
    targets = [str(tmp_path / "escape.txt"), "/tmp/reasonrl-escape.txt", "../escape.txt", "/var/tmp/reasonrl-escape.txt"]
    code = (f"targets = {targets!r}\nfor t in targets:\n    try:\n        open(t, 'w').write('x')\n"
            "    except OSError:\n        pass\nopen('mine.txt', 'w').write('ok')\n")
    res = run_tests(code, ["assert open('mine.txt').read() == 'ok'"], limits=FAST)
    assert (res.status, res.passed) == ("ok", 1)          # its own directory is writable
    assert not any(os.path.exists(t) for t in targets[:2] + targets[3:])
    assert not os.path.exists("/tmp/escape.txt")


def test_cannot_read_the_trainers_environment(monkeypatch, isolation):
    monkeypatch.setenv("REASONRL_TEST_SECRET", "s3cr3t-value-42")
    code = ("import os\nprint(dict(os.environ))\nfor p in os.listdir('/proc'):\n    try:\n"
            "        print(open(f'/proc/{p}/environ', 'rb').read())\n    except OSError:\n        pass\n")
    res = run_tests(code, ["assert True"], limits=Limits(output_kb=1024))
    assert res.status == "ok" and "REASONRL_SANDBOX" in res.output   # it did print its own environment
    if _contained(isolation):
        assert "s3cr3t" not in res.output
    else:
        assert "s3cr3t" not in res.output.split("\n")[0]           # at least its own environ is scrubbed


def test_network_connection_fails(isolation):
    if "namespace" not in isolation.get("network", ""):
        pytest.skip(f"no network namespace here; the verdict says: {isolation.get('network')}")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = f"import socket\ndef reach():\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    return True\n"
    res = run_tests(code, ["assert reach()"], limits=FAST)
    with pytest.raises(BlockingIOError):
        server.accept()                                   # nothing ever connected
    server.close()
    assert (res.status, res.passed) == ("ok", 0) and "unreachable" in res.failures[0].lower()


def test_killing_its_parent_does_not_touch_the_trainer(isolation):
    if not _contained(isolation):
        pytest.skip(f"sandbox runs as the trainer's user here: {isolation}")
    code = (f"import os, signal\nfor pid in [os.getppid(), {os.getpid()}, {os.getppid()}] + "
            "[int(p) for p in os.listdir('/proc') if p.isdigit()]:\n    if pid != os.getpid():\n"
            "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n")
    res = run_tests(code, ["assert True"], limits=FAST)
    assert os.getpid() and res.status == "ok" and res.passed == 1      # we are still here, and so is the harness


def test_cannot_delete_files_in_the_trainers_directory(tmp_path, monkeypatch, isolation):
    if not _contained(isolation):
        pytest.skip(f"sandbox runs as the trainer's user here: {isolation}")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    monkeypatch.chdir(tmp_path)
    code = (f"import os, shutil\nfor p in [{str(precious)!r}, '../precious.txt', 'precious.txt']:\n"
            "    try:\n        os.remove(p)\n    except OSError:\n        pass\n"
            f"shutil.rmtree({str(tmp_path)!r}, ignore_errors=True)\n")
    res = run_tests(code, ["assert True"], limits=FAST)
    assert res.status == "ok" and precious.read_text() == "keep me"


def test_exiting_early_fails_the_unfinished_tests():
    res = run_tests("import os\ndef f():\n    os._exit(0)\n", ["assert True", "f()", "assert True"], limits=FAST)
    assert (res.status, res.passed) == ("ok", 1) and res.failures[-1] == "2 test(s) never finished"


def test_infrastructure_failure_is_not_a_failed_test(monkeypatch):
    import reasonrl.verifiers.sandbox as sb

    monkeypatch.setattr(sb, "CHILD", sb.CHILD.with_name("no_such_file.py"))
    res = sb.run_tests("pass", ["assert True"], limits=FAST)
    v = verdict_from(res, "all_pass")
    assert res.status == "infra_error" and (v.score, v.status) == (None, "error")


def test_without_namespaces_the_verdict_says_so():
    res = run_tests("pass", ["assert True"], limits=FAST, isolate=False)
    v = verdict_from(res, "all_pass")
    if res.status == "infra_error":       # root with Python under a closed directory: refuses, loudly
        assert v.status == "error" and "cannot read Python" in v.reason
    else:
        assert v.status == "correct" and "sandbox NOT isolated: network reachable" in v.reason
