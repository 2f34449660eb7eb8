"""The rollout-server backend end to end against `reasonrl serve` on loopback: the sampler's
logprobs equal the trainer's, weights are published and version-checked, a dead server is a clear
error, and the RL loop trains the tiny default through it."""
import copy
import json
import time

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from reasonrl.algo.logprobs import sequence_logprobs  # noqa: E402
from reasonrl.models import load_model  # noqa: E402
from reasonrl.rollout.server import RolloutServerError, ServerBackend, ServerSettings, post_json  # noqa: E402


@pytest.fixture(scope="module")
def served():
    from reasonrl.serve.app import ServerLimits
    from reasonrl.serve.command import build_server, start_background

    torch.set_num_threads(1)
    limits = ServerLimits(model_name="tiny", max_tokens=64, max_n=8)
    app, engine = build_server("embedded", device="cpu", max_batch=64, limits=limits)
    srv, thread, port = start_background(app, "127.0.0.1", 0)
    yield {"url": f"http://127.0.0.1:{port}", "engine": engine}
    srv.should_exit = True
    thread.join(timeout=10)
    engine.close()


def _settings(url, tmp_path, retries=2):
    return ServerSettings(url=url, weights_dir=str(tmp_path / "weights"), timeout_s=30, retries=retries)


def test_sampler_logprobs_match_the_trainer(served, tmp_path):
    model, tok = load_model("embedded", device="cpu")
    backend = ServerBackend(model, tok, _settings(served["url"], tmp_path))
    torch.manual_seed(0)
    gen = backend.generate(["3 + 4 =", "walk 2 steps"], n=3, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=12)
    assert gen.completion_ids.shape[0] == 6 and gen.sampler_logp.shape == gen.completion_ids.shape
    ids = torch.cat([gen.prompt_ids, gen.completion_ids], 1)
    attn = torch.cat([gen.prompt_mask, gen.completion_mask], 1)
    with torch.no_grad():
        mine, _ = sequence_logprobs(model, ids, attn, gen.prompt_ids.shape[1], 1.0)
    m = gen.completion_mask.bool()
    assert (mine[m] - gen.sampler_logp[m]).abs().max().item() < 1e-4


def test_weights_published_and_version_checked(served, tmp_path):
    model, tok = load_model("embedded", device="cpu")
    backend = ServerBackend(model, tok, _settings(served["url"], tmp_path))
    v0 = backend.version
    greedy = dict(n=1, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=8, greedy=True)
    before = backend.generate(["3 + 4 ="], **greedy).sampler_logp
    changed = copy.deepcopy(model)
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(0.05 * torch.randn_like(p))
    backend.sync_weights(changed)
    assert backend.version == v0 + 1 and served["engine"].weight_version == v0 + 1
    after = backend.generate(["3 + 4 ="], **greedy).sampler_logp
    assert before.shape != after.shape or not torch.allclose(before, after)   # the server uses the new weights
    assert not (tmp_path / "weights" / f"v{v0}").exists()          # the previous version is removed
    backend.version += 1                                            # pretend the trainer published again
    with pytest.raises(RolloutServerError, match="weight version"):
        backend.generate(["3 + 4 ="], **greedy)


def test_dead_server_is_a_clear_error(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                                       # nothing listens there now
    t0 = time.time()
    with pytest.raises(RolloutServerError, match=f"127.0.0.1:{port}.*2 tries"):
        post_json(f"http://127.0.0.1:{port}/v1/completions", {}, timeout_s=2, retries=2)
    assert time.time() - t0 < 10


def test_completions_endpoint_refuses_bad_input(served):
    with pytest.raises(RolloutServerError, match="HTTP 400"):
        post_json(served["url"] + "/v1/completions", {"prompt": [5, 6], "max_tokens": 9999}, timeout_s=10, retries=1)


def test_smoke_train_through_the_server(served, tmp_path, monkeypatch):
    from reasonrl.config import load_config
    from reasonrl.train import rl

    monkeypatch.setenv("REASONRL_SERVER_URL", served["url"])
    monkeypatch.setenv("REASONRL_SERVER_WEIGHTS", str(tmp_path / "w"))
    cfg = load_config(None, [f"out={tmp_path / 'run'}", "rollout.backend=server", "train.steps=3",
                             "train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8",
                             "eval.every=0", "eval.sampled=false", "algo.tis=token", "train.threads=1"])
    result = rl.train(cfg, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 3 and [r["step"] for r in rows] == [0, 1, 2, 3]
    assert all(abs(r["tis/weight_mean"] - 1.0) < 1e-3 for r in rows[1:] if r.get("tis/weight_mean") is not None)
