"""Walk difficulty: chain-length ranges, padding to a fixed width, levels on samples, the task config
and its errors; the defaults draw exactly the embedded default's problems."""
import random

import pytest

from reasonrl.config import ConfigError, load_config
from reasonrl.tasks import make_task
from reasonrl.tasks.curriculum import Curriculum
from reasonrl.tasks.walk import WalkTask, make_problem


def test_exact_problems_for_a_fixed_seed():
    # the default (10 terms, no padding) is the problem the embedded default always drew
    assert make_problem(random.Random(3)) == ("3+6-1-6+3+4-2+2-8+8=", [3, 9, 8, 2, 5, 9, 7, 9, 1, 9])
    # the same seed, 4 terms padded to the width of a 10-term chain: 7 characters + 12 '_' = 19
    assert make_problem(random.Random(3), 4, 10) == ("3+6-1-6____________=", [3, 9, 8, 2])
    assert make_problem(random.Random(3), 10, 10) == make_problem(random.Random(3))   # full width: no '_'


def test_heldout_cycles_through_lengths_with_one_width():
    task = WalkTask(6, min_terms=4, max_terms=6, pad_terms=6)
    assert [(s.prompt, s.answer, s.meta["level"]) for s in task.heldout()] == [
        ("6-6+4+1____=", "5", "terms=4"), ("3+1+5-3-4__=", "2", "terms=5"), ("5-4+5-2+4-6=", "2", "terms=6"),
        ("9-1-6+3____=", "5", "terms=4"), ("1+7-2+3-1__=", "8", "terms=5"), ("2-0-1+2+2-0=", "5", "terms=6")]
    for s in task.heldout():
        assert eval(s.prompt.rstrip("=").rstrip("_")) == int(s.answer) == s.meta["values"][-1]


def test_training_lengths_stay_in_range_and_cover_it():
    task = WalkTask(50, min_terms=3, max_terms=7, pad_terms=9)
    batch = [s for step in range(20) for s in task.train_batch(0, step, 16)]
    assert {len(s.meta["values"]) for s in batch} == {3, 4, 5, 6, 7}
    assert {len(s.prompt) for s in batch} == {2 * 9 - 1 + 1}                 # one width: 17 characters + '='
    assert not {s.prompt for s in batch} & {s.prompt for s in task.heldout()}
    unpadded = WalkTask(50, min_terms=3, max_terms=7)
    assert {len(s.prompt) for s in unpadded.train_batch(0, 1, 64)} == {6, 8, 10, 12, 14}   # 2 * terms


def test_task_config_builds_the_same_task_and_defaults_are_unchanged():
    cfg = load_config(None, ["task.min_terms=4", "task.max_terms=6", "task.pad_terms=6", "task.heldout_size=6"])
    task = make_task(cfg.task)
    assert task.heldout() == WalkTask(6, min_terms=4, max_terms=6, pad_terms=6).heldout()
    default = make_task(load_config(None, []).task)
    assert (default.min_terms, default.max_terms, default.pad_terms) == (10, 10, 0)
    assert default.begin_step(1) == {} and default.heldout()[0].prompt == WalkTask().heldout()[0].prompt


@pytest.mark.parametrize("overrides,message", [
    (["task.min_terms=1"], "config key 'task.min_terms' must be >= 2, got 1"),
    (["task.min_terms=6", "task.max_terms=5"], "config key 'task.max_terms' must be >= task.min_terms (6), got 5"),
    (["task.pad_terms=8"], "config key 'task.pad_terms' must be 0 (no padding) or >= task.max_terms (10), got 8"),
    (["task.curriculum=ladder"], "config key 'task.curriculum': unknown curriculum 'ladder'"),
    (["task.min_terms=4", "task.curriculum=steps", "task.curriculum_steps=[5]"],
     "config key 'task.curriculum_steps': curriculum=steps needs one step per level after the first (6), got 1"),
    (["task.curriculum=adaptive"], "config key 'task.curriculum': curriculum=adaptive needs more than one level"),
    (["task.curriculum_accuracy=1.5"], "config key 'task.curriculum_accuracy' must be in [0, 1], got 1.5"),
    (["task.curriculum_window=0"], "config key 'task.curriculum_window' must be >= 1, got 0"),
])
def test_bad_difficulty_is_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        make_task(load_config(None, overrides).task)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_length_range_mostly_held_out_fails_instead_of_looping():
    task = WalkTask(4000, min_terms=2, max_terms=3, curriculum=Curriculum("steps", 2, (10,)))
    task.begin_step(1)            # only 2-term chains: 110 distinct prompts, all among 2000 held-out draws
    with pytest.raises(ConfigError, match="task.min_terms"):
        task.train_batch(0, 1, 200)
