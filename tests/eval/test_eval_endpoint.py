"""`reasonrl eval --endpoint`: the client against a scripted loopback server that drops connections,
answers errors and stalls (retries, backoff, the per-request deadline, bounded concurrency, resume),
reasoning_content kept apart and joined for grading, and against `reasonrl serve`: greedy endpoint
evaluation equals local evaluation sample for sample; sampled agrees within the interval."""
import json
import threading
import time
from pathlib import Path

import pytest

from fake_openai import FakeServer, chat_body, text_body
from reasonrl.cli import main
from reasonrl.eval.endpoint import EndpointClient, EndpointError, EndpointSettings, joined, parse_reply

WALK = [{"id": "a", "problem": "1+2=", "answer": "3", "verifier": "exact"},
        {"id": "b", "problem": "2+2=", "answer": "4", "verifier": "exact"}]


@pytest.fixture
def data(tmp_path) -> Path:
    f = tmp_path / "two.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in WALK))
    return f


def rows(out: Path) -> dict:
    (f,) = (out / "eval").glob("two-*.jsonl")
    return {r["id"]: r for r in map(json.loads, f.read_text().splitlines())}


def summary(out: Path) -> dict:
    (r,) = json.loads((out / "eval" / "summary.json").read_text())["results"].values()
    return r


def answer_of(body) -> str:
    """The gold of the problem asked (chat or completions)."""
    text = body["messages"][0]["content"] if "messages" in body else body["prompt"]
    return {"1+2=": "3", "2+2=": "4"}[text]


def ev(url, out, *extra):
    return main(["eval", "--endpoint", url, "--data", str(out.parent / "two.jsonl"), "--preset", "greedy",
                 f"out={out}", "bootstrap=0", "backoff_s=0.05", *extra])


def client(url, **kw):
    return EndpointClient(EndpointSettings(url=url, **{"backoff_s": 0.05, "timeout_s": 5, **kw}))


def test_chat_reasoning_kept_apart_and_joined_for_grading(data, tmp_path):
    def script(path, body, n):
        return "json", 200, chat_body(f"<answer>{answer_of(body)}</answer>", "1,3", 7)
    with FakeServer(script) as srv:
        assert ev(srv.url, tmp_path / "o") == 0
        sent = srv.posts()
    assert {b["model"] for b in sent} == {"scripted"} and all(b["temperature"] == 0.0 for b in sent)
    r = rows(tmp_path / "o")["a"]
    assert (r["reasoning"], r["content"]) == ("1,3", "<answer>3</answer>")
    assert r["completion"] == "<think>\n1,3\n</think>\n\n<answer>3</answer>" and r["verdict"] == "correct"
    assert (r["length"], r["finish_reason"]) == (7, "stop")
    assert summary(tmp_path / "o")["metrics"]["pass@1"]["value"] == 1.0


def test_parse_reply_forms():
    assert joined("", "C") == "C"
    got = parse_reply({"choices": [{"message": {"content": "C", "reasoning": "R"}, "finish_reason": "length"}]},
                      "chat")
    assert (got.text, got.reasoning, got.tokens, got.finish_reason) == ("<think>\nR\n</think>\n\nC", "R", 0, "length")
    assert parse_reply(text_body("xyz", 4), "completions").text == "xyz"
    with pytest.raises(EndpointError, match="no choices"):
        parse_reply({"error": "x"}, "chat")


def test_drop_500_and_429_are_retried_with_backoff_then_answered():
    plan = {1: ("drop",), 2: ("json", 500, {"error": {"message": "boom"}}),
            3: ("json", 429, {"error": "busy"}, {"Retry-After": "0.3"})}
    with FakeServer(lambda path, body, n: plan.get(n, ("json", 200, text_body("<answer>3</answer>")))) as srv:
        t0 = time.monotonic()
        got = client(srv.url, api="completions", model="m").complete("1+2=", temperature=1, top_p=1, top_k=0,
                                                                      max_new_tokens=5, greedy=False, seed=1)
        spent = time.monotonic() - t0
    assert got.text == "<answer>3</answer>" and len(srv.posts()) == 4
    assert 0.05 + 0.1 + 0.3 <= spent < 3          # backoff 0.05, 0.1, then the server's Retry-After 0.3


def test_stall_and_trickle_end_at_the_deadline_and_4xx_fails_at_once():
    with FakeServer(lambda path, body, n: ("stall", 3)) as srv:
        t0 = time.monotonic()
        with pytest.raises(EndpointError, match=r"timed out .*after 2 tries"):
            client(srv.url, model="m", timeout_s=0.4, retries=2).call("/v1/completions", {})
        assert time.monotonic() - t0 < 1.5
    with FakeServer(lambda path, body, n: ("trickle", 0.05, text_body("x" * 200))) as srv:
        t0 = time.monotonic()                      # bytes keep coming, yet the whole request has 0.5 s
        with pytest.raises(EndpointError, match="deadline"):
            client(srv.url, model="m", timeout_s=0.5, retries=1).call("/v1/completions", {})
        assert time.monotonic() - t0 < 1.5
    with FakeServer(lambda path, body, n: ("json", 400, {"error": {"message": "max_tokens too large"}})) as srv:
        with pytest.raises(EndpointError, match="HTTP 400: max_tokens too large") as e:
            client(srv.url, model="m").call("/v1/completions", {})
        assert len(srv.posts()) == 1 and e.value.status == 400


