"""The live server on a free loopback port, called with the real `openai` client (and httpx for
the error cases the client would not send)."""
import json
import queue
import threading

import pytest

from reasonrl.serve.engine import SamplingParams

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

PROMPT = "5-2+0+0-2+3+3+1+1-6="
MSGS = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server["base_url"] + "/v1", api_key=server["key"], max_retries=0, timeout=60)


def post(server, body, key=None, raw=None, path="/v1/chat/completions"):
    headers = {"Authorization": f"Bearer {key or server['key']}", "Content-Type": "application/json"}
    return httpx.post(server["base_url"] + path, headers=headers, timeout=60,
                      content=raw if raw is not None else json.dumps(body))


def test_smoke_non_streaming_splits_reasoning(client):
    r = client.chat.completions.create(model="tiny-walk", messages=MSGS, temperature=1.0, n=4, seed=1,
                                       max_tokens=40)
    assert len(r.choices) == 4
    for ch in r.choices:
        assert ch.finish_reason in ("stop", "length")
        assert isinstance(ch.message.reasoning_content, str)
        assert "<think>" not in ch.message.content and "</think>" not in ch.message.content
        assert "<think>" not in ch.message.reasoning_content
    assert r.usage.prompt_tokens == 21                 # BOS + 20 characters
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.model_extra["weight_version"] == 0


def test_streaming_equals_non_streaming(client):
    kw = dict(model="tiny-walk", messages=MSGS, temperature=0.0, max_tokens=40)
    whole = client.chat.completions.create(**kw).choices[0]
    reasoning, content, finish, usage = "", "", None, None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            reasoning += getattr(ch.delta, "reasoning_content", None) or ""
            content += ch.delta.content or ""
            finish = ch.finish_reason or finish
    assert (reasoning, content, finish) == (whole.message.reasoning_content, whole.message.content,
                                            whole.finish_reason)
    assert content and "<answer>" not in content and whole.message.model_extra["raw_content"].count("<answer>") == 1
    assert usage.prompt_tokens == 21 and usage.completion_tokens > 0


