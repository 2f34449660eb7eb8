"""Every call to a rollout server ends within its deadline: a server that never answers, and one that
trickles its answer out a byte at a time (each read within the socket timeout, the whole far beyond)."""
import socket
import threading
import time

import pytest

from reasonrl.rollout.server import RolloutServerError, http_json


def _serve(behaviour):
    """A loopback TCP server running `behaviour(conn)` for each connection; -> (url, stop)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def loop():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=behaviour, args=(conn, stop), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def _silent(conn, stop):
    conn.recv(65536)
    stop.wait(30)
    conn.close()


def _trickle(conn, stop):
    conn.recv(65536)
    body = b'{"weight_version": 1' + b" " * 200 + b"}"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    for b in body:
        if stop.wait(0.1):
            break
        try:
            conn.sendall(bytes([b]))
        except OSError:
            break
    conn.close()


@pytest.mark.parametrize("behaviour", [_silent, _trickle])
def test_a_server_that_hangs_is_an_error_within_the_deadline(behaviour):
    url, stop = _serve(behaviour)
    t0 = time.monotonic()
    try:
        with pytest.raises(RolloutServerError, match=rf"rollout server {url}/v1/models: .*after 2 tries"):
            http_json(url + "/v1/models", timeout_s=0.5, retries=2)
    finally:
        stop.set()
    assert time.monotonic() - t0 < 0.5 * 2 * 2 + 0.5 + 1.0      # two tries of at most ~2 x 0.5 s, one backoff
