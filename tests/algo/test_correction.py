"""Masked importance sampling (algo.tis = token_mask | sequence_mask | geo_mask) against hand-computed
values: which tokens and sequences leave the loss, the weights of the rest, and their gradient."""
import math

import pytest
import torch

from reasonrl.algo.aggregation import StepTotals
from reasonrl.algo.loss import policy_loss
from reasonrl.algo.presets import choices, describe, resolve_algo
from reasonrl.algo.tis import tis_weights
from reasonrl.config import AlgoConfig, ConfigError, load_config

# two sequences, three tokens; the second sequence's last token is masked
OLD = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -3.0]])
SAMP = torch.tensor([[-1.5, -1.0, -0.5], [-0.8, -1.1, -9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
# d = old - samp: [0.5, -1.0, 0.0], [-0.2, 0.1, (masked: 6.0 ignored)]
# token ratios:   [1.648721, 0.367879, 1.0], [0.818731, 1.105171]


def test_token_mask_hand_computed():
    w = tis_weights(OLD, SAMP, MASK, level="token_mask", cap=2.0, low=0.5, high=1.5)
    # 1.648721 > 1.5 and 0.367879 < 0.5 are masked (0); the rest keep their ratio; masked position -> 1
    want = torch.tensor([[0.0, 0.0, 1.0], [0.818731, 1.105171, 1.0]])
    assert torch.allclose(w, want, atol=1e-6, rtol=0)
    # the band is closed: ratio exactly 1.0 (d = 0) with low = 1.0 is kept; the cap plays no part
    w = tis_weights(OLD, SAMP, MASK, level="token_mask", cap=0.1, low=1.0, high=1.7)
    assert torch.allclose(w, torch.tensor([[1.648721, 0.0, 1.0], [0.0, 1.105171, 1.0]]), atol=1e-6, rtol=0)


def test_sequence_mask_uses_the_product_ratio():
    # R_1 = exp(0.5 - 1.0 + 0.0) = exp(-0.5) = 0.606531 ; R_2 = exp(-0.2 + 0.1) = exp(-0.1) = 0.904837
    w = tis_weights(OLD, SAMP, MASK, level="sequence_mask", cap=2.0, low=0.7, high=3.0)
    assert torch.allclose(w, torch.tensor([[0.0, 0.0, 0.0], [0.904837, 0.904837, 1.0]]), atol=1e-6, rtol=0)
    w = tis_weights(OLD, SAMP, MASK, level="sequence_mask", cap=2.0, low=0.5, high=0.95)
    a, b = 0.606531, 0.904837
    assert torch.allclose(w, torch.tensor([[a, a, a], [b, b, 1.0]]), atol=1e-6, rtol=0)


def test_sequence_mask_long_sequence_small_drift():
    # 100 tokens, each 0.012 nats apart: R = exp(1.2) = 3.320117 > 3.0 -> masked (huggingface/trl#4772);
    # the first 90 tokens alone: R = exp(1.08) = 2.944680 -> kept with that weight
    samp = torch.full((2, 100), -2.0)
    old = samp + 0.012
    mask = torch.ones(2, 100, dtype=torch.long)
    mask[1, 90:] = 0
    w = tis_weights(old, samp, mask, level="sequence_mask", cap=2.0, low=0.0, high=3.0)
    assert torch.all(w[0] == 0.0)
    assert w[1, :90] == pytest.approx(torch.full((90,), 2.944680), rel=1e-5)
    assert torch.all(w[1, 90:] == 1.0)
    # the geometric mean exp(0.012) = 1.012072 lies in [0.99, 1.02] for both: neither is dropped
    g = tis_weights(old, samp, mask, level="geo_mask", cap=2.0, low=0.99, high=1.02)
    assert torch.all(g == 1.0)
    g = tis_weights(old, samp, mask, level="geo_mask", cap=2.0, low=0.99, high=1.01)     # 1.012072 > 1.01
    assert torch.all(g[0] == 0.0) and torch.all(g[1, :90] == 0.0) and torch.all(g[1, 90:] == 1.0)


def test_geo_mask_hand_computed():
    # G_1 = exp(-0.5 / 3) = 0.846482 ; G_2 = exp(-0.1 / 2) = 0.951229 (the masked token is not counted)
    w = tis_weights(OLD, SAMP, MASK, level="geo_mask", cap=2.0, low=0.9, high=1.1)
    assert torch.equal(w, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    w = tis_weights(OLD, SAMP, MASK, level="geo_mask", cap=2.0, low=0.84, high=0.95)   # 0.951229 > 0.95
    assert torch.equal(w, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]))
    # dividing by the padded width instead of L_2 = 2 would give exp(-0.1 / 3) = 0.967216 > 0.96
    w = tis_weights(OLD, SAMP, MASK, level="geo_mask", cap=2.0, low=0.84, high=0.96)
    assert torch.equal(w, torch.ones(2, 3))


def test_masked_tokens_contribute_nothing_to_the_gradient():
    # clip surrogate at ratio 1 (logp == old), token_mean over 5 tokens: d loss / d logp_it = -A_i * w_it / 5
    adv = torch.tensor([1.0, -2.0])
    tot = StepTotals(tokens=5, sequences=2, max_len=3)
    w = tis_weights(OLD, SAMP, MASK, level="token_mask", cap=2.0, low=0.5, high=1.5)
    logp = OLD.clone().requires_grad_(True)
    loss, _ = policy_loss(logp, OLD, None, adv, MASK, surrogate="clip", aggregation="token_mean", totals=tot,
                          is_weights=w)
    loss.backward()
    # seq 1: [0, 0, -1 * 1 / 5]; seq 2: [2 * 0.818731 / 5, 2 * 1.105171 / 5, 0 (outside the loss mask)]
    want = torch.tensor([[0.0, 0.0, -0.2], [0.327492, 0.442068, 0.0]])
    assert torch.allclose(logp.grad, want, atol=1e-6, rtol=0)
    assert logp.grad[0, 0].item() == 0.0 and logp.grad[0, 1].item() == 0.0
    # loss = -(1 * 1.0 - 2 * (0.818731 + 1.105171)) / 5 = 0.569561
    assert loss.item() == pytest.approx(0.569561, abs=1e-6)
    # a whole sequence dropped by sequence_mask gets no gradient at all, even with a huge advantage
    w = tis_weights(OLD, SAMP, MASK, level="sequence_mask", cap=2.0, low=0.7, high=3.0)
    logp = OLD.clone().requires_grad_(True)
    loss, _ = policy_loss(logp, OLD, None, torch.tensor([1e6, -2.0]), MASK, surrogate="clip",
                          aggregation="token_mean", totals=tot, is_weights=w)
    loss.backward()
    assert torch.all(logp.grad[0] == 0.0)
    assert torch.allclose(logp.grad[1], torch.tensor([2 * 0.904837 / 5] * 2 + [0.0]), atol=1e-6, rtol=0)


def test_weights_carry_no_gradient_and_band_is_checked():
    old = OLD.clone().requires_grad_(True)
    for level in ("token_mask", "sequence_mask", "geo_mask"):
        assert not tis_weights(old, SAMP, MASK, level=level, cap=2.0, low=0.5, high=5.0).requires_grad
    with pytest.raises(ValueError, match=r"^the TIS band must have 0 <= low < high, got \[2.0, 1.0\]$"):
        tis_weights(OLD, SAMP, MASK, level="token_mask", cap=2.0, low=2.0, high=1.0)


def test_config_choices_defaults_and_errors():
    assert choices()["tis"] == ("none", "token", "sequence", "token_mask", "sequence_mask", "geo_mask")
    algo = resolve_algo(AlgoConfig())
    assert (algo.tis_low, algo.tis_high) == (0.5, 5.0)
    algo = resolve_algo(AlgoConfig(tis="geo_mask", tis_low=0.99, tis_high=1.01))
    assert describe(algo).endswith(" tis=geo_mask(band [0.99,1.01])")
    assert describe(resolve_algo(AlgoConfig(tis="token", tis_cap=3.0))).endswith(" tis=token(cap 3.0)")
    with pytest.raises(ConfigError, match=r"^config keys 'algo.tis_low' and 'algo.tis_high' must satisfy "
                                          r"0 <= low < high, got \[5.0, 5.0\]$"):
        resolve_algo(AlgoConfig(tis="token_mask", tis_low=5.0))
    with pytest.raises(ConfigError, match="algo.tis_high"):
        load_config(None, ["algo.tis_high=0"])
    with pytest.raises(ConfigError, match="algo.tis_low"):
        load_config(None, ["algo.tis_low=-0.1"])
