"""The rollout-server backend against SGLang and vLLM: CONTRACT TESTS ONLY. Neither engine can be
installed here, so small fake HTTP servers (stdlib http.server around the tiny embedded model) implement
the documented request/response shapes and nothing more:

  SGLang: POST /update_weights_from_disk {"model_path", "weight_version"?} -> {"success", "message",
          "num_paused_requests"} (400 when success is false); GET /model_info -> {"weight_version", ...};
          /v1/completions with `return_token_ids` (choice token_ids / prompt_token_ids), text tokens in
          logprobs, `echo` + `logprobs` -> prompt logprobs first, metadata.weight_version.
  vLLM:   POST /collective_rpc {"method", "args", "kwargs"} (VLLM_SERVER_DEV_MODE=1; 404 otherwise) ->
          {"results": [...]}; /v1/completions with `return_tokens_as_token_ids` ("token_id:N"), echo +
          logprobs -> prompt logprobs first; no weight version.
Also: the rollout.server_* config keys, and a dead or hanging server is an error within the timeout.
"""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from reasonrl.config import ConfigError, RolloutConfig, load_config
from reasonrl.models import eos_ids, load_model
from reasonrl.rollout import make_backend
from reasonrl.rollout.server import RolloutServerError, ServerBackend
from reasonrl.serve.weights import apply_weights, read_weights


class FakeEngine(BaseHTTPRequestHandler):
    """Shared by both fakes: the model, scoring and sampling. Subclasses answer the engine's routes."""
    state: dict = {}

    def log_message(self, *a):                     # keep pytest output clean
        pass

    def reply(self, code: int, body) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self):
        if self.path == "/v1/models":
            return self.reply(200, {"object": "list", "data": [{"id": self.state["name"], "object": "model"}]})
        self.route_get()

    def do_POST(self):
        st, body = self.state, self.body()
        st["calls"].append((self.path, body))
        if st.get("hang"):
            time.sleep(st["hang"])
        if self.path == "/v1/completions":
            return self.reply(200, self.complete(body))
        self.route_post(body)

    def load(self, path: str) -> str | None:
        """Load a folder's safetensors into the fake's model; an error message or None."""
        try:
            apply_weights(self.state["model"], read_weights(path))
        except Exception as e:
            return str(e)
        return None

    @torch.no_grad()
    def complete(self, b: dict) -> dict:
        st, ids, t = self.state, list(b["prompt"]), b.get("temperature", 1.0) or 1.0
        assert isinstance(ids[0], int) and b.get("model") == st["name"]
        model, gen = st["model"], torch.Generator().manual_seed(b.get("seed") or 0)
        echo = bool(b.get("echo") and b.get("logprobs"))       # both engines: echo AND logprobs >= 1
        head = []
        if echo:
            x = torch.tensor([ids])
            head = [None] + (model(input_ids=x).logits[0, :-1].float() / t).log_softmax(-1).gather(
                1, x[0, 1:, None]).squeeze(1).tolist()
        choices = []
        for j in range(b.get("n", 1)):
            seq, toks, lps = list(ids), [], []
            for _ in range(b["max_tokens"]):
                lp = (model(input_ids=torch.tensor([seq])).logits[0, -1].float() / t).log_softmax(-1)
                tok = int(lp.argmax()) if b["temperature"] == 0 else int(torch.multinomial(lp.exp(), 1, generator=gen))
                toks, lps, seq = toks + [tok], lps + [float(lp[tok])], seq + [tok]
                if tok in st["eos"]:
                    break
            choices.append(self.choice(j, ids if echo else [], toks, head + lps))
        return self.wrap(choices)


