"""Asynchronous RL (train.async_staleness, reasonrl.train.worker / publish): the pieces without a worker
process, and k = 0 against the synchronous loop composed by hand."""
import threading

import pytest
import torch
from safetensors.torch import load_file

from reasonrl.config import ConfigError, load_config
from reasonrl.models import torch_threads
from reasonrl.train import rl
from reasonrl.train.collect import collect
from reasonrl.train.publish import SharedWeights, published_tensors
from reasonrl.train.update import policy_update
from reasonrl.train.worker import split_threads, staleness_metrics

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
         "train.checkpoint_every=10", "rollout.max_new_tokens=20", "train.log_rollouts=1", "train.threads=1"]


def _cfg(out, *extra):
    return load_config(None, SMALL + [f"out={out}"] + list(extra))


def test_shared_weights_roundtrip_and_version():
    src = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(4)}
    shared = SharedWeights(src, version=5)
    assert shared.version() == 5
    dst = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    assert shared.read_into(dst) == 5 and torch.equal(dst["a"], src["a"])
    shared.publish({"a": -src["a"], "b": 2 * src["b"]}, version=6)
    assert shared.read_into(dst) == 6 and torch.equal(dst["a"], -src["a"]) and torch.equal(dst["b"], torch.full((4,), 2.0))
    src["a"].add_(100)                      # the shared copy is a copy: later trainer writes do not leak in
    assert shared.read_into(dst) == 6 and dst["a"].max().item() == 0.0


def test_shared_weights_reader_never_sees_a_torn_update():
    """The writer publishes version v as tensors filled with v; a reader copying concurrently must get
    tensors filled with exactly the version it reports (a torn copy would mix two fills)."""
    shared = SharedWeights({"x": torch.zeros(200_000), "y": torch.zeros(50_000)}, version=0)
    done = threading.Event()

    def write():
        for v in range(1, 300):
            shared.publish({"x": torch.full((200_000,), float(v)), "y": torch.full((50_000,), float(v))}, v)
        done.set()
    t = threading.Thread(target=write)
    t.start()
    dst, seen = {"x": torch.empty(200_000), "y": torch.empty(50_000)}, set()
    while not done.is_set():
        v = shared.read_into(dst)
        assert dst["x"].min().item() == dst["x"].max().item() == dst["y"].min().item() == dst["y"].max().item() == v
        seen.add(v)
    t.join()
    assert shared.read_into(dst) == 299 and len(seen) >= 2


def test_staleness_metrics_by_hand():
    # step 5 trains at version 4; k = 2. Rows sampled at versions 4, 3, 3, 2 -> staleness 0, 1, 1, 2:
    # mean (0 + 1 + 1 + 2) / 4 = 1.0, max 2, shares 1/4, 2/4, 1/4.
    m = staleness_metrics(torch.tensor([4, 3, 3, 2]), step=5, k=2)
    assert m["async/staleness_mean"] == 1.0 and m["async/staleness_max"] == 2
    assert (m["async/staleness=0"], m["async/staleness=1"], m["async/staleness=2"]) == (0.25, 0.5, 0.25)
    assert (m["async/version_min"], m["async/version_max"]) == (2, 4)
    with pytest.raises(RuntimeError, match="staleness bound 1"):
        staleness_metrics(torch.tensor([4, 2]), step=5, k=1)     # staleness 2 > k = 1: never trained on


def test_split_threads():
    assert split_threads(0, 0, cores=2) == (1, 1)        # half each
    assert split_threads(0, 0, cores=16, procs=2) == (4, 4)   # 8 per torchrun process, halved
    assert split_threads(3, 0, cores=8) == (3, 4)        # a set value wins; the worker still takes half
    assert split_threads(0, 1, cores=2) == (1, 1) and split_threads(0, 0, cores=1) == (1, 1)


def test_async_config_checks(tmp_path):
    assert _cfg(tmp_path, "train.async_staleness=1").algo.tis == "token"      # async default: token-level TIS
    assert _cfg(tmp_path, "train.async_staleness=1", "algo.tis=geo_mask").algo.tis == "geo_mask"
    assert _cfg(tmp_path, "train.async_staleness=1", "algo.tis=none").algo.tis == "none"   # explicit: kept (warned)
    assert _cfg(tmp_path).algo.tis == "none"                                  # synchronous: unchanged
    for bad, key in ((["train.async_staleness=1", "rollout.backend=vllm"], "rollout.backend=vllm"),
                     (["train.async_staleness=-1"], "async_staleness"),
                     (["train.async_staleness=1", "train.fsdp=true"], "train.fsdp"),
                     (["train.async_staleness=1", "task.curriculum=adaptive", "task.curriculum_window=2"],
                      "curriculum")):
        with pytest.raises(ConfigError, match=key):
            _cfg(tmp_path, *bad)


def test_lora_publishes_only_adapters(tiny_lm):
    from reasonrl.config.sections import ModelConfig
    from reasonrl.scale import lora

    model, _ = tiny_lm
    wrapped = lora.wrap(model, ModelConfig(lora_r=2, lora_targets=("q_proj",)), seed=0)
    names = list(published_tensors(wrapped))
    # 2 layers x q_proj x (lora_A, lora_B) = 4 tensors, nothing of the base
    assert len(names) == 4 and all("lora_" in n for n in names)


def test_k0_is_the_synchronous_loop(tmp_path):
    """A k = 0 run ends with the weights (bit for bit) and update metrics of collect + policy_update
    composed by hand with the loop's per-step seed; no worker metrics appear."""
    import json

    rl.train(_cfg(tmp_path / "run", "train.steps=2", "train.async_staleness=0"), log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith("async/") for r in rows for k in r)

    cfg = _cfg(tmp_path / "hand", "train.steps=2")
    with torch_threads(1):                                    # the run's train.threads (sums are thread-order exact)
        r = rl.build(cfg, lambda *_: None)
        for step in (1, 2):
            torch.manual_seed(cfg.seed * 1_000_003 + step)   # the loop's sampling seed, rank 0
            batch, _, _ = collect(step, cfg, r.task, r.backend, r.reward_fn, r.render)
            up = policy_update(r.model, r.ref, r.opt, batch, cfg.algo, max_new_tokens=cfg.rollout.max_new_tokens,
                               micro_batch_size=cfg.train.micro_batch_size, max_grad_norm=cfg.train.max_grad_norm,
                               step_seed=cfg.seed * 7919 + step)
            r.sched.step()
            assert up.stats["loss/policy"] == rows[step]["loss/policy"]
    final = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    mine = r.model.state_dict()
    assert final.keys() <= mine.keys() and all(torch.equal(final[k], mine[k]) for k in final)


def test_progress_line_and_rank_reduction_of_async_metrics():
    from reasonrl.dist import _rule
    from reasonrl.logging import progress_line

    m = {"async/staleness_mean": 0.5, "async/staleness_max": 1, "async/trainer_idle_s": 0.25,
         "async/worker_idle_s": 1.5, "time/step_s": 2.0}
    assert "stale 0.50/1 idle trainer 0.2s worker 1.5s | 2.0s" in progress_line(3, 10, m)
    assert "stale" not in progress_line(3, 10, {"time/step_s": 2.0})           # synchronous: unchanged
    # under torchrun: the worst rank's staleness and waits, the oldest version, the mean of the shares
    assert [_rule(k) for k in ("async/staleness_max", "async/trainer_idle_s", "async/version_min",
                               "async/staleness=1", "async/staleness_mean")] == ["max", "max", "min", "mean", "mean"]
