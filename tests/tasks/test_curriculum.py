"""Curricula: open levels by step (steps), the adaptive rule on a hand-worked accuracy sequence, the
walk task drawing only open lengths, and a resumed run replaying its logged accuracies."""
import json

import pytest

from reasonrl.config import ConfigError, load_config
from reasonrl.tasks import make_task
from reasonrl.tasks.curriculum import Curriculum, adaptive_tops, adaptive_update, replay, scheduled_top


def test_schedule_levels_by_step():
    # levels 0, 1, 2 (e.g. 4, 5, 6 terms); level 1 opens at step 3, level 2 at step 5
    assert [scheduled_top(s, (3, 5)) for s in range(1, 8)] == [0, 0, 1, 1, 2, 2, 2]
    assert [scheduled_top(s, (1, 1)) for s in (1, 2)] == [2, 2]                # everything open from step 1


def test_adaptive_rule_hand_computed():
    # 3 levels, threshold 0.75, window 2; values are exact in binary, so the means are exact:
    # step 1 acc .5   -> 1 acc at level 0: too few            -> step 2 at level 0
    # step 2 acc .75  -> mean(.5, .75) = .625 < .75           -> step 3 at level 0
    # step 3 acc .75  -> mean(.75, .75) = .75 >= .75: open 1  -> step 4 at level 1 (count restarts)
    # step 4 acc 1.0  -> 1 acc at level 1: too few            -> step 5 at level 1
    # step 5 acc .25  -> mean(1, .25) = .625                  -> step 6 at level 1
    # step 6 acc 1.0  -> mean(.25, 1) = .625                  -> step 7 at level 1
    # step 7 acc 1.0  -> mean(1, 1) = 1: open 2               -> step 8 at level 2
    # step 8, 9 acc 1 -> already at the top level             -> stays 2
    accs = [0.5, 0.75, 0.75, 1.0, 0.25, 1.0, 1.0, 1.0, 1.0]
    assert adaptive_tops(accs, 3, 0.75, 2) == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert adaptive_update(0, (0.5,), 0.75, 3, 0.75, 2) == (0, (0.5, 0.75))
    assert adaptive_update(1, (0.25, 1.0), 1.0, 3, 0.75, 2) == (2, ())
    assert adaptive_tops([1.0] * 4, 3, 0.75, 1) == [0, 1, 2, 2, 2]             # window 1: one good step opens


def test_walk_draws_only_open_lengths_and_logs_them():
    cfg = load_config(None, ["task.min_terms=4", "task.max_terms=6", "task.curriculum=steps",
                             "task.curriculum_steps=[3,5]", "task.heldout_size=30"])
    task = make_task(cfg.task)
    seen = {}
    for step in range(1, 7):
        m = task.begin_step(step)
        seen[step] = (m["curriculum/max_terms"], {len(s.meta["values"]) for s in task.train_batch(0, step, 64)})
    assert seen == {1: (4, {4}), 2: (4, {4}), 3: (5, {4, 5}), 4: (5, {4, 5}), 5: (6, {4, 5, 6}), 6: (6, {4, 5, 6})}
    assert {s.meta["level"] for s in task.heldout()} == {"terms=4", "terms=5", "terms=6"}   # held-out: every length


def test_adaptive_walk_follows_acc_train_and_replays_on_resume(tmp_path):
    cfg = load_config(None, ["task.min_terms=4", "task.max_terms=6", "task.curriculum=adaptive",
                             "task.curriculum_accuracy=0.75", "task.curriculum_window=2"])
    accs = [0.5, 0.75, 0.75, 1.0, 0.25, 1.0, 1.0]
    live, tops = make_task(cfg.task), []
    for step, acc in enumerate(accs, 1):
        tops.append(live.begin_step(step)["curriculum/max_terms"])
        live.end_step(step, {"acc/train": acc})
    assert tops == [4, 4, 4, 5, 5, 5, 5] and live.begin_step(8) == {"curriculum/max_terms": 6}
    # resuming at step 5 from the run's metrics (rows after step 5 were never kept): the same tops follow
    rows = [{"step": 0, "acc/heldout": 0.4}] + [{"step": s, "acc/train": a} for s, a in enumerate(accs, 1)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    resumed = make_task(cfg.task)
    replay(resumed, tmp_path / "metrics.jsonl", 5)
    assert [resumed.begin_step(6)["curriculum/max_terms"]] == [5]
    resumed.end_step(6, {"acc/train": 1.0})
    resumed.end_step(7, {"acc/train": 1.0})
    assert resumed.begin_step(8) == {"curriculum/max_terms": 6}


def test_adaptive_needs_the_accuracy_signal():
    cur = Curriculum("adaptive", 3)
    with pytest.raises(ConfigError, match="reward.functions"):
        cur.end(1, {"reward/mean": 1.0})