class FakeSGLang(FakeEngine):
    def route_get(self):
        if self.path == "/model_info":
            return self.reply(200, {"model_path": "m", "weight_version": self.state["version"]})
        self.reply(404, {"detail": "Not Found"})

    def route_post(self, body: dict):
        st = self.state
        assert self.path == "/update_weights_from_disk" and set(body) <= {"model_path", "load_format",
                                                                          "weight_version", "abort_all_requests"}
        why = st.get("fail") or self.load(body["model_path"])
        if why is None and not (st["root"] / body["model_path"]).joinpath("config.json").exists():
            why = "config.json missing"
        if why:
            return self.reply(400, {"success": False, "message": f"Failed to update weights: {why}",
                                    "num_paused_requests": 0})
        if not st.get("ignore_version"):
            st["version"] = body.get("weight_version") or st["version"]
        self.reply(200, {"success": True, "message": "Succeeded to update model weights.", "num_paused_requests": 0})

    def choice(self, j, prompt_ids, toks, lps):
        text = [self.state["tok"].decode([i]) for i in prompt_ids + toks]    # SGLang: text tokens in logprobs
        return {"index": j, "text": "".join(text), "finish_reason": "stop", "token_ids": toks,
                "prompt_token_ids": prompt_ids or None,
                "logprobs": {"tokens": text, "token_logprobs": lps, "top_logprobs": None, "text_offset": None}}

    def wrap(self, choices):
        return {"id": "x", "object": "text_completion", "choices": choices,
                "metadata": {"weight_version": self.state["version"]}}


class FakeVLLM(FakeEngine):
    def route_get(self):
        self.reply(404, {"detail": "Not Found"})

    def route_post(self, body: dict):
        st = self.state
        if self.path != "/collective_rpc" or not st.get("dev_mode", True):
            return self.reply(404, {"detail": "Not Found"})
        assert body["method"] == "reload_weights" and set(body["kwargs"]) <= {"weights_path", "is_checkpoint_format"}
        why = st.get("fail") or self.load(body["kwargs"]["weights_path"])
        if why:                       # an exception in a worker: FastAPI's plain 500
            return self.reply(500, {"detail": f"RuntimeError: {why}"})
        self.reply(200, {"results": [None]})

    def choice(self, j, prompt_ids, toks, lps):
        return {"index": j, "text": "", "finish_reason": "stop", "logprobs": {
            "tokens": [f"token_id:{i}" for i in prompt_ids + toks], "token_logprobs": lps,
            "top_logprobs": None, "text_offset": None}}

    def wrap(self, choices):
        return {"id": "x", "object": "text_completion", "choices": choices}


@pytest.fixture(scope="module")
def policy():
    torch.set_num_threads(1)
    return load_model("embedded", device="cpu")


def serve(handler, policy, tmp_path, **extra):
    model, tok = policy
    server_model, _ = load_model("embedded", device="cpu")
    state = {"model": server_model, "tok": tok, "eos": set(eos_ids(model, tok)), "calls": [], "version": "default",
             "root": tmp_path, "name": handler.__name__.lower(), **extra}
    cls = type(handler.__name__, (handler,), {"state": state})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, state, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture
def fake(policy, tmp_path):
    servers = []

    def start(handler, **extra):
        srv, state, url = serve(handler, policy, tmp_path, **extra)
        servers.append(srv)
        return state, url
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def rollout_cfg(url, tmp_path, kind, **kw):
    return RolloutConfig(server_url=url, server_kind=kind, server_weights_dir=str(tmp_path / "w"),
                         server_timeout_s=kw.pop("timeout", 10), server_retries=kw.pop("retries", 2), **kw)


def test_config_keys_parsed_and_validated():
    cfg = load_config(None, ["rollout.server_kind=sglang", "rollout.server_url=http://10.0.0.2:30000",
                             "rollout.server_timeout_s=5", "rollout.server_retries=1", "rollout.server_probe=false"])
    r = cfg.rollout
    assert (r.server_kind, r.server_url, r.server_timeout_s, r.server_retries, r.server_probe) == \
        ("sglang", "http://10.0.0.2:30000", 5.0, 1, False)
    assert RolloutConfig().server_kind == "reasonrl" and RolloutConfig().server_weights_dir == ""
    for bad, key in (("rollout.server_kind=tgi", "rollout.server_kind"), ("rollout.server_url=10.0.0.2", "rollout.server_url"),
                     ("rollout.server_retries=0", "rollout.server_retries"), ("rollout.server_timeout_s=0", "rollout.server_timeout_s")):
        with pytest.raises(ConfigError, match=f"'{key}") as e:
            load_config(None, [bad])
        assert "\n" not in str(e.value)


