"""The demo's output on one screen, and honest ends: a stopped run says its model was not evaluated
and exits 75 whether a signal or the time budget stopped it."""
import yaml

from reasonrl.cli import main
from reasonrl.logging import shown_step

TINY = ["train.prompts_per_step=2", "rollout.num_generations=2", "eval.size=4", "rollout.max_new_tokens=12",
        "eval.sampled=false", "threads=1"]


def test_progress_lines_of_the_demo_run(monkeypatch):
    monkeypatch.delenv("REASONRL_VERBOSE", raising=False)
    evals = {20, 40, 60}                                  # the demo: 60 steps, eval.every=20
    shown = [s for s in range(1, 61) if shown_step(s, 60, {"acc/heldout": 0.5} if s in evals else {})]
    assert shown == [1] + sorted({*range(3, 61, 3), 20, 40})          # 22 lines
    assert [s for s in range(1, 8) if shown_step(s, 7, {})] == list(range(1, 8))
    monkeypatch.setenv("REASONRL_VERBOSE", "1")           # -v: every step
    assert sum(shown_step(s, 60, {}) for s in range(1, 61)) == 60


def test_a_run_prints_its_config_in_one_line_and_fits_one_screen(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REASONRL_VERBOSE", raising=False)
    assert main(["train", f"out={tmp_path}", "train.steps=4"] + TINY) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[:next(i for i, x in enumerate(lines) if x.split()[:2] == ["before", "after"])]
    other = [x for x in head if not (x.startswith("[") and " step " in x)]
    assert len(other) <= 8, other                        # + 22 progress lines for the demo's 60 steps: <= 40
    assert len(head) - len(other) == 4
    assert sum(x.startswith("config: ") for x in head) == 1 and not any("clipping never acts" in x for x in head)
    assert any("CPU threads (set by threads" in x for x in head)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["steps"] == 4   # saved in full


def test_time_budget_stop_exits_75_and_marks_the_model_not_evaluated(tmp_path, capsys):
    assert main(["train", f"out={tmp_path}", "train.time_budget_s=0.001", "train.steps=50"] + TINY) == 75
    out = capsys.readouterr().out
    assert "time budget of 0s reached at step 1: checkpoint saved" in out
    table = out[out.index("not evaluated"):].splitlines()
    assert table[1].split()[-1] == "-" and "stopped at step 1: the model there was not evaluated" in out
