"""A scripted OpenAI-compatible server on loopback for the endpoint tests: each request is answered by
`script(path, body, n)` (n = how many requests reached the server so far, from 1), which returns one of

    ("json", status, body_dict[, headers])    an answer
    ("drop",)                                 the connection is closed without an answer
    ("stall", seconds)                        nothing is sent for that long, then the connection closes
    ("trickle", seconds, body_dict)           status and headers at once, then one byte every `seconds`

GET /v1/models answers {"data": [{"id": "scripted"}]} unless the script handles it."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def chat_body(content: str, reasoning: str = "", tokens: int = 3, finish: str = "stop") -> dict:
    msg = {"role": "assistant", "content": content, **({"reasoning_content": reasoning} if reasoning else {})}
    return {"choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens}}


def text_body(text: str, tokens: int = 3, finish: str = "stop") -> dict:
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens}}


class FakeServer:
    def __init__(self, script):
        self.script, self.requests, self.lock = script, [], threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def _handle(self, body):
                with outer.lock:
                    outer.requests.append((self.path, body, dict(self.headers)))
                    n = len(outer.requests)
                if self.path.endswith("/models") and body is None:
                    act = ("json", 200, {"data": [{"id": "scripted"}]})
                else:
                    act = outer.script(self.path, body, n)
                if act[0] == "drop":
                    self.close_connection = True
                    return
                if act[0] == "stall":
                    time.sleep(act[1])
                    self.close_connection = True
                    return
                raw = json.dumps(act[2] if act[0] == "trickle" else act[2]).encode()
                self.send_response(200 if act[0] == "trickle" else act[1])
                for k, v in (act[3] if act[0] == "json" and len(act) > 3 else {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if act[0] == "trickle":
                    for b in raw:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(act[1])
                else:
                    self.wfile.write(raw)

            def do_GET(self):
                self._handle(None)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    self._handle(json.loads(raw))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128          # the default backlog of 5 drops bursts of concurrent connects

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def posts(self) -> list[dict]:
        return [b for _, b, _ in self.requests if b is not None]
