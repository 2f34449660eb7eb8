"""The walk task: problems are well formed, seeded, and the held-out split never leaks into training."""
import random

from reasonrl.tasks.walk import WalkTask, make_problem, style, worked_response
from reasonrl.verifiers import answer_reward, format_reward


def test_problem_shape_and_answer():
    prompt, values = make_problem(random.Random(3))
    assert len(values) == 10 and all(0 <= v <= 9 for v in values) and prompt.endswith("=")
    assert eval(prompt[:-1]) == values[-1]          # the chain evaluates to the answer


def test_train_batches_are_pure_and_disjoint_from_heldout():
    task = WalkTask(heldout_size=200)
    a, b = task.train_batch(0, 5, 16), task.train_batch(0, 5, 16)
    assert a == b and a != task.train_batch(0, 6, 16) and a != task.train_batch(1, 5, 16)
    held = {s.prompt for s in task.heldout()}
    assert not held & {s.prompt for step in range(50) for s in task.train_batch(0, step, 16)}


def test_rewards_and_style():
    task = WalkTask(heldout_size=1)
    s = task.heldout()[0]
    worked = worked_response(s.meta["values"])
    assert answer_reward(worked, s).score == 1.0 and format_reward(worked, s).score == 1.0
    assert style(worked) == "worked" and style("<think></think><answer>1</answer>") == "direct"
    assert answer_reward("no tags", s).status == "unparseable"
