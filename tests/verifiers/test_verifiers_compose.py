"""The reward API contract: context object, None = not applicable, batched/async/legacy functions,
'module:function' loading, errors as verdicts, raw components beside the total."""
import math

import pytest
import torch

import _vrewards
from reasonrl.config import ConfigError
from reasonrl.types import Sample
from reasonrl.verifiers.compose import RewardFn, status_metrics

SAMPLES = [Sample("p0", "3", meta={"difficulty": "hard", "source": "x"}), Sample("p1", "4", meta={})]
TEXTS = ["<think>a</think><answer>3</answer>", "<think>abc</think><answer>5</answer>"]


def test_context_carries_everything_and_none_excludes_only_that_sample():
    _vrewards.SEEN.clear()
    fn = RewardFn(("answer", "_vrewards:difficulty_bonus"), (1.0, 2.0))
    total, comps, statuses = fn(TEXTS, SAMPLES, step=7, completion_ids=[[5, 6], [7]], truncated=torch.tensor([False, True]))
    c0, c1 = _vrewards.SEEN
    assert (c0.prompt, c0.step, c0.completion_ids, c0.truncated, c0.answer) == ("p0", 7, (5, 6), False, "3")
    assert c0.row == {"difficulty": "hard", "source": "x", "prompt": "p0", "answer": "3"}   # every column
    assert (c1.truncated, c1.index) == (True, 1)
    # sample 0: answer 1 + 2 * 0.5 = 2.0; sample 1: answer 0 (wrong) + nothing (n/a) = 0.0
    assert total.tolist() == [2.0, 0.0]
    assert comps["difficulty_bonus"][0].item() == 0.5 and math.isnan(comps["difficulty_bonus"][1].item())
    assert statuses["difficulty_bonus"] == ["correct", "not_applicable"]
    assert statuses["answer"] == ["correct", "wrong"]


def test_batched_async_and_legacy_conventions():
    fn = RewardFn(("_vrewards:length_rank", "_vrewards:async_truncation", "_vrewards:legacy"), (1.0, 1.0, 1.0))
    total, comps, _ = fn(TEXTS, SAMPLES, truncated=[True, False])
    assert comps["length_rank"].tolist() == [1.0, 0.0]          # TEXTS[0] is shorter
    assert comps["async_truncation"].tolist() == [0.0, 1.0]
    assert comps["legacy"].tolist() == [1.0, 0.0]               # '3' in text 0; '4' not in text 1
    assert total.tolist() == [2.0, 1.0]


def test_a_buggy_reward_gives_error_verdicts_not_a_crash():
    fn = RewardFn(("_vrewards:buggy",), (1.0,))
    total, comps, statuses = fn(TEXTS + ["x"], SAMPLES + [SAMPLES[0]])
    assert statuses["buggy"] == ["correct", "error", "error"]
    assert total.tolist() == [1.0, 0.0, 0.0]
    assert "RuntimeError: boom" in fn.last_verdicts["buggy"][1].reason
    assert "not a number" in fn.last_verdicts["buggy"][2].reason


def test_last_verdicts_keep_reason_and_extracted_answer():
    fn = RewardFn(("answer",), (1.0,))
    fn(TEXTS, SAMPLES)
    v = fn.last_verdicts["answer"][1]
    assert (v.answer, v.status) == ("5", "wrong") and "'5' vs gold '4'" in v.reason


def test_names_and_config_errors():
    assert RewardFn(("format", "_vrewards:legacy", "_vrewards:legacy"), (1, 1, 1)).names == ("format", "legacy", "legacy#2")
    with pytest.raises(ConfigError, match="unknown reward 'nope'"):
        RewardFn(("nope",), (1.0,))
    with pytest.raises(ConfigError, match="cannot import 'no_such_mod:f'"):
        RewardFn(("no_such_mod:f",), (1.0,))
    with pytest.raises(ConfigError, match="is not callable"):
        RewardFn(("_vrewards:not_callable",), (1.0,))
    with pytest.raises(ValueError, match="2 reward functions but 1 weights"):
        RewardFn(("answer", "format"), (1.0,))


def test_status_metrics():
    m = status_metrics({"answer": ["correct", "timeout", "unparseable", "unparseable"]})
    assert m == {"verify/answer_unparseable": 0.5, "verify/answer_timeout": 0.25, "verify/answer_error": 0.0,
                 "verify/answer_not_applicable": 0.0}


def test_smoke_default_walk_rewards_unchanged():
    """The embedded default's rewards, (answer 1.0, format 0.1), on walk completions."""
    fn = RewardFn(("answer", "format"), (1.0, 0.1))
    s = Sample("5-2+0=", "3")
    total, _, statuses = fn(["<think>5,3,3</think><answer>3</answer>", "<think></think><answer>4</answer>", "3"], [s] * 3)
    assert torch.allclose(total, torch.tensor([1.1, 0.1, 0.0]))
    assert statuses["answer"] == ["correct", "wrong", "unparseable"]
