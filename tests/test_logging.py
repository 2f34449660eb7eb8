"""Metric sinks: JSONL resume truncation, the progress bar, optional TensorBoard and W&B (offline)."""
import json

import pytest

from reasonrl.logging import ExternalSinks, JsonlLog, progress_bar, progress_line


def test_jsonl_resume_drops_rows_after_the_step(tmp_path):
    log = JsonlLog(tmp_path / "m.jsonl")
    for s in range(5):
        log.write({"step": s, "x": float(s)})
    assert [r["step"] for r in JsonlLog(tmp_path / "m.jsonl", resume_step=2).rows()] == [0, 1, 2]
    JsonlLog(tmp_path / "m.jsonl").write({"step": 0, "x": float("nan")})     # fresh run: file restarted
    assert json.loads((tmp_path / "m.jsonl").read_text()) == {"step": 0, "x": None}


def test_progress_bar_and_line():
    assert progress_bar(5, 20, width=10) == "[##--------]" and progress_bar(20, 20, width=4) == "[####]"
    line = progress_line(3, 60, {"reward/mean": 0.5, "acc/train": 0.25, "len/mean": 9.0, "acc/heldout": 0.4})
    assert line.startswith("[#") and "step    3/60" in line and "heldout 0.40" in line


def test_tensorboard_sink(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sinks = ExternalSinks(("tensorboard",), tmp_path, {}, "t")
    sinks.write(1, {"acc/heldout": 0.5, "kl": None, "note": "x"})
    sinks.write(2, {"acc/heldout": 0.75})
    sinks.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("acc/heldout")] == [(1, 0.5), (2, 0.75)]


def test_wandb_sink_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    import sys
    monkeypatch.setattr(sys, "exit", sys.exit)      # wandb hooks sys.exit; restore it after the test
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    sinks = ExternalSinks(("wandb",), tmp_path, {"seed": 0}, "t")
    sinks.write(1, {"acc/heldout": 0.5})
    sinks.close()
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_unknown_sink_is_a_config_error(tmp_path):
    from reasonrl.config import ConfigError
    with pytest.raises(ConfigError, match="unknown sink 'mlflow'"):
        ExternalSinks(("mlflow",), tmp_path, {}, "t")