def test_concurrency_is_bounded():
    live, peak, lock = [0], [0], threading.Lock()

    def script(path, body, n):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.1)
        with lock:
            live[0] -= 1
        return "json", 200, text_body("x")
    with FakeServer(script) as srv:
        c = client(srv.url, model="m", concurrency=3)
        got = list(c.run(list(range(9)), lambda i: c.call("/v1/completions", {"i": i})))
    assert len(got) == 9 and peak[0] == 3


def test_failed_samples_end_with_one_line_then_the_rerun_resumes(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REASONRL_API_KEY", "sekret")

    healthy = [False]

    def script(path, body, n):
        if answer_of(body) == "4" and not healthy[0]:
            return "json", 503, {"error": "overloaded"}
        return "json", 200, chat_body(f"<answer>{answer_of(body)}</answer>")
    with FakeServer(script) as srv:
        assert ev(srv.url, tmp_path / "o", "retries=2") == 2
        assert {h.get("Authorization") for _, _, h in srv.requests} == {"Bearer sekret"}
        err = capsys.readouterr().err.splitlines()
        assert err[-1].startswith("reasonrl: error: 1 of 2 samples failed (endpoint ")
        assert "HTTP 503: overloaded (after 2 tries)); the other 1 are saved: run the same command again" in err[-1]
        assert set(rows(tmp_path / "o")) == {"a"}
        healthy[0], seen = True, len(srv.posts())
        assert ev(srv.url, tmp_path / "o") == 0
        assert [answer_of(b) for b in srv.posts()[seen:]] == ["4"]            # only the missing sample
    assert "1 samples reused, 1 to generate" in capsys.readouterr().out
    assert summary(tmp_path / "o")["metrics"]["pass@1"]["value"] == 1.0


def test_unreachable_endpoint_is_one_line(tmp_path, data, capsys):
    assert ev("http://127.0.0.1:9", tmp_path / "o", "retries=1") == 2
    err = capsys.readouterr().err
    assert err.startswith("reasonrl: error: endpoint http://127.0.0.1:9/v1/models: ") and err.count("\n") == 1


@pytest.fixture(scope="module")
def served():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import torch

    from reasonrl.serve.app import ServerLimits
    from reasonrl.serve.command import build_server, start_background

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    app, engine = build_server("embedded", device="cpu", max_batch=64,
                               limits=ServerLimits(model_name="tiny", max_tokens=64, max_n=8))
    srv, thread, port = start_background(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(timeout=10)
    engine.close()
    torch.set_num_threads(before)


def _walk(tmp_path, name, flags, *items):
    out = tmp_path / name
    assert main(["eval", "--data", "walk", *flags, "limit=24", "max_new_tokens=40", f"out={out}", "threads=1",
                 "bootstrap=200", *items]) == 0
    (r,) = json.loads((out / "eval" / "summary.json").read_text())["results"].values()
    return r, {(x["id"], x["sample"]): x for x in map(json.loads, Path(r["samples_file"]).read_text().splitlines())}


def test_served_demo_model_equals_local_evaluation_greedy_exactly(served, tmp_path):
    local, lrows = _walk(tmp_path, "local", ["--preset", "greedy"])
    remote, rrows = _walk(tmp_path, "remote", ["--preset", "greedy", "--endpoint", served], "api=completions")
    assert remote["model"] == f"tiny @ {served}"
    assert [rrows[k]["completion"] for k in lrows] == [lrows[k]["completion"] for k in lrows]
    assert [rrows[k]["length"] for k in lrows] == [lrows[k]["length"] for k in lrows]
    assert remote["metrics"]["pass@1"] == local["metrics"]["pass@1"]


def test_served_demo_model_sampled_agrees_within_the_interval(served, tmp_path):
    local, _ = _walk(tmp_path, "local", ["--preset", "quick"], "k=4")
    remote, _ = _walk(tmp_path, "remote", ["--preset", "quick", "--endpoint", served], "k=4", "api=completions",
                      "concurrency=16")
    lp, rp = local["metrics"]["pass@1"], remote["metrics"]["pass@1"]
    assert lp["ci_low"] <= rp["value"] <= lp["ci_high"] and rp["ci_low"] <= lp["value"] <= rp["ci_high"]
    assert remote["protocol"] == local["protocol"]
