"""What a new user meets first, without a model: a failed start never blocks the corrected rerun,
the thread default, the project's presets do not warn about themselves, the end-of-run table
says when the model after a stop was not evaluated."""
import pytest

from reasonrl.algo.presets import PRESETS, warnings
from reasonrl.config import ConfigError, load_config
from reasonrl.models import auto_threads
from reasonrl.train.rl import before_after_table
from reasonrl.train.rundir import check_or_write_config, has_progress


def test_a_run_directory_without_progress_takes_a_new_config(tmp_path):
    out = tmp_path / "run"
    bad = load_config(None, ["rollout.backend=server", "rollout.server_url=http://127.0.0.1:8029", f"out={out}"])
    good = load_config(None, ["rollout.backend=server", "rollout.server_url=http://127.0.0.1:8030", f"out={out}"])
    assert check_or_write_config(bad, out) is False          # the failed start wrote config.yaml ...
    (out / "metrics.jsonl").write_text('{"step": 0}\n')       # ... and its step-0 evaluation
    assert not has_progress(out)
    assert check_or_write_config(good, out) is False          # corrected rerun: a fresh start, no refusal
    assert "8030" in (out / "config.yaml").read_text()


@pytest.mark.parametrize("made", ["checkpoints/step-2/config.json", "final/config.json", "parts/batch-00000.jsonl",
                                  "summary.json"])
def test_a_run_directory_with_progress_still_refuses_another_config(tmp_path, made, monkeypatch):
    monkeypatch.setattr("reasonrl.train.rundir.clean_leftovers", lambda out: [])   # a bare test checkpoint
    out = tmp_path / "run"
    check_or_write_config(load_config(None, [f"out={out}"]), out)
    path = out / made
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    if made.startswith("checkpoints"):
        (path.parent / "trainer_state.pt").write_bytes(b"")
    assert has_progress(out)
    with pytest.raises(ConfigError, match=r"was made by a different config \(train.lr: 0.0001 -> 0.5\)"):
        check_or_write_config(load_config(None, [f"out={out}", "train.lr=0.5"]), out)
    assert check_or_write_config(load_config(None, [f"out={out}", "train.steps=90"]), out) is True   # resumable


@pytest.mark.parametrize("cores,load,procs,want", [
    (2, 0.2, 1, 2),      # idle laptop: every core
    (2, 0.6, 1, 1),      # one core busy elsewhere
    (2, 1.4, 1, 1),
    (2, 9.0, 1, 1),      # overloaded: still at least one
    (16, 2.0, 1, 14),
    (16, 2.0, 2, 7),     # torchrun: the free cores shared by the processes
])
def test_auto_threads_leaves_busy_cores_alone(cores, load, procs, want):
    n, why = auto_threads(cores, load, procs)
    assert n == want and why.startswith(f"auto: {cores} cores, load average {load:.1f}")


def test_no_preset_warns_about_its_own_recipe():
    for name in PRESETS:
        assert warnings(load_config(None, [f"algo.preset={name}"]).algo) == [], name
    (w,) = warnings(load_config(None, ["algo.clip_high=0.28"]).algo)   # the user's own clip, on-policy
    assert "clipping never acts" in w
    assert warnings(load_config(None, ["algo.clip_high=0.28", "algo.epochs=2"]).algo) == []


def _result(after_step, steps=25):
    before = {"acc/heldout": 0.35, "len/heldout": 6.0}
    after = {"acc/heldout": 0.5, "len/heldout": 9.0} if after_step else {}
    return {"out": "runs/x", "steps": steps, "seconds": 3, "before": before, "after": after, "after_step": after_step}


def test_table_after_a_stop_names_what_was_evaluated():
    lines = before_after_table(_result(0)).splitlines()
    assert lines[0].split() == ["before", "not", "evaluated"]
    assert lines[1].split()[-2:] == ["35%", "-"]
    assert "stopped at step 25: the model there was not evaluated; re-run the same command" in lines[-2]
    lines = before_after_table(_result(20)).splitlines()
    assert lines[0].split() == ["before", "step", "20"] and lines[1].split()[-2:] == ["35%", "50%"]
    assert "(last evaluation: step 20)" in lines[-2]
    lines = before_after_table(_result(25)).splitlines()
    assert lines[0].split() == ["before", "after"] and not any("stopped" in x for x in lines)


def test_table_after_a_guard_stop_does_not_say_rerun():
    from reasonrl.train.guards import EXIT_DIVERGED
    lines = before_after_table({**_result(20), "exit_code": EXIT_DIVERGED}).splitlines()
    assert "re-run" not in lines[-2] and f"exit {EXIT_DIVERGED}" in lines[-2]
