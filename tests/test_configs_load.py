"""Every config file shipped in configs/ loads: RL configs as a Config (presets resolved), pipeline
files as a Pipeline. A renamed or removed key then fails here, naming the file."""
from pathlib import Path

import pytest
import yaml

from reasonrl.config import load_config, resolve
from reasonrl.pipeline import load_pipeline

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_config_files():
    assert {p.name for p in CONFIGS} >= {"tiny.yaml", "r1zero-math-gpu.yaml", "pipeline-tiny.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_file_loads(path):
    if "stages" in yaml.safe_load(path.read_text()):
        assert load_pipeline(path).stages
    else:
        cfg = resolve(load_config(path))
        assert cfg.train.steps > 0


def test_r1zero_math_config_does_not_train_on_a_benchmark_test_file():
    cfg = load_config(CONFIGS[0].parent / "r1zero-math-gpu.yaml")
    assert cfg.task.path and not any("test" in Path(p).name for p in cfg.task.path)
    assert "math500" in cfg.task.heldout_path
