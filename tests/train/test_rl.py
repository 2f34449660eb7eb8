"""The RL loop end to end on the embedded tiny model: smoke runs, kill-and-resume equality,
run-directory contract, presets."""
import json

import pytest
import torch
from safetensors.torch import load_file

from reasonrl.algo.presets import PRESETS
from reasonrl.config import ConfigError, load_config
from reasonrl.train import rl

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=16", "eval.every=2",
         "train.checkpoint_every=2", "rollout.max_new_tokens=30", "train.log_rollouts=2"]


def _cfg(tmp_path, *extra):
    return load_config(None, SMALL + [f"out={tmp_path}"] + list(extra))


def _rows(path):
    drop = lambda r: {k: v for k, v in r.items() if not k.startswith("time/")}  # noqa: E731
    return [drop(json.loads(x)) for x in path.read_text().splitlines()]


def test_smoke_three_steps(tmp_path):
    result = rl.train(_cfg(tmp_path / "run", "train.steps=3"), log=lambda *_: None)
    run = tmp_path / "run"
    rows = _rows(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert "acc/heldout" in rows[0] and "len/mean" in rows[1] and "acc/heldout" in rows[3]
    assert all(torch.isfinite(torch.tensor(r["loss/policy"])) for r in rows[1:] if r.get("loss/policy") is not None)
    assert (run / "final" / "model.safetensors").is_file() and (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "step-3" / "trainer_state.pt").is_file()
    assert json.loads((run / "rollouts.jsonl").read_text().splitlines()[0])["completion"] is not None
    assert result["steps"] == 3 and "acc/heldout" in result["after"]


def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    rl.train(_cfg(whole, "train.steps=4"), log=lambda *_: None)

    crashed = tmp_path / "crashed"
    real = rl.progress_line

    def crash_at_3(step, total, m):
        if step == 3:                       # metrics of step 3 are written, its checkpoint is not
            raise KeyboardInterrupt("simulated kill")
        return real(step, total, m)
    monkeypatch.setattr(rl, "progress_line", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        rl.train(_cfg(crashed, "train.steps=4"), log=lambda *_: None)
    monkeypatch.setattr(rl, "progress_line", real)
    rl.train(_cfg(crashed, "train.steps=4"), log=lambda *_: None)    # the same command resumes

    assert _rows(crashed / "metrics.jsonl") == _rows(whole / "metrics.jsonl")
    a = load_file(str(whole / "final" / "model.safetensors"))
    b = load_file(str(crashed / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_directory_from_a_different_config(tmp_path):
    rl.train(_cfg(tmp_path, "train.steps=1", "eval.every=0"), log=lambda *_: None)
    with pytest.raises(ConfigError, match="different config.*train.lr"):
        rl.train(_cfg(tmp_path, "train.steps=1", "eval.every=0", "train.lr=0.5"), log=lambda *_: None)
    # more steps is a continuation, not a different config
    rl.train(_cfg(tmp_path, "train.steps=2", "eval.every=0"), log=lambda *_: None)
    assert [r["step"] for r in _rows(tmp_path / "metrics.jsonl")] == [0, 1, 2]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_smoke_presets_twenty_steps(tmp_path, preset):
    cfg = load_config(None, [f"out={tmp_path}", f"algo.preset={preset}", "train.steps=20",
                             "train.prompts_per_step=2", "rollout.num_generations=4", "eval.every=0",
                             "eval.size=8", "eval.sampled=false", "train.checkpoint_every=100",
                             "rollout.max_new_tokens=28"])
    rl.train(cfg, log=lambda *_: None)
    rows = _rows(tmp_path / "metrics.jsonl")
    assert rows[-1]["step"] == 20
    for r in rows[1:]:
        for k in ("reward/mean", "len/mean", "loss/policy", "grad_norm", "entropy", "kl"):
            if r.get(k) is not None:
                assert torch.isfinite(torch.tensor(float(r[k]))), (preset, k, r[k])


def test_run_directory_from_an_older_version_resumes(tmp_path):
    """A key added to the package later (absent from the saved config, at its default) is no difference."""
    import yaml
    rl.train(_cfg(tmp_path, "train.steps=1", "eval.every=0"), log=lambda *_: None)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del saved["algo"]["tis"], saved["train"]["log_to"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    rl.train(_cfg(tmp_path, "train.steps=2", "eval.every=0"), log=lambda *_: None)
    assert [r["step"] for r in _rows(tmp_path / "metrics.jsonl")] == [0, 1, 2]


def test_gradient_checkpointing_gives_the_same_update(tmp_path):
    """Recomputing activations in backward changes memory, not the math."""
    a = rl.train(_cfg(tmp_path / "a", "train.steps=2", "eval.every=0"), log=lambda *_: None)
    b = rl.train(_cfg(tmp_path / "b", "train.steps=2", "eval.every=0", "train.gradient_checkpointing=true"),
                 log=lambda *_: None)
    assert a["exit_code"] == b["exit_code"] == 0
    ra, rb = _rows(tmp_path / "a" / "metrics.jsonl"), _rows(tmp_path / "b" / "metrics.jsonl")
    for x, y in zip(ra[1:], rb[1:]):
        assert abs(x["loss/policy"] - y["loss/policy"]) < 1e-6 and abs(x["grad_norm"] - y["grad_norm"]) < 1e-5


def test_train_restores_the_callers_thread_count(tmp_path):
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    rl.train(_cfg(tmp_path, "train.steps=1", "eval.every=0", f"train.threads={want}"), log=lambda *_: None)
    assert torch.get_num_threads() == before
