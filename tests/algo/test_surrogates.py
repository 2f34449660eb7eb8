"""Surrogates: on-policy equivalence with plain PG, clip cases, dual-clip, GSPO sequence ratio."""
import math

import pytest
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


# several sequences with ragged masks (lengths 6, 4, 1, 0, 2, 6), advantages of both signs, zero
# and not +-1, and asymmetric clip bounds: every surrogate against a plain loop over tokens
LENS = [6, 4, 1, 0, 2, 6]
RAGGED = torch.tensor([[1.0 if t < n else 0.0 for t in range(6)] for n in LENS])
ADV6 = torch.tensor([1.5, -0.7, 0.4, -2.0, 0.0, -0.5])


def _inputs(spread: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(6, 6, generator=gen) * 3
    return old + spread * torch.randn(6, 6, generator=gen), old


def _loop_stats(ratio, low, high):
    """ratio: list of N lists of T floats (per token); the clip fractions and masked ratio range."""
    toks = [(ratio[i][t], ADV6[i].item()) for i in range(6) for t in range(6) if RAGGED[i, t] > 0]
    n = max(len(toks), 1)
    rs = [r for r, _ in toks]
    return {"clip/low": sum(r < 1 - low and a < 0 for r, a in toks) / n,
            "clip/high": sum(r > 1 + high and a > 0 for r, a in toks) / n,
            "ratio/mean": sum(rs) / len(rs), "ratio/max": max(rs), "ratio/min": min(rs)}


def _loop_clip(logp, old, low, high, dual=None):
    loss, ratio = [], []
    for i in range(6):
        a, row, rrow = ADV6[i].item(), [], []
        for t in range(6):
            r = math.exp(logp[i, t].item() - old[i, t].item())
            v = -min(r * a, min(max(r, 1 - low), 1 + high) * a)
            if dual is not None and a < 0:
                v = min(v, -dual * a)
            row.append(v)
            rrow.append(r)
        loss.append(row)
        ratio.append(rrow)
    return torch.tensor(loss), _loop_stats(ratio, low, high)


def _loop_gspo(logp, old, low, high):
    loss, ratio = [], []
    for i in range(6):
        a, n = ADV6[i].item(), LENS[i]
        s = math.exp(sum(logp[i, t].item() - old[i, t].item() for t in range(n)) / max(n, 1))
        v = -min(s * a, min(max(s, 1 - low), 1 + high) * a)
        loss.append([v] * 6)
        ratio.append([s] * 6)
    return torch.tensor(loss), _loop_stats(ratio, low, high)


def _check(got, want):
    loss, stats = got
    torch.testing.assert_close(loss, want[0], atol=1e-5, rtol=1e-5)
    assert stats == pytest.approx(want[1], abs=1e-5)


def test_clip_and_dual_clip_match_loop_reference():
    for seed in range(3):
        logp, old = _inputs(0.8, seed)     # ratios from ~0.1 to ~10: every clip case and the dual cap
        _check(clip(logp, old, ADV6, RAGGED, clip_low=0.1, clip_high=0.3), _loop_clip(logp, old, 0.1, 0.3))
        _check(dual_clip(logp, old, ADV6, RAGGED, clip_low=0.15, clip_high=0.35, dual_clip=1.7),
               _loop_clip(logp, old, 0.15, 0.35, dual=1.7))
        _check(dual_clip(logp, old, ADV6, RAGGED), _loop_clip(logp, old, 0.2, 0.2, dual=3.0))


def test_gspo_matches_loop_reference():
    for seed in range(3):
        logp, old = _inputs(0.3, seed)
        _check(gspo(logp, old, ADV6, RAGGED, clip_low=0.05, clip_high=0.12), _loop_gspo(logp, old, 0.05, 0.12))
        _check(gspo(logp, old, ADV6, RAGGED), _loop_gspo(logp, old, 3e-4, 4e-4))


def test_dual_clip_small_positive_and_fractional_negative_advantage():
    # A = 0.5 is never capped (-3 * 0.5 = -1.5 would otherwise win); A = -0.5, r = 5: 2.5 -> cap 1.5
    assert _one(dual_clip, 1.0, 0.5)[0] == pytest.approx(-0.5, abs=1e-6)
    loss, grad = _one(dual_clip, 5.0, -0.5)
    assert loss == pytest.approx(1.5, abs=1e-6) and grad == 0.0


def test_one_clipped_token_gives_fraction_one():
    _, stats = clip(torch.tensor([[math.log(2.0), 0.0]]), torch.zeros(1, 2), torch.tensor([1.0]),
                    torch.tensor([[1.0, 0.0]]))
    assert stats["clip/high"] == 1.0 and stats["clip/low"] == 0.0
    assert stats["ratio/mean"] == pytest.approx(2.0) and stats["ratio/min"] == pytest.approx(2.0)


def test_ratio_on_the_bound_is_not_clipped():
    # clip range [1, 1] on-policy: every ratio is exactly on a bound, which does not count as clipped
    logp = torch.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    _, stats = clip(logp, logp.clone(), torch.tensor([1.0, -1.0]), torch.ones(2, 2), clip_low=0.0, clip_high=0.0)
    assert stats["clip/low"] == 0.0 and stats["clip/high"] == 0.0


def test_all_masked_stats():
    for fn in (clip, dual_clip, gspo):
        _, stats = fn(torch.full((2, 3), -0.5), torch.full((2, 3), -1.5), torch.tensor([1.0, -1.0]),
                      torch.zeros(2, 3))
        assert stats == {"clip/low": 0.0, "clip/high": 0.0, "ratio/mean": 1.0, "ratio/max": 1.0,
                         "ratio/min": 1.0}, fn.__name__
