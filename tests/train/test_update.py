"""The policy update: micro-batching never changes the gradient, equal rewards give zero gradient,
truncated masking, EOS kept in the loss when pad == eos."""
import copy
import dataclasses

import pytest
import torch

from reasonrl.algo.aggregation import AGGREGATIONS
from reasonrl.algo.presets import PRESETS
from reasonrl.config import AlgoConfig
from reasonrl.algo.presets import resolve_algo
from reasonrl.algo.logprobs import completion_mask
from reasonrl.train.update import policy_update
from reasonrl.types import Generations, RolloutBatch


class GradRecorder:
    """Stands in for an optimizer: records the gradient instead of stepping."""

    def __init__(self, model):
        self.params = list(model.parameters())
        self.grads = None

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in self.params]


def _batch(tok, rewards, lengths, t=6, truncated_row=None):
    """Random completions of given lengths (EOS at the end) after left-padded prompts."""
    gen = torch.Generator().manual_seed(1)
    n = len(lengths)
    comp = torch.full((n, t), tok.pad_token_id)
    for i, L in enumerate(lengths):
        comp[i, :L] = torch.randint(10, 60, (L,), generator=gen)
        if i != truncated_row:
            comp[i, L - 1] = tok.eos_token_id
    cmask, trunc = completion_mask(comp, [tok.eos_token_id])
    prompt = torch.randint(10, 60, (n, 4), generator=gen)
    pmask = torch.ones(n, 4, dtype=torch.long)
    pmask[::2, 0] = 0          # some left padding
    prompt[::2, 0] = tok.pad_token_id
    g = Generations(prompt, pmask, comp, cmask, trunc, [""] * n)
    r = torch.tensor(rewards)
    from reasonrl.algo.advantages import group_zscore
    return RolloutBatch([None] * (n // 4), 4, g, r, {}, group_zscore(r.view(-1, 4)).flatten(), [""] * n)


def _grads(model, batch, algo, micro):
    m = copy.deepcopy(model)
    rec = GradRecorder(m)
    policy_update(m, copy.deepcopy(model) if algo.beta > 0 else None, rec, batch, algo,
                  max_new_tokens=6, micro_batch_size=micro, max_grad_norm=1e9, step_seed=0)
    return rec.grads


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_micro_batch_1x8_equals_8x1(tiny_lm, aggregation):
    model, tok = tiny_lm
    batch = _batch(tok, [1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 1.0, 1.0], [6, 2, 5, 1, 3, 6, 4, 2])
    algo = resolve_algo(AlgoConfig(preset="grpo", aggregation=aggregation))   # k3 KL with beta 0.04 too
    g1, g8 = _grads(model, batch, algo, 1), _grads(model, batch, algo, 8)
    for a, b in zip(g1, g8):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert any(g.abs().max() > 0 for g in g8)


def test_equal_rewards_zero_gradient(tiny_lm):
    model, tok = tiny_lm
    batch = _batch(tok, [1.0] * 8, [3, 2, 5, 1, 3, 6, 4, 2])
    algo = resolve_algo(AlgoConfig(preset="dr_grpo", skip_zero_variance=False))
    grads = _grads(model, batch, algo, 8)
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_truncated_masking_matches_dropping_the_row(tiny_lm):
    model, tok = tiny_lm
    rewards, lengths = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [6, 2, 5, 1, 3, 6, 4, 2]
    batch = _batch(tok, rewards, lengths, truncated_row=0)     # row 0 hits the budget without EOS
    assert batch.gen.truncated[0] and not batch.gen.truncated[1:].any()
    for aggregation in AGGREGATIONS:
        algo = resolve_algo(AlgoConfig(preset="dapo", aggregation=aggregation, mask_truncated=True,
                                       skip_zero_variance=False))
        masked = _grads(model, batch, algo, 3)
        # the same update with row 0's advantage zeroed and its tokens gone from the normalizer:
        ref_batch = dataclasses.replace(batch, gen=copy.copy(batch.gen))     # the batch itself is frozen
        ref_batch.gen.completion_mask = batch.gen.completion_mask.clone()
        ref_batch.gen.completion_mask[0] = 0
        ref_batch.gen.truncated = torch.zeros_like(batch.gen.truncated)
        dropped = _grads(model, ref_batch, resolve_algo(AlgoConfig(preset="dapo", aggregation=aggregation,
                                                                   skip_zero_variance=False)), 3)
        for a, b in zip(masked, dropped):
            torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-5)


def test_eos_token_in_loss_when_pad_is_eos(tiny_lm):
    model, tok = tiny_lm
    # pad == eos: completion "ab<eos><eos><eos>" -> the first EOS is a trained token, the rest are not
    eos = tok.eos_token_id
    comp = torch.tensor([[40, 41, eos, eos, eos]])
    mask, _ = completion_mask(comp, [eos])
    assert mask.tolist() == [[1, 1, 1, 0, 0]]


def test_all_presets_resolve():
    for name in PRESETS:
        a = resolve_algo(AlgoConfig(preset=name))
        assert all(getattr(a, f) is not None for f in ("advantage", "surrogate", "aggregation", "kl", "beta"))


def test_length_bucketing_matches_one_padded_batch(tiny_lm):
    """Micro-batches cut to their own longest completion give the gradient of one padded batch."""
    model, tok = tiny_lm
    batch = _batch(tok, [1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 1.0, 1.0], [6, 2, 5, 1, 3, 6, 4, 2])
    for preset in ("grpo", "dr_grpo", "dapo"):
        algo = resolve_algo(AlgoConfig(preset=preset))
        whole, bucketed = _grads(model, batch, algo, 8), _grads(model, batch, algo, 3)
        for a, b in zip(whole, bucketed):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