def test_streaming_reasoning_arrives_before_content(server):
    """A message that opens the think block and starts the scratchpad: the tiny model continues the
    worked solution, streamed as reasoning deltas first, then the answer as content deltas."""
    body = {"model": "tiny-walk", "messages": [{"role": "user", "content": PROMPT + "<think>5"}], "stream": True,
            "temperature": 0.0, "max_tokens": 40}
    with httpx.stream("POST", server["base_url"] + "/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {server['key']}"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    deltas = [ch["delta"] for ln in lines[:-1] for ch in json.loads(ln[len("data: "):])["choices"]]
    kinds = [k for d in deltas for k in ("reasoning_content", "content") if d.get(k)]
    assert kinds.count("reasoning_content") > 5                       # streamed, not sent at the end
    assert kinds == sorted(kinds, key=lambda k: k == "content")        # all reasoning before any content
    assert "".join(d.get("reasoning_content", "") for d in deltas) == ",3,3,3,1,4,7,8,9,3"
    assert "".join(d.get("content") or "" for d in deltas) == "3"           # the answer tags are template


def test_models_and_health(client, server):
    (m,) = client.models.list().data
    assert m.id == "tiny-walk" and m.model_extra["max_model_len"] == 256
    h = httpx.get(server["base_url"] + "/health", timeout=10).json()
    assert h["status"] == "ok" and "weight_version" in h


@pytest.mark.parametrize("body,status,needle", [
    ({"messages": MSGS, "temperature": 5}, 400, "temperature"),
    ({"messages": MSGS, "n": 9}, 400, "n: at most 8"),
    ({"messages": MSGS, "max_tokens": 65}, 400, "max_tokens: at most 64"),
    ({"messages": MSGS, "bogus": 1}, 400, "bogus: unknown parameter"),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, "last message must have role 'user'"),
    ({"messages": MSGS, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop: at most 4"),
    ({"messages": MSGS, "presence_penalty": 1.0}, 400, "presence_penalty: not supported"),
    ({"messages": MSGS, "logprobs": True}, 400, "logprobs"),
    ({"messages": [{"role": "user", "content": "1+" * 120}], "max_tokens": 64}, 400, "context of 256"),
    ({"model": "gpt-4o", "messages": MSGS}, 404, "not served here"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_requests_get_clear_4xx(server, body, status, needle):
    r = post(server, body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]


def test_bad_json_too_large_and_api_key(server):
    r = post(server, None, raw=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = post(server, {"messages": [{"role": "user", "content": "x" * 30_000}]})
    assert r.status_code == 413 and "exceeds the limit of 20000" in r.json()["error"]["message"]
    r = post(server, {"messages": MSGS}, key="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.get(server["base_url"] + "/v1/models", timeout=10)
    assert r.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server["base_url"] + "/v1", api_key="nope", max_retries=0).models.list()


def test_stop_sequences_and_max_tokens(client):
    kw = dict(model="tiny-walk", messages=MSGS, temperature=0.0)
    full = client.chat.completions.create(max_tokens=40, **kw).choices[0].message.content
    cut = client.chat.completions.create(max_tokens=40, stop=["</answer>"], **kw).choices[0]
    assert cut.message.content == full.split("</answer>")[0] and cut.finish_reason == "stop"
    short = client.chat.completions.create(max_tokens=1, **kw)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 1


def test_concurrent_requests_are_batched(server, client, hold_worker):
    """Hold the worker, send 6 requests, release: they run as one batch of 6."""
    engine = server["engine"]
    gate = hold_worker(engine)
    before = engine.stats["batches"]
    out = queue.Queue()

    def one():
        out.put(client.chat.completions.create(model="tiny-walk", messages=MSGS, temperature=0.0, max_tokens=40))
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for _ in range(300):
        if engine.queued() == 6:
            break
        threading.Event().wait(0.02)
    assert engine.queued() == 6
    gate.set()
    for t in threads:
        t.join(60)
    contents = {out.get_nowait().choices[0].message.content for _ in range(6)}
    assert len(contents) == 1                                  # greedy: the same answer for all six
    assert engine.stats["batches"] == before + 1 and engine.stats["largest_batch"] >= 6


def test_reload_weights_endpoint(server, tmp_path, client):
    from reasonrl.models import EMBEDDED_DIR, build_tiny_model, build_char_tokenizer

    kw = dict(model="tiny-walk", messages=MSGS, temperature=0.0, max_tokens=20)
    before = client.chat.completions.create(**kw).choices[0].message
    build_tiny_model(len(build_char_tokenizer()), seed=5).save_pretrained(tmp_path / "v1")
    r = post(server, {"path": str(tmp_path / "v1"), "weight_version": 7}, path="/v1/reload_weights")
    try:
        assert r.status_code == 200 and r.json()["weight_version"] == 7
        after = client.chat.completions.create(**kw)
        assert after.model_extra["weight_version"] == 7
        assert after.choices[0].message != before
    finally:                                  # the server is shared: put the embedded weights back
        server["engine"].reload(str(EMBEDDED_DIR), version=7, timeout=60)
    build_tiny_model(len(build_char_tokenizer()), hidden=64, seed=5).save_pretrained(tmp_path / "small")
    r = post(server, {"path": str(tmp_path / "small")}, path="/v1/reload_weights")
    assert r.status_code == 400 and "shape" in r.json()["error"]["message"]
    r = post(server, {"weight_version": 1}, path="/v1/reload_weights")
    assert r.status_code == 400 and r.json()["error"]["param"] == "path"
    r = post(server, {"path": str(EMBEDDED_DIR), "weight_version": "new"}, path="/v1/reload_weights")
    assert r.status_code == 400 and "weight_version: expected an integer" in r.json()["error"]["message"]
    r = post(server, None, raw=b"[", path="/v1/reload_weights")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = post(server, {"path": str(EMBEDDED_DIR)}, path="/v1/reload_weights", key="wrong")
    assert r.status_code == 401
    r = post(server, {"path": str(EMBEDDED_DIR)}, path="/v1/reload_weights")
    assert r.status_code == 200 and r.json()["weight_version"] == 8          # no version given: +1
    assert client.chat.completions.create(**kw).choices[0].message == before
