"""The rollout-server backend end to end against `reasonrl serve` on loopback: the sampler's
logprobs equal the trainer's, weights are published and version-checked, the probe agrees with the
trainer (and sees unsynced weights), echo scores a prompt, a dead server is a clear error, and the RL
loop trains the tiny default through it with rollout.server_* config keys."""
import copy
import json

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


def _settings(url, tmp_path, retries=2, probe=True):
    return ServerSettings(url=url, weights_dir=str(tmp_path / "weights"), timeout_s=30, retries=retries, probe=probe)


def test_sampler_logprobs_match_the_trainer(served, tmp_path):
    model, tok = load_model("embedded", device="cpu")
    backend = ServerBackend(model, tok, settings=_settings(served["url"], tmp_path))
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
    backend = ServerBackend(model, tok, settings=_settings(served["url"], tmp_path, probe=False))
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


def test_completions_endpoint_refuses_bad_input(served):
    with pytest.raises(RolloutServerError, match="HTTP 400"):
        post_json(served["url"] + "/v1/completions", {"prompt": [5, 6], "max_tokens": 9999}, timeout_s=10, retries=1)


def test_smoke_train_through_the_server(served, tmp_path, monkeypatch):
    from reasonrl.config import load_config
    from reasonrl.train import rl

    cfg = load_config(None, [f"out={tmp_path / 'run'}", "rollout.backend=server", "train.steps=3",
                             f"rollout.server_url={served['url']}", f"rollout.server_weights_dir={tmp_path / 'w'}",
                             "train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8",
                             "eval.every=0", "eval.sampled=false", "algo.tis=token", "train.threads=1"])
    result = rl.train(cfg, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 3 and [r["step"] for r in rows] == [0, 1, 2, 3]
    assert all(abs(r["tis/weight_mean"] - 1.0) < 1e-3 for r in rows[1:] if r.get("tis/weight_mean") is not None)


def test_probe_matches_the_trainer_and_sees_unsynced_weights(served, tmp_path):
    from reasonrl.config import RolloutConfig

    model, tok = load_model("embedded", device="cpu")
    rollout = RolloutConfig(temperature=0.7, server_url=served["url"], server_weights_dir=str(tmp_path / "w"),
                            server_timeout_s=30, server_retries=2)
    backend = ServerBackend(model, tok, rollout=rollout)
    assert backend.probe_ids is None and backend.probe_logp_diff is None      # no rollout yet: nothing to probe
    torch.manual_seed(1)
    backend.generate(["3 + 4 ="], n=2, temperature=0.7, max_new_tokens=10)
    prompt, comp = backend.probe_ids
    assert len(comp) >= 1 and prompt[-3:] == tok("3 + 4 =", add_special_tokens=False).input_ids[-3:]
    backend.sync_weights(model)
    assert backend.probe_logp_diff < 1e-4                                   # same fp32 weights on both sides
    changed = copy.deepcopy(model)
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert backend.probe(changed) > 1e-2          # trainer moved, server not synced: the probe shows it
    backend.sync_weights(changed)
    assert backend.probe_logp_diff < 1e-4


def test_echo_scores_the_prompt_like_the_trainer(served):
    # max_tokens 0 + echo: logprobs of every prompt token after the first, at the request's temperature
    model, tok = served["engine"].model, served["engine"].tokenizer    # earlier tests reloaded other weights
    ids = tok("3 + 4 = 7", add_special_tokens=True).input_ids
    got = post_json(served["url"] + "/v1/completions", {"prompt": ids, "max_tokens": 0, "echo": True, "logprobs": 1,
                    "temperature": 0.5, "return_tokens_as_token_ids": True}, timeout_s=30, retries=1)
    lp = got["choices"][0]["logprobs"]
    assert lp["tokens"] == [f"token_id:{i}" for i in ids] and lp["token_logprobs"][0] is None
    x = torch.tensor([ids])
    with torch.no_grad():
        mine, _ = sequence_logprobs(model, x, torch.ones_like(x), 1, 0.5)
    assert max(abs(a - b) for a, b in zip(mine[0].tolist(), lp["token_logprobs"][1:])) < 1e-4
    assert got["choices"][0]["text"] == tok.decode(ids, skip_special_tokens=True)
    with_gen = post_json(served["url"] + "/v1/completions", {"prompt": ids, "max_tokens": 2, "echo": True,
                         "logprobs": 0, "temperature": 0.0, "return_tokens_as_token_ids": True}, timeout_s=30, retries=1)
    toks = with_gen["choices"][0]["logprobs"]["tokens"]
    assert toks[:len(ids)] == lp["tokens"] and 1 <= len(toks) - len(ids) <= 2
    with pytest.raises(RolloutServerError, match="HTTP 400: max_tokens: 0 needs echo"):
        post_json(served["url"] + "/v1/completions", {"prompt": ids, "max_tokens": 0}, timeout_s=10, retries=1)
