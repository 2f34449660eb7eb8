"""One owner per value in the RL step: the rollouts log shows the batch that was trained on (DAPO
included), a new advantage estimator is one function plus one registry line, the sampling
temperature travels on the generations."""
import dataclasses
import json

import pytest
import torch

from reasonrl.algo.advantages import ADVANTAGES, group_zscore
from reasonrl.config import ConfigError, load_config
from reasonrl.models import load_model
from reasonrl.rollout import make_backend
from reasonrl.train import rl

G = 4
SMALL = ["train.prompts_per_step=4", f"rollout.num_generations={G}", "eval.size=8", "eval.every=0",
         "eval.sampled=false", "rollout.max_new_tokens=30", "train.log_rollouts=16", "train.threads=1"]


def _train(out, *extra):
    rl.train(load_config(None, SMALL + [f"out={out}"] + list(extra)), log=lambda *_: None)
    return [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]


def _groups(rows):
    assert rows and len(rows) % G == 0
    return [rows[i:i + G] for i in range(0, len(rows), G)]


def test_dapo_rollouts_log_shows_the_advantages_trained_on(tmp_path):
    rows = _train(tmp_path / "dapo", "algo.preset=dapo", "train.steps=1")
    for group in _groups(rows):
        assert len({r["prompt"] for r in group}) == 1
        rewards = torch.tensor([[r["reward"] for r in group]])
        expected = group_zscore(rewards).flatten()
        logged = torch.tensor([r["advantage"] for r in group])
        torch.testing.assert_close(logged, expected, atol=2e-3, rtol=0)
        # dynamic sampling keeps mixed groups only: their advantages are never all zero
        assert logged.abs().max() > 0.1


def test_a_new_advantage_estimator_is_one_function_and_one_registry_line(tmp_path, monkeypatch):
    def sign(rewards, std_floor=1e-4):
        """+1 above the group mean, -1 below, 0 on it. (B, G) -> (B, G)."""
        return torch.sign(rewards - rewards.mean(dim=1, keepdim=True))

    with pytest.raises(ConfigError, match="config key 'algo.advantage': unknown choice 'sign'"):
        load_config(None, ["algo.advantage=sign"])
    monkeypatch.setitem(ADVANTAGES, "sign", sign)
    rows = _train(tmp_path / "sign", "algo.advantage=sign", "train.steps=2")
    assert {r["step"] for r in rows} == {1, 2}
    for group in _groups(rows):
        rewards = torch.tensor([r["reward"] for r in group])
        assert [r["advantage"] for r in group] == torch.sign(rewards - rewards.mean()).tolist()
    metrics = [json.loads(x) for x in (tmp_path / "sign" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2] and metrics[-1]["update/sequences"] >= 0


def test_generations_carry_the_temperature_they_were_sampled_at():
    model, tok = load_model("embedded", device="cpu")
    backend = make_backend("hf", model, tok)
    torch.manual_seed(0)
    gen = backend.generate(["<think>"], n=2, temperature=0.7, top_p=1.0, top_k=0, max_new_tokens=3)
    assert gen.temperature == 0.7
    from reasonrl.rollout import cat_generations, select_rows
    assert select_rows(gen, torch.tensor([1])).temperature == 0.7
    assert cat_generations([gen, gen], tok.pad_token_id).temperature == 0.7


def test_the_training_batch_is_immutable():
    from reasonrl.types import Generations, RolloutBatch
    gen = Generations(torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1), torch.zeros(2, 1, dtype=torch.long),
                      torch.ones(2, 1), torch.zeros(2, dtype=torch.bool), ["", ""])
    batch = RolloutBatch([None], 2, gen, torch.tensor([0.0, 1.0]), {}, torch.tensor([-1.0, 1.0]), ["", ""])
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.advantages = torch.zeros(2)
