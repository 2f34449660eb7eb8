"""Faults outside the trainer, for bench/faults.py: poisoned requests under load against a live
`reasonrl serve` (loopback only), a rollout server that stops answering mid-run, and a verifier worker
that never returns. Each returns (detail, outcome, ok)."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

KEY = "faults-key"
ORDINARY = {"messages": [{"role": "user", "content": "5-2+0+0-2+3+3+1+1-6="}], "max_tokens": 8, "temperature": 1.0}


class Server:
    """`reasonrl serve embedded` on 127.0.0.1 (a free port), API key required; stop() ends it."""

    def __init__(self, root: Path):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "reasonrl", "serve", "embedded", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--api-key", KEY, "--threads", "1",
                                      "--max-body-bytes", "100000", "--log-level", "critical"],
                                     cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("reasonrl serve did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(30)


def _post(url: str, body: bytes, path: str = "/v1/chat/completions", key: str | None = KEY) -> int:
    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _get(url: str, path: str) -> int:
    try:
        with urllib.request.urlopen(url + path, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _chunked(port: int, total: int, chunk: int = 1 << 16) -> int:
    """POST a chunked body of `total` bytes; -> the HTTP status (the server must answer before the end)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
              f"Transfer-Encoding: chunked\r\n\r\n".encode())
    reply, sent = b"", 0
    try:
        while sent < total and not reply:
            s.sendall(f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n")
            sent += chunk
            s.setblocking(False)
            try:
                reply = s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
        while b"\r\n" not in reply:
            reply += s.recv(4096)
    except (BrokenPipeError, ConnectionResetError):
        reply = reply or s.recv(4096)
    finally:
        s.close()
    return int(reply.split(b" ")[1]) if sent < total else -1


POISONS = {
    "top_k 2^63": lambda srv: _post(srv.url, json.dumps({**ORDINARY, "top_k": 2 ** 63}).encode()),
    "token id outside the vocabulary": lambda srv: _post(srv.url, json.dumps(
        {"prompt": [1, 10 ** 9], "max_tokens": 4}).encode(), "/v1/completions"),
    "JSON nested 40,000 deep": lambda srv: _post(srv.url, b"{\"messages\": " + b"[" * 40_000 + b"]" * 40_000 + b"}"),
    "64 MiB chunked body": lambda srv: _chunked(srv.port, 64 << 20),
    "NaN temperature": lambda srv: _post(srv.url, json.dumps({**ORDINARY, "temperature": float("nan")}).encode()),
    "/openapi.json without the key": lambda srv: _get(srv.url, "/openapi.json"),
}


def poisoned_under_load(srv: Server, rng: random.Random, ordinary: int = 12) -> tuple[str, str, bool]:
    """One poisoned request among `ordinary` ordinary ones sent at the same moment."""
    name = rng.choice(sorted(POISONS))
    statuses: dict[int, int] = {}

    def one(i):
        statuses[i] = POISONS[name](srv) if i == 0 else _post(srv.url, json.dumps(ORDINARY).encode())
    threads = [threading.Thread(target=one, args=(i,)) for i in range(ordinary + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    innocent_failed = sum(statuses.get(i) != 200 for i in range(1, ordinary + 1))
    ok = 400 <= statuses.get(0, 0) < 500 and innocent_failed == 0
    return (f"{name} among {ordinary} ordinary", f"request isolated: HTTP {statuses.get(0)}; ordinary "
            f"{ordinary - innocent_failed}/{ordinary} answered 200", ok), innocent_failed


def rollout_server_stops(srv: Server, root: Path, out: Path, small: list[str], rng: random.Random,
                         steps: int) -> tuple[str, str, bool]:
    """Train through the server; SIGSTOP it at a random moment: the trainer must stop within its deadline
    with one line (exit 2); after SIGCONT the same command resumes to the end."""
    args = [sys.executable, "-m", "reasonrl", "train", *small, f"out={out}", f"train.steps={steps}",
            "rollout.backend=server", f"rollout.server_url={srv.url}", "rollout.server_timeout_s=3",
            "rollout.server_retries=2", "rollout.server_probe=false"]
    env = {**os.environ, "REASONRL_SERVER_API_KEY": KEY}
    p = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    at, t0 = rng.randint(1, steps // 2), time.time()
    while p.poll() is None and time.time() - t0 < 300 and _step(out) < at:   # stop it mid-run, at a random step
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.5))
    srv.proc.send_signal(signal.SIGSTOP)
    t0 = time.time()
    try:
        _out, err = p.communicate(timeout=300)
    finally:
        srv.proc.send_signal(signal.SIGCONT)
    waited = time.time() - t0
    last = err.strip().splitlines()[-1] if err.strip() else ""
    clean = p.returncode == 2 and "Traceback" not in err and last.startswith("reasonrl: error: rollout server")
    r = subprocess.run(args, cwd=root, capture_output=True, text=True, env=env, timeout=600)
    ok = clean and r.returncode == 0
    return ("rollout server stops answering (SIGSTOP)",
            f"stopped cleanly with code {p.returncode} {waited:.0f}s after the stop (deadline 3s x 2 tries per "
            f"call); resumed to the end: exit {r.returncode}", ok)


def _step(out: Path) -> int:
    f = out / "metrics.jsonl"
    if not f.exists():
        return 0
    from reasonrl.logging import read_jsonl
    return max((r.get("step", 0) for r in read_jsonl(f)[0]), default=0)


def verifier_never_returns(rng: random.Random) -> tuple[str, str, bool]:
    """A pool call that never returns among ordinary ones: it alone times out, its worker is replaced,
    and the pool keeps answering."""
    from reasonrl.verifiers.pool import WorkerPool

    n, hung = 6, rng.randrange(6)
    with WorkerPool(workers=2, timeout_s=1.0) as pool:
        res = pool.map(time.sleep, [(10 ** 6,) if i == hung else (0.01,) for i in range(n)])
        after = pool.map(abs, [(-3,)])
        replaced = pool.replaced
    statuses = [r.status for r in res]
    ok = statuses[hung] == "timeout" and statuses.count("ok") == n - 1 and after[0].value == 3
    return (f"verifier worker never returns (call {hung + 1} of {n})",
            f"request isolated: that call 'timeout' after 1s, {statuses.count('ok')}/{n - 1} others ok, "
            f"{replaced} worker replaced, pool still answers", ok)
