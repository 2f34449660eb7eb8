"""Config loading: YAML + overrides, unknown keys and bad types named, presets resolved."""
import pytest

from reasonrl.config import Config, ConfigError, dump_yaml, load_config, parse_overrides


def test_defaults_are_the_tiny_demo():
    cfg = load_config()
    assert cfg.model.path == "embedded" and cfg.task.name == "walk"
    assert cfg.algo.advantage == "group_zscore" and cfg.algo.kl == "k3"


def test_overrides_and_types():
    cfg = load_config(None, ["train.steps=5", "algo.preset=dapo", "reward.weights=[1, 0.5]", "train.lr=3e-4"])
    assert cfg.train.steps == 5 and cfg.algo.aggregation == "token_mean" and cfg.algo.clip_high == 0.28
    assert cfg.reward.weights == (1.0, 0.5) and cfg.train.lr == 3e-4
    assert parse_overrides(["a.b=1", "c=x"]) == {"a": {"b": 1}, "c": "x"}


def test_user_setting_wins_over_preset():
    cfg = load_config(None, ["algo.preset=dr_grpo", "algo.aggregation=token_mean"])
    assert cfg.algo.aggregation == "token_mean" and cfg.algo.advantage == "group_mean"


@pytest.mark.parametrize("override,message", [
    ("trian.steps=5", "unknown config key 'trian'"),
    ("train.stpes=5", "unknown config key 'train.stpes'"),
    ("train.steps=abc", "config key 'train.steps': expected int"),
    ("algo.preset=nope", "unknown preset 'nope'"),
    ("algo.advantage=median", "config key 'algo.advantage': unknown choice"),
    ("rollout.top_p=0.9", "rollout.top_p"),
    ("reward.weights=[1]", "differ in length"),
    ("algo.mini_batches=3", "must divide"),
    ("rollout.backend=server rollout.routing_replay=true", "'rollout.routing_replay': backend 'server'"),
    ("rollout.backend=vllm train.async_staleness=1", "'train.async_staleness': not supported with rollout"),
])
def test_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override.split())


def test_yaml_file_and_errors(tmp_path):
    good = tmp_path / "c.yaml"
    good.write_text("train:\n  steps: 7\nalgo:\n  preset: rloo\n")
    assert load_config(good).train.steps == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  steps: 7\n  lr: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+"):
        load_config(bad)
    unknown = tmp_path / "u.yaml"
    unknown.write_text("train:\n  stepz: 7\n")
    with pytest.raises(ConfigError, match="u.yaml: unknown config key 'train.stepz'"):
        load_config(unknown)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["algo.preset=gspo"])
    p = tmp_path / "r.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_config(p) == cfg
    assert isinstance(cfg, Config)
