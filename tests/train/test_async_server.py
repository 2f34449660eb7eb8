"""Asynchronous RL through the rollout server (train.async_staleness >= 1, rollout.backend=server) against
the loopback `reasonrl serve` of tests/rollout/test_server.py: the version-acceptance rule by hand, a
stale response retried then refused, rows stamped with the version the server named, and a run whose
every trained batch is within the staleness bound, with its versions recorded."""
import dataclasses
import json
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

sys.path.insert(0, str(Path(__file__).parents[1] / "rollout"))
from test_server import _settings, served  # noqa: E402,F401   the loopback server fixture and its settings

from reasonrl.config import ConfigError, load_config  # noqa: E402
from reasonrl.models import load_model  # noqa: E402
from reasonrl.rollout.server import RolloutServerError, ServerBackend, accepts  # noqa: E402
from reasonrl.train import rl  # noqa: E402
from reasonrl.train.hooks import Hooks  # noqa: E402
from reasonrl.train.server_sampler import ServerSampler  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_accepted_versions_by_hand():
    # synchronous (no floor): only the version the trainer published last, 3; SGLang/vLLM may name none
    assert accepts("reasonrl", 3, 3) and not accepts("reasonrl", 2, 3) and not accepts("reasonrl", None, 3)
    assert accepts("sglang", "3", 3) and not accepts("sglang", "2", 3) and accepts("sglang", None, 3)
    assert accepts("vllm", None, 3)
    # asynchronous, k = 1, step s = 5: floor s - 1 - k = 3, newest asked for 4 (confirmed 4): window [3, 4]
    assert [accepts("reasonrl", v, 4, floor=3, newest=4) for v in (2, 3, 4, 5)] == [False, True, True, False]
    assert accepts("sglang", "3", 4, floor=3, newest=4) and not accepts("sglang", "2", 4, floor=3, newest=4)
    assert not accepts("sglang", None, 4, floor=3, newest=4)     # async needs a named version
    # a reload of 5 in flight (newest 5, confirmed 4): a response already from 5 is accepted
    assert accepts("reasonrl", 5, 4, floor=3, newest=5)


def test_stale_response_retried_then_refused_and_rows_stamped(served, tmp_path):
    model, tok = load_model("embedded", device="cpu")
    backend = ServerBackend(model, tok, settings=_settings(served["url"], tmp_path, retries=2, probe=False))
    v, calls = backend.version, []
    call = backend._call
    backend._call = lambda path, body=None: calls.append(path) or call(path, body)
    kw = dict(n=2, temperature=1.0, max_new_tokens=6)
    assert backend.generate(["3 + 4 ="], **kw).versions is None                  # synchronous: unchanged
    calls.clear()
    with backend.accepting(v + 1), pytest.raises(RolloutServerError, match=f"version {v}, .* accepts {v + 1}"):
        backend.generate(["3 + 4 ="], **kw)                                     # server holds v < floor v + 1
    assert calls == ["/v1/completions"] * 2                                     # retried (2 tries), then refused
    with backend.accepting(v, torch.Generator().manual_seed(0)):
        a = backend.generate(["3 + 4 =", "walk 2 steps"], **kw)
    with backend.accepting(v, torch.Generator().manual_seed(0)):
        b = backend.generate(["3 + 4 =", "walk 2 steps"], **kw)
    assert a.versions.tolist() == [v] * 4                                       # the version the server named
    assert torch.equal(a.completion_ids, b.completion_ids)                      # seeds from the given generator


def test_config_accepts_server_and_refuses_what_cannot_work(tmp_path):
    base = [f"out={tmp_path}", "train.async_staleness=1"]
    assert load_config(None, base + ["rollout.backend=server"]).train.async_staleness == 1
    for bad, key in ((["rollout.backend=server", "rollout.server_kind=vllm"], "server_kind=vllm"),
                     (["rollout.backend=vllm"], "rollout.backend=vllm")):
        with pytest.raises(ConfigError, match=key):
            load_config(None, base + bad)


def _sleep(seconds: float):
    def slow(step, batch):
        time.sleep(seconds)
        return batch
    return slow


