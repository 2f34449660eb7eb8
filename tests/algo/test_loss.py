"""policy_loss: the KL term's value and sign, the clip arguments reaching the surrogate, the stats, and
an all-masked micro-batch."""
import math

import pytest
import torch

from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.loss import policy_loss

# two sequences of two tokens, the second sequence's last token masked; logp == old (ratio 1)
LOGP = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]])
REF = torch.tensor([[-1.5, -1.0], [-0.5, -9.0]])     # x = ref - logp = [[-0.5, 1], [0, (-6, masked)]]
MASK = torch.tensor([[1, 1], [1, 0]])
ADV = torch.tensor([1.0, -2.0])                      # clip at ratio 1: per-token loss -A = [[-1, -1], [2, 2]]
TOT3 = StepTotals(tokens=3, sequences=2, max_len=2)
# KL per unmasked token, by hand from x = [-0.5, 1, 0]
KL = {"k1": [0.5, -1.0, 0.0],
      "k2": [0.125, 0.5, 0.0],
      "k3": [math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 2, 0.0]}


def _loss(**kw):
    args = dict(surrogate="clip", aggregation="token_mean", totals=TOT3)
    return policy_loss(LOGP, LOGP, REF, ADV, MASK, **(args | kw))


@pytest.mark.parametrize("kl", ["k1", "k2", "k3"])
def test_kl_term_added_with_its_sign(kl):
    # token_mean: (sum of -A over the 3 tokens = -1 - 1 + 2 = 0) + beta * sum(KL), over 3 tokens
    loss, stats = _loss(kl=kl, beta=0.5)
    assert loss.item() == pytest.approx(0.5 * sum(KL[kl]) / 3, abs=1e-6)
    assert stats["kl_sum"] == pytest.approx(sum(KL[kl]), abs=1e-6)
    assert stats["tokens"] == 3.0


def test_kl_off_when_beta_zero_or_kl_none():
    for kw in (dict(kl="k3", beta=0.0), dict(kl="none", beta=0.5), dict(beta=0.5), dict(kl="k3")):
        loss, stats = _loss(**kw)
        assert loss.item() == pytest.approx(0.0, abs=1e-7) and stats["kl_sum"] == 0.0, kw


def test_kl_needs_reference_logprobs():
    with pytest.raises(ValueError, match=r"^beta > 0 needs reference logprobs$"):
        policy_loss(LOGP, LOGP, None, ADV, MASK, surrogate="clip", aggregation="token_mean", totals=TOT3,
                    kl="k3", beta=0.1)


def test_is_weights_scale_the_surrogate_not_the_kl():
    w = torch.tensor([[2.0, 3.0], [0.5, 7.0]])
    loss, _ = _loss(kl="k2", beta=0.5, is_weights=w)
    # surrogate -A * w on the 3 tokens: -2 - 3 + 1 = -4; KL unweighted: 0.5 * 0.625
    assert loss.item() == pytest.approx((-4.0 + 0.5 * 0.625) / 3, abs=1e-6)


# three one-token sequences: (ratio, A) = (0.5, -1), (1.5, +1), (4.0, -1)
R = torch.tensor([[0.5], [1.5], [4.0]])
A3 = torch.tensor([-1.0, 1.0, -1.0])
ONES = torch.ones(3, 1)
TOT_SEQ = StepTotals(tokens=3, sequences=3, max_len=1)


def _dual(**kw):
    return policy_loss(R.log(), torch.zeros(3, 1), None, A3, ONES, surrogate="dual_clip",
                       aggregation="seq_mean_token_sum", totals=TOT_SEQ, **kw)


def test_clip_arguments_reach_the_surrogate():
    # low 0.1: 0.5 -> 0.9, loss 0.9; high 0.3: 1.5 -> 1.3, loss -1.3; dual 2: PPO loss 4 capped at 2
    loss, stats = _dual(clip_low=0.1, clip_high=0.3, dual_clip=2.0)
    assert loss.item() == pytest.approx((0.9 - 1.3 + 2.0) / 3, abs=1e-6)
    assert stats["clip/low"] == pytest.approx(1 / 3) and stats["clip/high"] == pytest.approx(1 / 3)
    assert stats["ratio/max"] == pytest.approx(4.0) and stats["ratio/min"] == pytest.approx(0.5)


def test_clip_defaults():
    # defaults 0.2 / 0.2 / 3: 0.8 - 1.2 + 3
    loss, _ = _dual()
    assert loss.item() == pytest.approx((0.8 - 1.2 + 3.0) / 3, abs=1e-6)


def test_all_masked_micro_batch():
    zeros = torch.zeros_like(MASK)
    for surrogate in ("pg", "clip", "dual_clip", "gspo"):
        loss, stats = policy_loss(LOGP, LOGP - 0.3, REF, ADV, zeros, surrogate=surrogate,
                                  aggregation="token_mean", totals=TOT3, kl="k3", beta=0.1)
        assert loss.item() == 0.0 and stats["tokens"] == 0.0 and stats["kl_sum"] == 0.0, surrogate
