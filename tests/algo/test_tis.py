"""Truncated importance sampling weights against hand-computed values, and its wiring into the loss."""
import math

import pytest
import torch

from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.loss import policy_loss
from reasonrl.algo.presets import resolve_algo
from reasonrl.algo.tis import tis_weights
from reasonrl.config import AlgoConfig, ConfigError

# two sequences, three tokens; the second sequence's last token is masked
OLD = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -3.0]])
SAMP = torch.tensor([[-1.5, -1.0, -0.5], [-0.8, -1.1, -9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_token_level_hand_computed():
    w = tis_weights(OLD, SAMP, MASK, level="token", cap=1.5)
    # diffs old - samp: [0.5, -1.0, 0.0], [-0.2, 0.1, (masked)]
    # exp: 1.6487 -> capped 1.5, 0.36788, 1.0 ; 0.81873, 1.10517, masked -> 1
    want = torch.tensor([[1.5, math.exp(-1.0), 1.0], [math.exp(-0.2), math.exp(0.1), 1.0]])
    assert torch.allclose(w, want, atol=1e-6)


def test_sequence_level_hand_computed():
    w = tis_weights(OLD, SAMP, MASK, level="sequence", cap=2.0)
    # seq 1: 0.5 - 1.0 + 0.0 = -0.5 -> exp = 0.60653 on every token
    # seq 2: -0.2 + 0.1 = -0.1 (the masked -3 - -9 = 6 is ignored) -> 0.90484; masked token -> 1
    a, b = math.exp(-0.5), math.exp(-0.1)
    assert torch.allclose(w, torch.tensor([[a, a, a], [b, b, 1.0]]), atol=1e-6)
    capped = tis_weights(OLD, SAMP - 1.0, MASK, level="sequence", cap=2.0)
    # seq 1: -0.5 + 3 * 1 = 2.5 -> exp 12.18 -> cap 2 ; seq 2: -0.1 + 2 = 1.9 -> 6.686 -> cap 2
    assert torch.allclose(capped, torch.tensor([[2.0, 2.0, 2.0], [2.0, 2.0, 1.0]]), atol=1e-6)


def test_none_and_no_gradient():
    assert tis_weights(OLD, SAMP, MASK, level="none", cap=2.0) is None
    old = OLD.clone().requires_grad_(True)
    assert not tis_weights(old, SAMP, MASK, level="token", cap=2.0).requires_grad
    with pytest.raises(ValueError):
        tis_weights(OLD, SAMP, MASK, level="bogus", cap=2.0)


def test_loss_weights_the_surrogate_only():
    # clip surrogate, logp == old (ratio 1): per-token loss -A; token_mean over 5 tokens; beta = 0
    adv = torch.tensor([1.0, -2.0])
    w = tis_weights(OLD, SAMP, MASK, level="token", cap=1.5)
    tot = StepTotals(tokens=5, sequences=2, max_len=3)
    loss, _ = policy_loss(OLD, OLD, None, adv, MASK, surrogate="clip", aggregation="token_mean", totals=tot,
                          is_weights=w)
    # -(1 * (1.5 + e^-1 + 1) + (-2) * (e^-0.2 + e^0.1)) / 5
    want = -(1.5 + math.exp(-1) + 1.0 - 2 * (math.exp(-0.2) + math.exp(0.1))) / 5
    assert loss.item() == pytest.approx(want, abs=1e-6)


def test_config_default_off_and_checked():
    algo = resolve_algo(AlgoConfig())
    assert algo.tis == "none" and algo.tis_cap == 2.0
    assert resolve_algo(AlgoConfig(tis="sequence", tis_cap=5.0)).tis == "sequence"
    with pytest.raises(ConfigError, match="algo.tis"):
        resolve_algo(AlgoConfig(tis="tokens"))
    with pytest.raises(ConfigError, match="algo.tis_cap"):
        resolve_algo(AlgoConfig(tis="token", tis_cap=0.0))


def test_cap_bounds_and_messages():
    with pytest.raises(ValueError, match=r"^the TIS cap must be > 0$"):
        tis_weights(OLD, SAMP, MASK, level="token", cap=0.0)
    # a cap below 1 is legal: it truncates every weight above it
    w = tis_weights(OLD, SAMP, MASK, level="token", cap=0.5)
    assert torch.allclose(w, torch.tensor([[0.5, math.exp(-1.0), 0.5], [0.5, 0.5, 1.0]]), atol=1e-6)
    with pytest.raises(ValueError, match=r"^unknown TIS level 'bogus' \(choose from none, token, sequence, "
                                         r"token_mask, sequence_mask, geo_mask\)$"):
        tis_weights(OLD, SAMP, MASK, level="bogus", cap=2.0)


def test_bf16_logprobs_give_bf16_weights():
    w = tis_weights(OLD.bfloat16(), SAMP.bfloat16(), MASK, level="sequence", cap=2.0)
    assert w.dtype == torch.bfloat16
    a, b = math.exp(-0.5), math.exp(-0.1)
    assert torch.allclose(w.float(), torch.tensor([[a, a, a], [b, b, 1.0]]), atol=1e-2)
