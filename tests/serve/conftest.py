"""Shared fixtures: the embedded tiny model, and one live server on a free loopback port."""
import queue

import pytest

API_KEY = "test-key"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Serving tests run with one torch thread (restored after each test): the tiny model's small
    matrices gain nothing from more, and on a busy CPU extra threads make each step 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer) of the embedded default, on CPU."""
    from reasonrl.models import load_model

    return load_model("embedded", device="cpu")


@pytest.fixture(scope="session")
def server():
    """A real uvicorn server with the embedded model on 127.0.0.1:<free port>, API key required.
    Yields a dict: base_url, port, engine, key."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from reasonrl.serve.app import ServerLimits
    from reasonrl.serve.command import build_server, start_background

    limits = ServerLimits(model_name="tiny-walk", api_key=API_KEY, max_tokens=64, max_n=8, max_body_bytes=20_000)
    app, engine = build_server("embedded", device="cpu", max_batch=16, max_queue=64, limits=limits)
    srv, thread, port = start_background(app, "127.0.0.1", 0)
    yield {"base_url": f"http://127.0.0.1:{port}", "port": port, "engine": engine, "key": API_KEY}
    srv.should_exit = True
    thread.join(timeout=10)
    engine.close()


@pytest.fixture
def collect():
    return _collect


def _collect(engine, prompt_ids, n, params, timeout=60):
    """Submit one job and wait for all its choices: ([text per choice], [(reason, tokens)])."""
    events = queue.Queue()
    engine.submit(prompt_ids, n, params, events.put)
    texts, ends = [""] * n, [None] * n
    while any(e is None for e in ends):
        ev = events.get(timeout=timeout)
        assert ev.kind != "error", ev.text
        if ev.kind == "text":
            texts[ev.index] += ev.text
        else:
            ends[ev.index] = (ev.reason, ev.tokens)
    return texts, ends


@pytest.fixture
def hold_worker():
    return _hold_worker


def _hold_worker(engine):
    """Block the engine's worker until the returned event is set, so the requests sent meanwhile queue
    up and run as one batch."""
    import threading

    from reasonrl.serve.engine import SamplingParams

    gate, started = threading.Event(), threading.Event()

    def hold(_ev):
        started.set()
        gate.wait(30)
    engine.submit([1, 5], 1, SamplingParams(max_tokens=1), hold)
    assert started.wait(30)
    return gate
