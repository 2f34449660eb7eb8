"""Surrogates: on-policy equivalence with plain PG, clip cases, dual-clip, GSPO sequence ratio."""
import math

import torch

from reasonrl.algo.surrogates import clip, dual_clip, gspo, pg

MASK = torch.ones(1, 1)


def _one(fn, ratio: float, adv: float, **kw):
    """Loss and d loss / d logp for one token with the given ratio."""
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    old = torch.zeros(1, 1)
    loss, _ = fn(logp, old, torch.tensor([adv]), MASK, **kw)
    loss.sum().backward()
    return loss.item(), logp.grad.item()


def test_on_policy_clip_gradient_equals_pg():
    torch.manual_seed(0)
    logp = torch.randn(3, 4).log_softmax(-1).requires_grad_()
    adv = torch.tensor([1.5, -0.5, 0.2])
    mask = torch.ones(3, 4)
    clip(logp, logp.detach(), adv, mask)[0].sum().backward()
    g_clip = logp.grad.clone()
    logp.grad = None
    pg(logp, logp.detach(), adv, mask)[0].sum().backward()
    torch.testing.assert_close(g_clip, logp.grad, atol=1e-7, rtol=0)


def test_clip_cases():
    # A > 0, r = 1.5 > 1.2: loss = -min(1.5, 1.2) = -1.2, clipped -> no gradient
    loss, grad = _one(clip, 1.5, 1.0)
    assert abs(loss + 1.2) < 1e-6 and grad == 0.0
    # A > 0, r = 0.5: loss = -min(0.5, 0.8) = -0.5, unclipped -> d(-r)/dlogp = -r = -0.5
    loss, grad = _one(clip, 0.5, 1.0)
    assert abs(loss + 0.5) < 1e-6 and abs(grad + 0.5) < 1e-6
    # A < 0, r = 0.5 < 0.8: loss = -min(-0.5, -0.8) = 0.8, clipped -> no gradient
    loss, grad = _one(clip, 0.5, -1.0)
    assert abs(loss - 0.8) < 1e-6 and grad == 0.0
    # A < 0, r = 1.5: loss = -min(-1.5, -1.2) = 1.5, unclipped -> gradient r = 1.5
    loss, grad = _one(clip, 1.5, -1.0)
    assert abs(loss - 1.5) < 1e-6 and abs(grad - 1.5) < 1e-6
    # clip-higher (DAPO): r = 1.25 is inside [0.8, 1.28], so A > 0 is not clipped
    loss, grad = _one(clip, 1.25, 1.0, clip_low=0.2, clip_high=0.28)
    assert abs(loss + 1.25) < 1e-6 and abs(grad + 1.25) < 1e-6


def test_dual_clip_caps_negative_advantage():
    # A = -1, r = 5: PPO loss = -min(-5, -1.2) = 5; dual-clip caps it at c * |A| = 3, no gradient
    loss, grad = _one(dual_clip, 5.0, -1.0, dual_clip=3.0)
    assert abs(loss - 3.0) < 1e-6 and grad == 0.0
    # A = +1 is untouched by the dual clip
    assert abs(_one(dual_clip, 0.5, 1.0, dual_clip=3.0)[0] + 0.5) < 1e-6


def test_gspo_sequence_ratio():
    # log-ratios 0.1 and 0.3 -> sequence ratio exp(0.2) = 1.2214 > 1 + 4e-4: clipped at 1.0004 for A = 1
    logp = torch.tensor([[0.1, 0.3]], requires_grad=True)
    loss, _ = gspo(logp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    torch.testing.assert_close(loss, torch.tensor([[-1.0004, -1.0004]]), atol=1e-6, rtol=0)
    # in range (on-policy): every token's gradient is -A * s = -1
    logp = torch.tensor([[-0.7, -1.1]], requires_grad=True)
    gspo(logp, logp.detach(), torch.tensor([1.0]), torch.ones(1, 2))[0].sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.0, -1.0]]), atol=1e-6, rtol=0)
