"""Held-out metrics per difficulty level (Sample.meta['level']): hand values from a scripted backend;
one level (the embedded default) adds no keys."""
import pytest
import torch

from reasonrl.eval.heldout import evaluate_heldout
from reasonrl.tasks.walk import WalkTask, direct_response, worked_response
from reasonrl.types import Generations


class LengthScripted:
    """Greedy: 4-term chains worked and right, 5-term chains terse and wrong, 6-term terse and right.
    Sampled: every answer terse and wrong. Lengths are characters."""

    def __init__(self, task):
        self.by_prompt = {s.prompt: s for s in task.heldout()}

    def _answer(self, s, greedy):
        v, terms = s.meta["values"], len(s.meta["values"])
        if greedy and terms == 4:
            return worked_response(v)
        return direct_response(v[-1] if greedy and terms == 6 else (v[-1] + 1) % 10)

    def generate(self, prompts, *, n, temperature, top_p, top_k, max_new_tokens, greedy=False):
        texts = [self._answer(self.by_prompt[p], greedy) for p in prompts for _ in range(n)]
        lens = torch.tensor([len(t) for t in texts])
        mask = (torch.arange(int(lens.max()))[None, :] < lens[:, None]).long()
        return Generations(prompt_ids=torch.zeros(len(texts), 1), prompt_mask=torch.ones(len(texts), 1),
                           completion_ids=torch.zeros_like(mask), completion_mask=mask,
                           truncated=torch.zeros(len(texts), dtype=torch.bool), texts=texts)


def test_per_level_hand_values():
    task = WalkTask(9, min_terms=4, max_terms=6, pad_terms=6)
    m = evaluate_heldout(LengthScripted(task), task, task.heldout(), max_new_tokens=40, batch_size=4)
    assert m["acc/heldout"] == pytest.approx(2 / 3, abs=1e-12)
    assert [m[f"acc/heldout/terms={t}"] for t in (4, 5, 6)] == [1.0, 0.0, 1.0]
    assert [m[f"worked/heldout/terms={t}"] for t in (4, 5, 6)] == [1.0, 0.0, 0.0]
    # "<think>" + "a,b,c,d" + "</think><answer>" + "d</answer>": 7 + 7 + 16 + 10 = 40 characters; terse: 33
    assert [m[f"len/heldout/terms={t}"] for t in (4, 5, 6)] == [40.0, 33.0, 33.0]
    assert [m[f"truncated/heldout/terms={t}"] for t in (4, 5, 6)] == [0.0, 0.0, 0.0]
    assert [m[f"acc/heldout_sampled/terms={t}"] for t in (4, 5, 6)] == [0.0, 0.0, 0.0]
    assert len([k for k in m if "/terms=" in k]) == 2 * 3 * 4     # greedy and sampled x 3 levels x 4 metrics


def test_one_level_adds_no_keys():
    task = WalkTask(4, min_terms=5, max_terms=5)
    m = evaluate_heldout(LengthScripted(task), task, task.heldout(), max_new_tokens=40)
    assert sorted(m) == sorted(f"{k}/heldout{s}" for k in ("acc", "len", "truncated", "worked")
                               for s in ("", "_sampled"))
