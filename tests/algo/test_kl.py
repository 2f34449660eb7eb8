"""KL estimators: k3 >= 0 and 0 at equality; sample means approach the exact KL of a categorical."""
import torch

from reasonrl.algo.kl import k1, k2, k3


def test_k3_nonnegative_and_zero_at_equality():
    torch.manual_seed(0)
    a, b = torch.randn(1000), torch.randn(1000)
    assert (k3(a, b) >= 0).all() and (k2(a, b) >= 0).all()
    assert torch.equal(k3(a, a), torch.zeros(1000))
    # x = ref - logp = log 2: k3 = 2 - log 2 - 1 = 0.3068528
    assert abs(k3(torch.tensor(0.0), torch.tensor(0.6931472)).item() - 0.3068528) < 1e-6


def test_estimators_approach_exact_kl():
    p = torch.tensor([0.5, 0.3, 0.2])      # policy
    q = torch.tensor([0.2, 0.5, 0.3])      # reference
    exact = (p * (p / q).log()).sum().item()  # KL(p || q) = 0.2749... computed here
    gen = torch.Generator().manual_seed(0)
    idx = torch.multinomial(p, 400_000, replacement=True, generator=gen)
    logp, ref = p.log()[idx], q.log()[idx]
    assert abs(k1(logp, ref).mean().item() - exact) < 0.01
    assert abs(k3(logp, ref).mean().item() - exact) < 0.01
    assert k2(logp, ref).mean().item() > 0   # biased but >= 0


def test_k1_k2_hand_values():
    logp, ref = torch.tensor([-1.0, -0.2]), torch.tensor([-0.5, -1.4])   # x = ref - logp = [0.5, -1.2]
    torch.testing.assert_close(k1(logp, ref), torch.tensor([-0.5, 1.2]), atol=1e-6, rtol=0)
    torch.testing.assert_close(k2(logp, ref), torch.tensor([0.125, 0.72]), atol=1e-6, rtol=0)
