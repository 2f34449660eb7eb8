"""The reasoning-gym task: generators as tasks, their scorer as the answer reward. Most tests use a
fake `reasoning_gym` module (the real package is an optional extra); the smoke run uses the real one."""
import json
import random
import sys
import types

import pytest

from reasonrl.config import ConfigError, TaskConfig, load_config
from reasonrl.tasks import make_task
from reasonrl.tasks.gym import GymTask, parse_gym_args
from reasonrl.verifiers import answer_reward


class FakeGenerator:
    """'a+b=' questions; 100 distinct ones (a, b in 0..9); half credit when the answer contains the gold."""

    def __init__(self, seed, size):
        self.seed, self.size = seed, size

    def __getitem__(self, i):
        rng = random.Random(self.seed * 100003 + i)
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        return {"question": f"{a}+{b}=", "answer": str(a + b), "metadata": {"a": a, "b": b}}

    def score_answer(self, answer, entry):
        return 1.0 if answer == entry["answer"] else 0.5 if answer and entry["answer"] in answer else 0.0


@pytest.fixture
def fake_gym(monkeypatch):
    mod = types.ModuleType("reasoning_gym")

    def create_dataset(name, seed=0, size=10, **kw):
        if kw:
            raise TypeError(f"unexpected options {sorted(kw)}")
        return FakeGenerator(seed, size)
    mod.create_dataset = create_dataset
    mod.factory = types.SimpleNamespace(DATASETS={"sums": None, "products": None})
    monkeypatch.setitem(sys.modules, "reasoning_gym", mod)
    return mod


def test_batches_are_pure_and_never_heldout(fake_gym):
    task = make_task(TaskConfig(name="gym", gym="sums", heldout_size=20))
    held = {s.prompt for s in task.heldout()}
    batch = task.train_batch(0, 4, 8)
    assert batch == task.train_batch(0, 4, 8) and batch != task.train_batch(0, 5, 8)
    assert not held & {s.prompt for st in range(30) for s in task.train_batch(0, st, 8)}


def test_the_generators_scorer_is_the_answer_reward(fake_gym):
    s = GymTask("sums", heldout_size=1).heldout()[0]
    gold = s.answer
    assert answer_reward(f"<think>x</think><answer>{gold}</answer>", s).score == 1.0
    assert answer_reward(f"<answer>{gold}0</answer>", s).score == 0.5          # partial credit: the gold inside
    v = answer_reward("<answer>abc</answer>", s)
    assert (v.score, v.status) == (0.0, "wrong") and "reasoning-gym sums scored 0" in v.reason
    assert answer_reward("no tags", s).status == "unparseable"


def test_config_errors(fake_gym, monkeypatch):
    with pytest.raises(ConfigError, match="unknown reasoning-gym generator 'sum' \\(did you mean sums"):
        GymTask("sum")
    with pytest.raises(ConfigError, match="task.gym_args': reasoning-gym 'sums' rejects"):
        GymTask("sums", {"max_terms": 3})
    with pytest.raises(ConfigError, match="task.name=gym needs task.gym=NAME"):
        GymTask("")
    assert parse_gym_args(("min_terms=2", "name=x")) == {"min_terms": 2, "name": "x"} and parse_gym_args(()) == {}
    with pytest.raises(ConfigError, match="expected items like 'min_terms=2'"):
        parse_gym_args(("min_terms",))
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)        # the package is not installed
    with pytest.raises(ConfigError, match="pip install -e '.\\[gym\\]'"):
        GymTask("sums")


def test_real_reasoning_gym_generator():
    pytest.importorskip("reasoning_gym")
    task = GymTask("chain_sum", {"min_terms": 2, "max_terms": 2}, heldout_size=5)
    s = task.train_batch(0, 1, 1)[0]
    assert s.prompt.endswith("=") and answer_reward(f"<answer>{s.answer}</answer>", s).score == 1.0


def test_smoke_train_a_reasoning_gym_task(tmp_path):
    pytest.importorskip("reasoning_gym")
    from reasonrl.train.rl import train

    cfg = load_config(None, ["task.name=gym", "task.gym=chain_sum", "task.gym_args=[min_terms=2,max_terms=2]",
                             "task.heldout_size=4", "train.steps=3", "train.prompts_per_step=2",
                             "rollout.num_generations=2", "rollout.max_new_tokens=12", "eval.size=2",
                             "eval.sampled=false", "eval.every=0", "train.threads=1", f"out={tmp_path / 'run'}"])
    result = train(cfg, log=lambda *_: None)       # train() restores the thread count itself
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 3 and [r["step"] for r in rows] == [0, 1, 2, 3]
    assert all("reward/answer" in r and "acc/train" in r for r in rows[1:])
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
