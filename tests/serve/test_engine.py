"""The generation queue: batched decoding equals HF generate; stops, budgets, seeds, reloads."""
import queue
import threading

import pytest
import torch

from reasonrl.rollout.hf import HFBackend, encode_prompts
from reasonrl.serve.engine import Engine, QueueFull, SamplingParams
from reasonrl.serve.weights import WeightsError, apply_weights, read_weights

PROMPTS = ["5-2+0+0-2+3+3+1+1-6=", "1+1=", "9-9+3-2+0+0+7-1-2+2="]   # different lengths: left padding
GREEDY = SamplingParams(temperature=0.0, max_tokens=40)


def ids_of(tok, prompt):
    return encode_prompts(tok, [prompt], "cpu")[0][0].tolist()


@pytest.fixture
def engine(tiny):
    model, tok = tiny
    eng = Engine(model, tok, max_batch=8, max_queue=16).start()
    yield eng
    eng.close()


def test_batched_greedy_equals_hf_generate(tiny, engine):
    model, tok = tiny
    want = HFBackend(model, tok).generate(PROMPTS, greedy=True, max_new_tokens=40).texts
    events = queue.Queue()
    for p in PROMPTS:                       # queued together: one batch of 3 rows
        engine.submit(ids_of(tok, p), 1, GREEDY, lambda ev, p=p: events.put((p, ev)))
    got = {p: "" for p in PROMPTS}
    done = 0
    while done < len(PROMPTS):
        p, ev = events.get(timeout=60)
        got[p] += ev.text if ev.kind == "text" else ""
        done += ev.kind == "finish"
    assert [got[p] for p in PROMPTS] == want
    assert "</answer>" in want[0]


def test_stop_string_and_token_budget(tiny, engine, collect):
    _model, tok = tiny
    ids = ids_of(tok, PROMPTS[0])
    full, ends = collect(engine, ids, 1, GREEDY)
    assert ends[0][0] == "stop"                               # ended on EOS
    texts, ends = collect(engine, ids, 1, SamplingParams(temperature=0.0, max_tokens=40, stop=("</think>",)))
    assert texts[0] == full[0].split("</think>")[0] and ends[0][0] == "stop"
    texts, ends = collect(engine, ids, 1, SamplingParams(temperature=0.0, max_tokens=2))
    assert ends[0] == ("length", 2)
    assert texts[0] == tok.decode(tok(full[0], add_special_tokens=False).input_ids[:2])


def test_seeded_requests_repeat_and_choices_differ(tiny, engine, collect):
    _model, tok = tiny
    ids = ids_of(tok, PROMPTS[0])
    params = SamplingParams(temperature=1.5, max_tokens=30, seed=7)
    a, _ = collect(engine, ids, 4, params)
    b, _ = collect(engine, ids, 4, params)
    assert a == b
    assert len(set(a)) > 1                     # choice j has its own generator
    for seed in (-1, 2**70):                   # any integer a client may send is a valid seed
        collect(engine, ids, 1, SamplingParams(temperature=1.0, max_tokens=2, seed=seed))


def test_queue_limit_and_batching(tiny, engine, collect):
    _model, tok = tiny
    ids = ids_of(tok, PROMPTS[1])
    gate, started = threading.Event(), threading.Event()

    def blocking_sink(ev):                     # holds the worker inside the first batch
        started.set()
        gate.wait(30)
    engine.submit(ids, 1, SamplingParams(temperature=0.0, max_tokens=1), blocking_sink)
    assert started.wait(30)
    results = queue.Queue()
    for _ in range(4):
        engine.submit(ids, 2, GREEDY, results.put)      # 8 rows wait: the next batch takes all
    engine.submit(ids, 8, GREEDY, results.put)          # 16 rows wait: exactly max_queue
    with pytest.raises(QueueFull):
        engine.submit(ids, 1, GREEDY, results.put)      # 17 > 16
    gate.set()
    finished = 0
    while finished < 16:
        finished += results.get(timeout=60).kind == "finish"
    assert engine.stats["largest_batch"] == 8           # 4 jobs x n=2 in one batch, then the n=8 job
    with pytest.raises(QueueFull):
        engine.submit(ids, 9, GREEDY, results.put)      # n above max_batch can never run


def test_cancelled_job_stops_early(tiny, engine):
    _model, tok = tiny
    events = queue.Queue()
    job = engine.submit(ids_of(tok, PROMPTS[0]), 1, SamplingParams(temperature=1.0, max_tokens=200), events.put)
    job.cancel()
    engine.submit(ids_of(tok, PROMPTS[1]), 1, GREEDY, events.put)
    ev = events.get(timeout=60)
    while ev.kind != "finish":
        ev = events.get(timeout=60)
    assert ev.reason == "stop"                 # the second job finished; the cancelled one sent nothing more


def test_reload_weights_changes_outputs_and_version(tmp_path, collect):
    from reasonrl.models import EMBEDDED_DIR, build_tiny_model, load_model

    model, tok = load_model("embedded", device="cpu")           # own copy: this test changes weights
    eng = Engine(model, tok).start()
    try:
        ids = ids_of(tok, PROMPTS[0])
        before, _ = collect(eng, ids, 1, GREEDY)
        other = build_tiny_model(len(tok), seed=123)            # same shapes, other weights
        other.save_pretrained(tmp_path / "other")
        info = eng.reload(str(tmp_path / "other"), timeout=60)
        assert info["weight_version"] == 1 and info["tensors"] > 0
        changed, _ = collect(eng, ids, 1, GREEDY)
        assert changed != before
        info = eng.reload(str(EMBEDDED_DIR / "model.safetensors"), version=42, timeout=60)
        assert info["weight_version"] == 42 and eng.weight_version == 42
        assert collect(eng, ids, 1, GREEDY)[0] == before
        with pytest.raises(WeightsError, match="does not exist"):
            eng.reload(str(tmp_path / "nowhere"), timeout=60)
        assert eng.weight_version == 42
    finally:
        eng.close()


def test_apply_weights_refuses_mismatches(tiny_lm):
    model, _tok = tiny_lm
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match="lacks"):
        apply_weights(model, {**state, "extra.weight": torch.zeros(1)})
    key = "model.norm.weight"
    with pytest.raises(WeightsError, match="shape"):
        apply_weights(model, {**state, key: torch.zeros(3)})
    with pytest.raises(WeightsError, match="lack 1 tensor"):
        apply_weights(model, {k: v for k, v in state.items() if k != key})
    tied = {k: v for k, v in state.items() if k != "lm_head.weight"}     # tied to the embedding: optional
    state_changed = {k: v + 1 if k == key else v for k, v in tied.items()}
    assert apply_weights(model, state_changed) == len(tied)
    torch.testing.assert_close(model.state_dict()[key], state[key] + 1)


def test_read_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="no .safetensors"):
        read_weights(tmp_path)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        read_weights(tmp_path)