def test_contract_sglang_reload_gets_the_path_and_version(fake, policy, tmp_path):
    model, tok = policy
    state, url = fake(FakeSGLang)
    backend = make_backend("server", model, tok, rollout_cfg(url, tmp_path, "sglang", temperature=0.7))
    reloads = [b for p, b in state["calls"] if p == "/update_weights_from_disk"]
    assert reloads == [{"model_path": str(tmp_path / "w" / "v1"), "weight_version": "1"}]
    assert (tmp_path / "w" / "v1" / "config.json").exists() and state["version"] == "1"
    torch.manual_seed(0)
    gen = backend.generate(["3 + 4 ="], n=2, temperature=0.7, max_new_tokens=6)
    assert gen.completion_ids.shape[0] == 2 and gen.sampler_logp.shape == gen.completion_ids.shape
    backend.sync_weights(model)
    assert state["calls"][-2][1] == {"model_path": str(tmp_path / "w" / "v2"), "weight_version": "2"}
    assert backend.probe_logp_diff < 1e-4 and not (tmp_path / "w" / "v1").exists()


def test_contract_vllm_reload_gets_the_path(fake, policy, tmp_path):
    model, tok = policy
    state, url = fake(FakeVLLM)
    backend = make_backend("server", model, tok, rollout_cfg(url, tmp_path, "vllm"))
    assert state["calls"] == [("/collective_rpc", {"method": "reload_weights",
                                                   "kwargs": {"weights_path": str(tmp_path / "w" / "v1")}})]
    torch.manual_seed(0)
    backend.generate(["walk 2 steps"], n=3, temperature=1.0, max_new_tokens=5)
    backend.sync_weights(model)
    assert state["calls"][-2][1]["kwargs"]["weights_path"] == str(tmp_path / "w" / "v2")
    assert backend.probe_logp_diff < 1e-4


@pytest.mark.parametrize("handler, extra, message, tries", [
    (FakeSGLang, {"fail": "out of memory"}, "/update_weights_from_disk: HTTP 400: Failed to update weights: out of memory", 1),
    (FakeSGLang, {"ignore_version": True}, "reports weight_version 'default', expected '1'", 1),  # loads, keeps "default"
    (FakeVLLM, {"fail": "CUDA error"}, r"/collective_rpc: HTTP 500: RuntimeError: CUDA error \(after 2 tries", 2),
    (FakeVLLM, {"dev_mode": False}, "/collective_rpc: HTTP 404.*VLLM_SERVER_DEV_MODE=1", 1)])
def test_contract_failed_reload_is_a_clear_error(fake, policy, tmp_path, handler, extra, message, tries):
    model, tok = policy
    state, url = fake(handler, **extra)
    kind = "sglang" if handler is FakeSGLang else "vllm"
    with pytest.raises(RolloutServerError, match=f"rollout server {url}.*{message}"):
        make_backend("server", model, tok, rollout_cfg(url, tmp_path, kind))
    assert len([p for p, _ in state["calls"] if p != "/v1/completions"]) == tries     # a 4xx is not retried


def test_dead_or_hanging_server_is_an_error_within_the_timeout(fake, policy, tmp_path):
    model, tok = policy
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                                       # nothing listens there now
    t0 = time.time()
    with pytest.raises(RolloutServerError, match=f"127.0.0.1:{port}/v1/models.*after 2 tries"):
        ServerBackend(model, tok, rollout=rollout_cfg(f"http://127.0.0.1:{port}", tmp_path, "sglang"))
    assert time.time() - t0 < 3                                     # refused at once; 0.5 s backoff between tries
    state, url = fake(FakeVLLM)
    backend = ServerBackend(model, tok, rollout=rollout_cfg(url, tmp_path, "vllm", timeout=0.5))
    state["hang"] = 3                                               # accepts, then answers too late
    t0 = time.time()
    with pytest.raises(RolloutServerError, match="/collective_rpc: timed out"):
        backend.sync_weights(model)
    assert time.time() - t0 < 2 * 0.5 + 0.5 + 1.0                   # 2 tries of 0.5 s + 0.5 s backoff + slack
