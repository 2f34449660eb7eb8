"""Advantage estimators: hand-computed values, equal-reward groups, a loop reference."""
import pytest
import torch

from reasonrl.algo.advantages import batch_zscore, compute_advantages, group_mean, group_zscore, rloo


def test_group_zscore_hand_computed():
    # mean 0.5; unbiased std = sqrt(4 * 0.25 / 3) = 0.5773503; adv = +-0.5 / 0.5773503 = +-0.8660254
    adv = group_zscore(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    torch.testing.assert_close(adv, torch.tensor([[0.8660254, -0.8660254, -0.8660254, 0.8660254]]),
                               atol=1e-6, rtol=0)


def test_equal_rewards_give_exactly_zero():
    r = torch.tensor([[0.1, 0.1, 0.1], [1.0, 1.0, 1.0], [0.3, 0.3, 0.3]])
    for name in ("group_zscore", "group_mean", "rloo", "batch_zscore"):
        assert torch.equal(compute_advantages(name, r), torch.zeros_like(r)), name


def test_seven_vs_one_group():
    r = torch.tensor([[0.35] * 7 + [0.0]])
    # mean = 2.45 / 8 = 0.30625; Dr. GRPO singleton = 0 - 0.30625
    assert abs(group_mean(r)[0, 7].item() - (-0.30625)) < 1e-6
    # RLOO singleton: 0 - mean of the other seven (0.35) = -0.35; the others: 0.35 - 2.1/7 = 0.05
    torch.testing.assert_close(rloo(r), torch.tensor([[0.05] * 7 + [-0.35]]), atol=1e-6, rtol=0)
    # z-score: sum of squares 7 * 0.04375^2 + 0.30625^2 = 0.1071875; /7 -> std 0.1237437
    # singleton = -0.30625 / 0.1237437 = -2.4748737 (finite, not thousands)
    assert abs(group_zscore(r)[0, 7].item() - (-2.4748737)) < 1e-5


def test_std_floor_bounds_near_equal_groups():
    r = torch.tensor([[1.0, 1.0, 1.0, 1.0 + 1e-6]])
    # std ~ 5e-7 < floor 1e-4: |adv| <= 0.75e-6 / 1e-4 = 7.5e-3, where 1/(std + 1e-8) would give ~0.87
    assert group_zscore(r, std_floor=1e-4).abs().max().item() < 8e-3


def test_batch_zscore_hand_computed():
    # centered [[.5, -.5], [0, 0]]; batch std (unbiased) of [.5, -.5, 0, 0] = sqrt(.5 / 3) = 0.4082483
    adv = batch_zscore(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    torch.testing.assert_close(adv, torch.tensor([[1.2247449, -1.2247449], [0.0, 0.0]]), atol=1e-6, rtol=0)


def _loop_zscore(r, floor):
    out = torch.zeros_like(r)
    for b in range(r.shape[0]):
        vals = r[b].tolist()
        if all(v == vals[0] for v in vals):
            continue
        m = sum(vals) / len(vals)
        sd = (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
        for g, v in enumerate(vals):
            out[b, g] = (v - m) / max(sd, floor)
    return out


def _loop_rloo(r):
    out = torch.zeros_like(r)
    for b in range(r.shape[0]):
        vals = r[b].tolist()
        for g, v in enumerate(vals):
            out[b, g] = v - (sum(vals) - v) / (len(vals) - 1)
    return out


def test_loop_reference_equals_vectorized():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        r = torch.randint(0, 3, (6, 5), generator=gen).double() * 0.5
        torch.testing.assert_close(group_zscore(r, 1e-4), _loop_zscore(r, 1e-4), atol=1e-9, rtol=0)
        torch.testing.assert_close(rloo(r), _loop_rloo(r), atol=1e-9, rtol=0)


def test_groups_of_one_and_two():
    one = torch.tensor([[0.3], [1.0]])
    assert torch.equal(batch_zscore(one[:1]), torch.zeros(1, 1))     # a batch of one sequence: no std at all
    for name in ("group_zscore", "group_mean", "rloo", "batch_zscore"):
        assert torch.equal(compute_advantages(name, one), torch.zeros_like(one)), name
    two = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    # z-score: mean 0.5, unbiased std of two points |a - b| / sqrt(2) -> +-1/sqrt(2)
    h = 2 ** -0.5
    torch.testing.assert_close(group_zscore(two), torch.tensor([[h, -h], [-h, h]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(group_mean(two), torch.tensor([[0.5, -0.5], [-0.25, 0.25]]), atol=1e-6, rtol=0)
    # leave-one-out with G = 2: r_i - r_j
    torch.testing.assert_close(rloo(two), torch.tensor([[1.0, -1.0], [-0.5, 0.5]]), atol=1e-6, rtol=0)
    # batch z-score of [[1, 0]]: centered [.5, -.5], unbiased std sqrt(.5) -> +-1/sqrt(2)
    torch.testing.assert_close(batch_zscore(two[:1]), torch.tensor([[h, -h]]), atol=1e-6, rtol=0)


def test_mixed_batch_of_equal_and_unequal_groups():
    # 0.9 * 3 / 3 != 0.9 in float32, so an equal group only comes out exactly 0 by being detected as equal
    r = torch.tensor([[0.9, 0.9, 0.9], [1.0, 0.0, 0.0], [0.7, 0.7, 0.7]])
    for name in ("group_zscore", "group_mean", "rloo", "batch_zscore"):
        adv = compute_advantages(name, r)
        assert torch.equal(adv[0], torch.zeros(3)) and torch.equal(adv[2], torch.zeros(3)), name
        assert (adv[1] != 0).all(), name
    # rloo of the unequal group: 1 - 0 = 1, 0 - 0.5 = -0.5 (twice)
    torch.testing.assert_close(rloo(r)[1], torch.tensor([1.0, -0.5, -0.5]), atol=1e-6, rtol=0)


def test_dispatch_passes_the_std_floor_and_defaults_to_1e_4():
    r = torch.tensor([[0.0, 0.0, 0.0, 0.03]])     # std 0.015
    # floor 0.1 > std: (0.03 - 0.0075) / 0.1 = 0.225 ; default floor 1e-4 < std: 0.0225 / 0.015 = 1.5
    assert compute_advantages("group_zscore", r, 0.1)[0, 3].item() == pytest.approx(0.225, abs=1e-6)
    assert compute_advantages("group_zscore", r)[0, 3].item() == pytest.approx(1.5, abs=1e-5)
    assert compute_advantages("batch_zscore", r, 0.1)[0, 3].item() == pytest.approx(0.225, abs=1e-6)