def test_async_run_through_the_server(served, tmp_path):
    """k = 1, 4 steps, the trainer sleeping 0.5 s per update: the sampling thread runs ahead; every
    trained batch has its versions recorded and staleness (step - 1) - version within [0, 1]."""
    k, steps = 1, 4
    cfg = load_config(None, [f"out={tmp_path / 'run'}", "rollout.backend=server", f"train.steps={steps}",
                             f"train.async_staleness={k}", f"rollout.server_url={served['url']}",
                             f"rollout.server_weights_dir={tmp_path / 'w'}", "train.prompts_per_step=4",
                             "rollout.num_generations=4", "eval.size=8", "eval.every=0", "eval.sampled=false",
                             "rollout.max_new_tokens=20", "train.threads=1"])
    result = rl.train(cfg, log=lambda *_: None, hooks=Hooks(before_update=_sleep(0.5)))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][1:]
    assert result["exit_code"] == 0 and [r["step"] for r in rows] == list(range(1, steps + 1))
    for r in rows:
        assert 0 <= r["step"] - 1 - r["async/version_max"] <= r["step"] - 1 - r["async/version_min"] <= k
        assert r["async/staleness_max"] <= k and abs(r["async/staleness=0"] + r["async/staleness=1"] - 1) < 1e-9
        assert r["tis/weight_mean"] > 0 and r["async/worker_restarts"] == 0
    assert rows[0]["async/version_max"] == 0                  # step 1 sampled with the starting weights
    assert max(r["async/staleness_max"] for r in rows) == k   # the thread ran ahead: the bound reached, not passed
    assert served["engine"].weight_version == steps + 1       # the build's reload, then one per update


def _sampler_cfg(url, tmp_path, *extra):
    return load_config(None, [f"out={tmp_path / 'run'}", "rollout.backend=server", "train.steps=2",
                              "train.async_staleness=1", f"rollout.server_url={url}", "train.prompts_per_step=2",
                              "rollout.num_generations=2", "rollout.max_new_tokens=6", *extra])


def test_server_gone_and_no_batch_in_time_are_clear_errors(served, tmp_path):
    model, tok = load_model("embedded", device="cpu")
    backend = ServerBackend(model, tok, settings=_settings(served["url"], tmp_path, retries=1, probe=False))
    gone = dataclasses.replace(_settings("http://127.0.0.1:9", tmp_path, retries=1), timeout_s=2)  # no one on port 9
    backend.s = gone
    with ServerSampler(_sampler_cfg(gone.url, tmp_path), 0, 1, backend, 0) as s, \
            pytest.raises(RolloutServerError, match="127.0.0.1:9.*is the server running"):
        s.take(1)
    backend.s = _settings(served["url"], tmp_path, retries=1, probe=False)
    backend.generate = lambda *a, **k: time.sleep(5)                          # a server that never answers
    with ServerSampler(_sampler_cfg(served["url"], tmp_path, "train.stall_min_s=0.5"), 0, 1, backend, 0) as s, \
            pytest.raises(RuntimeError, match="no batch for step 1 within 1s"):
        s.take(1)                                                             # 2 x 0.5 s for the first batch


@pytest.mark.slow
def test_torchrun_two_ranks_through_one_server(served, tmp_path):
    """Two gloo ranks, each with a sampling thread for its half of the prompts, one server; rank 0 reloads."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_dist import launch

    steps = 3
    launch("-m", "reasonrl", "train", f"out={tmp_path / 'run'}", "rollout.backend=server", f"train.steps={steps}",
           "train.async_staleness=1", f"rollout.server_url={served['url']}", f"rollout.server_weights_dir={tmp_path}/w",
           "train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
           "eval.sampled=false", "rollout.max_new_tokens=20", "train.threads=1")
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][1:]
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert all(0 <= r["step"] - 1 - r["async/version_max"] <= r["step"] - 1 - r["async/version_min"] <= 1
               for r in rows)
    assert served["engine"].weight_version == steps + 1       # one reload per update, by rank 0 only
