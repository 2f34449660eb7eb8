"""The dataset task: field mapping from config, a held-out split disjoint from training, mixtures,
config errors named by key, and a smoke run of `reasonrl train` on a JSONL file."""
import json
import random
from pathlib import Path

import pytest

from reasonrl.config import ConfigError, TaskConfig
from reasonrl.tasks import make_task
from reasonrl.tasks.dataset import DatasetTask

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _walk_rows(path, n, seed=0):
    """n walk-like problems 'a+b=' with their sums, as JSONL under field names q / sum."""
    rng = random.Random(seed)
    rows = [{"q": f"{a}+{b}=", "sum": a + b} for a, b in ((rng.randint(0, 4), rng.randint(0, 4)) for _ in range(n))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cfg(path, **kw):
    return TaskConfig(name="dataset", path=(str(path),), prompt_field="q", answer_field="sum", **kw)


def test_heldout_is_set_aside_and_never_trained_on(tmp_path):
    task = make_task(_cfg(_walk_rows(tmp_path / "d.jsonl", 200), heldout_size=10), log=lambda _: None)
    held = {s.prompt for s in task.heldout()}
    assert len(task.heldout()) == 10
    trained = {s.prompt for step in range(40) for s in task.train_batch(0, step, 8)}
    assert trained and not trained & held       # duplicates of held-out prompts are dropped from training
    assert task.train_batch(3, 7, 8) == task.train_batch(3, 7, 8)


def test_heldout_path_and_mixture(tmp_path):
    a, b = _walk_rows(tmp_path / "a.jsonl", 30, 1), _walk_rows(tmp_path / "b.jsonl", 30, 2)
    h = _walk_rows(tmp_path / "h.jsonl", 5, 3)
    cfg = TaskConfig(name="dataset", path=(str(a), str(b)), weights=(1.0, 0.0), heldout_path=str(h),
                     prompt_field="q", answer_field="sum", heldout_size=3)
    task = make_task(cfg, log=lambda _: None)
    assert [s.meta["where"] for s in task.heldout()] == [f"{h}:{i}" for i in (1, 2, 3)]
    # weight 0 on b.jsonl: every training row comes from a.jsonl
    assert {s.meta["where"].split(":")[0] for s in task.train_batch(0, 1, 32)} == {str(a)}


def test_config_errors_name_the_key(tmp_path):
    f = _walk_rows(tmp_path / "d.jsonl", 5)
    with pytest.raises(ConfigError, match="task.name=dataset needs task.path=FILE"):
        make_task(TaskConfig(name="dataset"))
    with pytest.raises(ConfigError, match="'task.verifier': unknown verifier 'nope'"):
        make_task(_cfg(f, verifier="nope"))
    with pytest.raises(ConfigError, match=r"'task.heldout_size' \(5\) leaves no training rows of 5"):
        make_task(_cfg(f, heldout_size=5))


def test_bad_row_stops_the_task_with_file_and_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"q": "1+1=", "sum": 2}\n{"q": "2+2="}\n')
    with pytest.raises(Exception, match=f"{f}:2: field 'sum': missing"):
        make_task(_cfg(f, heldout_size=1), log=lambda _: None)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_real_gsm8k_as_a_task():
    task = DatasetTask((str(SHARED / "gsm8k" / "test.jsonl"),), heldout_size=100)
    assert len(task.heldout()) == 100 and len(task.mix) == 1219
    s = task.train_batch(0, 1, 1)[0]
    assert s.verifier == "exact" and s.meta["id"].startswith("gsm8k-test-")


def test_smoke_train_on_a_jsonl_file(tmp_path):
    from reasonrl.config import load_config
    from reasonrl.train.rl import train

    f = _walk_rows(tmp_path / "d.jsonl", 60)
    cfg = load_config(None, ["task.name=dataset", f"task.path={f}", "task.prompt_field=q", "task.answer_field=sum",
                             "task.heldout_size=4", "train.steps=2", "train.prompts_per_step=2",
                             "rollout.num_generations=2", "rollout.max_new_tokens=12", "eval.size=2",
                             "eval.sampled=false", "eval.every=0", "train.threads=1", f"out={tmp_path / 'run'}"])
    result = train(cfg, log=lambda *_: None)       # train() restores the thread count itself
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 2 and [r["step"] for r in rows] == [0, 1, 2]
