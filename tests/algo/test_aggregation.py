"""Loss aggregation modes on a 2-sequence batch of lengths 5 and 1, and micro-batch additivity."""
import pytest
import torch

from reasonrl.algo.aggregation import AGGREGATIONS, StepTotals, aggregate

LOSS = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 99.0, 99.0, 99.0, 99.0]])
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
TOTALS = StepTotals(tokens=6, sequences=2, max_len=5)


@pytest.mark.parametrize("mode,expected", [
    ("token_mean", (15 + 10) / 6),               # every token weighs the same: 25 / 6 = 4.1667
    ("seq_mean_token_mean", (15 / 5 + 10 / 1) / 2),  # (3 + 10) / 2 = 6.5: the short one weighs 5x per token
    ("seq_mean_token_sum", (15 + 10) / 2),       # 12.5
    ("constant", (15 + 10) / (2 * 5)),           # Dr. GRPO: 25 / (S * max_len) = 2.5
])
def test_modes_hand_computed(mode, expected):
    assert abs(aggregate(LOSS, MASK, mode, TOTALS).item() - expected) < 1e-6


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_micro_batch_shares_add_up(mode):
    whole = aggregate(LOSS, MASK, mode, TOTALS)
    parts = aggregate(LOSS[:1], MASK[:1], mode, TOTALS) + aggregate(LOSS[1:], MASK[1:], mode, TOTALS)
    assert abs(whole.item() - parts.item()) < 1e-6



@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_one_token_one_sequence_normaliser(mode):
    # a single one-token sequence with a budget of one token: every mode divides by exactly 1
    assert aggregate(torch.tensor([[3.0, 9.0]]), torch.tensor([[1, 0]]), mode,
                     StepTotals(tokens=1, sequences=1, max_len=1)).item() == 3.0


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_empty_step_divides_by_one(mode):
    # an all-masked micro-batch in an empty step: 0, never 0 / 0
    assert aggregate(LOSS, torch.zeros_like(MASK), mode, StepTotals(tokens=0, sequences=0, max_len=0)).item() == 0.0


def test_unknown_mode_named():
    with pytest.raises(ValueError, match=r"^unknown aggregation mode 'bogus'$"):
        aggregate(LOSS, MASK, "bogus", TOTALS)
