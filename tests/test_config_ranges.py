"""Every numeric config key has a range, checked when the config loads: one line naming the key
(and, for a value from the config file, the file and line); nonsense is refused, not run."""
import pytest

from reasonrl.config import RANGES, ConfigError, _describe, _outside, load_config, summary_line
from reasonrl.eval.presets import EvalRunConfig
from reasonrl.train.pretrain import PretrainConfig
from reasonrl.train.rejection import SampleConfig
from reasonrl.train.sft import SFTConfig


@pytest.mark.parametrize("cls,override,message", [
    (None, "train.lr=-1", "config key 'train.lr' must be > 0, got -1.0"),
    (None, "train.lr=0", "config key 'train.lr' must be > 0, got 0.0"),
    (None, "eval.size=0", "config key 'eval.size' must be >= 1, got 0"),
    (None, "task.heldout_size=0", "config key 'task.heldout_size' must be >= 1, got 0"),
    (None, "train.steps=-1", "config key 'train.steps' must be >= 1, got -1"),
    (None, "train.steps=0", "config key 'train.steps' must be >= 1, got 0"),
    (None, "rollout.num_generations=1", "config key 'rollout.num_generations' must be >= 2, got 1 (group"),
    (None, "algo.beta=-1", "config key 'algo.beta' must be >= 0, got -1.0"),
    (None, "algo.clip_low=-1", "config key 'algo.clip_low' must be in [0, 1), got -1.0"),
    (None, "algo.clip_low=1", "config key 'algo.clip_low' must be in [0, 1), got 1.0"),
    (None, "algo.clip_high=-0.1", "config key 'algo.clip_high' must be >= 0, got -0.1"),
    (None, "algo.dual_clip=1", "config key 'algo.dual_clip' must be > 1, got 1.0"),
    (None, "train.adam_beta2=1", "config key 'train.adam_beta2' must be in [0, 1), got 1.0"),
    (None, "rollout.vllm_gpu_memory=1.5", "config key 'rollout.vllm_gpu_memory' must be in (0, 1], got 1.5"),
    (None, "train.lr=.nan", "config key 'train.lr' must be > 0, got nan"),
    (None, "task.weights=[1,-1]", "config key 'task.weights' must be >= 0, got -1.0"),
    (None, "out=", "config key 'out' must name a run directory, got ''"),
    (None, "out=' '", "config key 'out' must name a run directory"),
    (PretrainConfig, "steps=0", "config key 'steps' must be >= 1, got 0"),
    (SFTConfig, "train.batch_size=0", "config key 'train.batch_size' must be >= 1, got 0"),
    (SFTConfig, "train.steps=-1", "config key 'train.steps' must be >= 0, got -1"),
    (SampleConfig, "sample.k=0", "config key 'sample.k' must be >= 1, got 0"),
    (SampleConfig, "filter.min_language_share=2", "config key 'filter.min_language_share' must be in [0, 1], got 2"),
    (EvalRunConfig, "limit=-5", "config key 'limit' must be >= 0, got -5"),
    (EvalRunConfig, "top_p=0", "config key 'top_p' must be in (0, 1], got 0.0"),
])
def test_out_of_range_is_one_line_naming_the_key(cls, override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override], **({"cls": cls} if cls else {}))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.parametrize("cls,overrides", [
    (None, []), (None, ["reward.weights=[1,-0.5]", "algo.beta=0", "train.steps=1", "rollout.num_generations=2"]),
    (SFTConfig, ["train.steps=0", "eval.size=0"]), (EvalRunConfig, []), (EvalRunConfig, ["out="]),
    (PretrainConfig, []), (SampleConfig, []),
])
def test_defaults_and_meaningful_zeros_pass(cls, overrides):
    load_config(None, overrides, **({"cls": cls} if cls else {}))


def test_file_and_line_named_for_a_value_from_the_file(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("out: runs/x\ntrain:\n  steps: 5\n  lr: -0.5\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == f"{f}:4: config key 'train.lr' must be > 0, got -0.5"
    with pytest.raises(ConfigError) as e:                 # the override's value: no file line to name
        load_config(f, ["train.lr=-2"])
    assert str(e.value) == "config key 'train.lr' must be > 0, got -2.0"


def test_rule_boundaries():
    assert [_outside(v, (0, False, None, False)) for v in (-1e-9, 0, 1e-12)] == [True, True, False]
    assert [_outside(v, (0, True, 1, False)) for v in (0, 0.999, 1)] == [False, False, True]
    assert [_outside(v, (1, True, None, False)) for v in (0, 1, True)] == [True, False, False]   # bools skipped
    assert _describe((0, False, 1, True)) == "in (0, 1]" and _describe((2, True, None, False)) == ">= 2"
    assert RANGES["lr"] == (0, False, None, False)


def test_threads_has_one_spelling_everywhere():
    assert load_config(None, ["threads=1"]).train.threads == 1
    assert load_config(None, ["threads=1"], cls=SFTConfig).train.threads == 1
    assert load_config(None, ["threads=3"], cls=SampleConfig).threads == 3
    assert load_config(None, ["threads=2"], cls=PretrainConfig).threads == 2
    assert load_config(None, ["threads=2"], cls=EvalRunConfig).threads == 2


def test_config_summary_is_one_line_and_full_when_verbose(monkeypatch):
    cfg = load_config(None)
    monkeypatch.delenv("REASONRL_VERBOSE", raising=False)
    line = summary_line(cfg, "runs/tiny-walk/config.yaml")
    assert line == ("config: runs/tiny-walk/config.yaml (model.path=embedded, task.name=walk, algo.preset=grpo, "
                    "train.steps=60, train.prompts_per_step=16, rollout.num_generations=8; all settings there, "
                    "or run with -v)")
    monkeypatch.setenv("REASONRL_VERBOSE", "1")
    assert summary_line(cfg, "x").count("\n") > 50
