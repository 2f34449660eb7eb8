"""Training-time held-out evaluation (reasonrl.train.record.RunRecord.evaluate) and `reasonrl eval`
share one code path (reasonrl.eval.heldout.generate_rows): on the same checkpoint, data and settings
they give the same numbers, greedy, sampled and pass@k."""
import json

import pytest
import torch

from reasonrl.cli import main
from reasonrl.config import Config, load_config
from reasonrl.models import load_model
from reasonrl.rollout.hf import HFBackend
from reasonrl.tasks import make_task
from reasonrl.templates import Renderer
from reasonrl.train.record import RunRecord


@pytest.fixture(scope="module")
def training_eval(tmp_path_factory):
    """What the training loop logs for the embedded checkpoint: eval.size=12, eval.k=2, seed 3,
    rollout.temperature 0.8, rollout.max_new_tokens 40."""
    torch.set_num_threads(1)
    cfg = load_config(None, ["eval.size=12", "eval.k=2", "seed=3", "rollout.temperature=0.8",
                             "rollout.max_new_tokens=40"], cls=Config)
    model, tok = load_model("embedded", device="cpu")
    task = make_task(cfg.task)
    out = tmp_path_factory.mktemp("run")
    record = RunRecord(cfg, out, 0, HFBackend(model, tok), task, task.heldout()[:cfg.eval.size],
                       Renderer(tok, cfg.model.template, cfg.model.prefill_think), 1, log=lambda *_: None)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    m = record.evaluate(0)
    assert torch.equal(torch.get_rng_state(), before)       # evaluating never shifts the training stream
    return m


def offline(tmp_path, preset: str, *items: str) -> dict:
    assert main(["eval", "--model", "embedded", "--data", "walk", "--preset", preset, "limit=12", "max_new_tokens=40",
                 "seed=3", "batch_size=256", "bootstrap=0", "threads=1", f"out={tmp_path}", *items]) == 0
    (r,) = json.loads((tmp_path / "eval" / "summary.json").read_text())["results"].values()
    return r["metrics"]


def test_greedy_heldout_equals_eval_greedy(training_eval, tmp_path):
    m = offline(tmp_path, "greedy")
    assert m["pass@1"]["value"] == training_eval["acc/heldout"]
    assert m["len_mean"]["value"] == pytest.approx(training_eval["len/heldout"], abs=1e-12)
    assert m["truncation_rate"]["value"] == training_eval["truncated/heldout"]


def test_sampled_heldout_equals_eval_one_sample_at_the_rollout_temperature(training_eval, tmp_path):
    m = offline(tmp_path, "quick", "k=1", "temperature=0.8", "top_p=1.0")
    assert m["pass@1"]["value"] == training_eval["acc/heldout_sampled"]
    assert m["len_mean"]["value"] == pytest.approx(training_eval["len/heldout_sampled"], abs=1e-12)


def test_pass_at_k_heldout_equals_eval_quick(training_eval, tmp_path):
    m = offline(tmp_path, "quick", "k=2")                      # T 0.6, top-p 0.95: the paper's, as in training
    assert m["pass@1"]["value"] == training_eval["pass@1/heldout"]
    assert m["pass@2"]["value"] == pytest.approx(training_eval["pass@2/heldout"], abs=1e-12)
    assert m["maj@2"]["value"] == training_eval["maj@2/heldout"]
    assert m["len_mean"]["value"] == pytest.approx(training_eval["len@2/heldout"], abs=1e-12)
    assert 0 < training_eval["pass@1/heldout"] < 1             # a comparison that can fail
