"""Difficulty through the commands: `reasonrl pretrain` takes the walk's length range and padding,
and a tiny RL run logs the curriculum's open lengths and held-out metrics per length."""
import json
import random

import pytest
import yaml

from reasonrl.cli import main
from reasonrl.config import ConfigError, PretrainConfig, load_config
from reasonrl.models import build_char_tokenizer
from reasonrl.train import rl
from reasonrl.train.pretrain import _batch, pretrain

TINY_BASE = ["hidden=16", "layers=1", "heads=2", "intermediate=32", "steps=3", "batch_size=4", "warmup_steps=1",
             "eval_size=6", "gate_max_chunks=0", "threads=1"]


def test_pretrain_batch_is_padded_to_one_width():
    ids, labels = _batch(build_char_tokenizer(), random.Random(0), 3, worked=True, terms=4, pad_terms=10)
    # <bos> + 19 chain characters + '=' | <think> a,b,c,d </think> <answer> d </answer> <eos>: 21 | 13
    assert ids.shape == (3, 34) and (labels[:, :21] == -100).all() and (labels[:, 21:] != -100).all()


def test_pretrain_takes_the_task_options(tmp_path):
    cfg = load_config(None, TINY_BASE + [f"out={tmp_path / 'base'}", "min_terms=4", "max_terms=6", "pad_terms=6"],
                      cls=PretrainConfig)
    report = pretrain(cfg, log=lambda *_: None)
    per_level = {k for k in report if k.startswith("forced_worked_acc/")}
    assert per_level == {f"forced_worked_acc/terms={t}" for t in (4, 5, 6)}
    saved = yaml.safe_load((tmp_path / "base" / "pretrain_config.yaml").read_text())
    assert (saved["min_terms"], saved["max_terms"], saved["pad_terms"]) == (4, 6, 6)
    with pytest.raises(ConfigError, match="config key 'max_terms' must be >= min_terms"):
        pretrain(load_config(None, TINY_BASE + ["min_terms=6", "max_terms=5"], cls=PretrainConfig))


@pytest.mark.parametrize("argv,needle", [
    (["pretrain", "min_terms=1"], "'min_terms' must be >= 2"),
    (["pretrain", "pad_terms=4"], "'pad_terms' must be 0 (no padding) or >= max_terms (10)"),
    (["train", "task.min_terms=4", "task.curriculum=steps"], "'task.curriculum_steps'"),
])
def test_bad_difficulty_on_the_command_line_is_one_line(argv, needle, tmp_path, capsys):
    assert main(argv + [f"out={tmp_path / 'run'}"] + (TINY_BASE if argv[0] == "pretrain" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_tiny_run_logs_levels_and_curriculum(tmp_path):
    cfg = load_config(None, [f"out={tmp_path}", "train.steps=2", "train.prompts_per_step=4",
                             "rollout.num_generations=2", "rollout.max_new_tokens=30", "eval.size=6",
                             "train.log_rollouts=8", "task.min_terms=4", "task.max_terms=6", "task.pad_terms=10",
                             "task.curriculum=steps", "task.curriculum_steps=[2,3]", "train.threads=1"])
    rl.train(cfg, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("curriculum/max_terms") for r in rows] == [None, 4, 5]
    for r in (rows[0], rows[2]):                       # before and after: 2 held-out problems per length
        per = [r[f"acc/heldout/terms={t}"] for t in (4, 5, 6)]
        assert r["acc/heldout"] == pytest.approx(sum(per) / 3, abs=1e-12)
        assert all(v in (0.0, 0.5, 1.0) for v in per) and "acc/heldout_sampled/terms=6" in r
    terms: dict[int, set] = {}                         # chain lengths of the logged rollouts per step
    for line in (tmp_path / "rollouts.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert len(row["prompt"]) == 20                # padded to the width of 10 terms (19) + '='
        terms.setdefault(row["step"], set()).add(row["prompt"].count("+") + row["prompt"].count("-") + 1)
    assert terms[1] == {4} and terms[2] <= {4, 5}


def test_adaptive_curriculum_resumes_where_it_was(tmp_path, monkeypatch):
    # accuracy 0 over a window of 1 opens one more length after every step: 4, 5, 6, 6 terms
    args = ["train.steps=4", "train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=30",
            "eval.size=3", "eval.every=0", "eval.sampled=false", "train.checkpoint_every=2", "train.threads=1",
            "task.min_terms=4", "task.max_terms=6", "task.curriculum=adaptive", "task.curriculum_accuracy=0",
            "task.curriculum_window=1"]
    rl.train(load_config(None, args + [f"out={tmp_path / 'whole'}"]), log=lambda *_: None)
    real = rl.progress_line

    def crash_at_3(step, total, m):
        if step == 3:                       # step 3 is logged, its checkpoint is not: resume from step 2
            raise KeyboardInterrupt("simulated kill")
        return real(step, total, m)
    monkeypatch.setattr(rl, "progress_line", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        rl.train(load_config(None, args + [f"out={tmp_path / 'crashed'}"]), log=lambda *_: None)
    monkeypatch.setattr(rl, "progress_line", real)
    rl.train(load_config(None, args + [f"out={tmp_path / 'crashed'}"]), log=lambda *_: None)

    def rows(run):
        return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
                for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("curriculum/max_terms") for r in rows("whole")] == [None, 4, 5, 6, 6]
    assert rows("crashed") == rows("whole")
