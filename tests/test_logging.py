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


def test_torn_last_line_is_dropped_on_resume(tmp_path):
    f = tmp_path / "m.jsonl"
    log = JsonlLog(f)
    for s in range(1, 4):
        log.write({"step": s, "x": s})
    with open(f, "ab") as fh:                     # a kill in the middle of writing step 4
        fh.write(b'{"step": 4, "x": ')
    said = []
    resumed = JsonlLog(f, resume_step=3, log=said.append)
    assert [r["step"] for r in resumed.rows()] == [1, 2, 3] and f.read_bytes().endswith(b"}\n")
    assert said == [f"{f}: dropped 1 unreadable line(s) left by an interrupted write"]
    resumed.write({"step": 4, "x": 4})
    assert [json.loads(x)["step"] for x in f.read_text().splitlines()] == [1, 2, 3, 4]


def test_disk_full_mid_append_leaves_no_half_row(tmp_path, monkeypatch):
    import errno
    import os

    from reasonrl.safeio import DiskFullError

    f = tmp_path / "m.jsonl"
    log = JsonlLog(f)
    log.write({"step": 1, "x": 1})
    real = os.write

    def short_then_full(fd, data):                # the first 5 bytes land, then the disk is full
        if len(data) > 5:
            return real(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(DiskFullError, match=r"disk full while writing log .*m\.jsonl .*re-run the same command"):
        log.write({"step": 2, "x": 2})
    monkeypatch.setattr(os, "write", real)
    assert f.read_text() == '{"step": 1, "x": 1}\n'
    log.write({"step": 2, "x": 2})
    assert [r["step"] for r in JsonlLog(f, resume_step=2).rows()] == [1, 2]


def test_atomic_write_keeps_the_old_file_on_a_full_disk(tmp_path, monkeypatch):
    import errno
    import os

    from reasonrl.safeio import DiskFullError, atomic_write_text

    f = tmp_path / "summary.json"
    atomic_write_text(f, "old")

    def full(*_a):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError):
        atomic_write_text(f, "new")
    assert f.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
