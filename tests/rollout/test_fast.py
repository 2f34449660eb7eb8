"""The fast decode loop computes what `model.generate` (HFBackend) and the training forward compute."""
import pytest
import torch

from reasonrl.algo.logprobs import sequence_logprobs
from reasonrl.models import build_char_tokenizer, build_tiny_model
from reasonrl.rollout import BACKENDS, make_backend
from reasonrl.rollout.fast import FastBackend, _cache_kwarg, make_cache, process_logits
from reasonrl.rollout.hf import HFBackend

PROMPTS = ["1+2=", "walk 3 steps north then", "x"]     # different lengths: left padding matters


@pytest.fixture(scope="module")
def setup():
    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=4, intermediate=64, seed=3)
    torch.manual_seed(0)
    with torch.no_grad():       # sharpen the random init: greedy text varies between rows and steps
        for prm in model.parameters():
            prm.add_(torch.randn_like(prm) * 0.5)
    return model, tok


def test_registered_as_fast(setup):
    model, tok = setup
    assert BACKENDS["fast"] is FastBackend
    assert isinstance(make_backend("fast", model, tok), FastBackend)


@pytest.mark.parametrize("max_new", [1, 24])
def test_greedy_tokens_identical_to_hf(setup, max_new):
    model, tok = setup
    a = HFBackend(model, tok).generate(PROMPTS, n=2, max_new_tokens=max_new, greedy=True)
    b = FastBackend(model, tok).generate(PROMPTS, n=2, max_new_tokens=max_new, greedy=True)
    assert torch.equal(a.prompt_ids, b.prompt_ids) and torch.equal(a.prompt_mask, b.prompt_mask)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.completion_mask, b.completion_mask)
    assert torch.equal(a.truncated, b.truncated) and a.texts == b.texts


def test_greedy_identical_when_rows_finish_early_and_are_dropped(setup):
    """Declare as EOS a token that greedy decoding emits at different steps in different rows: rows
    then stop at different steps, which exercises dropping rows and compacting the cache."""
    model, tok = setup
    prompts = [f"{i}*{i + 3}=" for i in range(12)]
    free = HFBackend(model, tok)
    free.eos = [10_000]
    comp = free.generate(prompts, n=1, max_new_tokens=30, greedy=True).completion_ids
    firsts = {}
    for v in comp.unique().tolist():              # token -> set of first-occurrence steps over rows
        hit = (comp == v)
        firsts[v] = {int(r.nonzero()[0]) if r.any() else -1 for r in hit}
    stop = max(firsts, key=lambda v: len(firsts[v]))
    a_be, b_be = HFBackend(model, tok), FastBackend(model, tok, eos=[stop])
    a_be.eos = [stop]
    a = a_be.generate(prompts, n=1, max_new_tokens=30, greedy=True)
    b = b_be.generate(prompts, n=1, max_new_tokens=30, greedy=True)
    assert len(set(a.completion_mask.sum(1).tolist())) > 2            # rows stop at >2 different steps
    assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(a.completion_mask, b.completion_mask)
    assert torch.equal(a.truncated, b.truncated) and a.texts == b.texts


def test_sampler_logprobs_match_training_forward(setup):
    model, tok = setup
    torch.manual_seed(0)
    g = FastBackend(model, tok).generate(PROMPTS, n=3, temperature=0.7, max_new_tokens=20)
    ids = torch.cat([g.prompt_ids, g.completion_ids], 1)
    attn = torch.cat([g.prompt_mask, g.completion_mask], 1)
    with torch.no_grad():
        ref, _ = sequence_logprobs(model, ids, attn, g.prompt_ids.shape[1], temperature=0.7)
    m = g.completion_mask.bool()
    assert torch.allclose(g.sampler_logp[m], ref[m], atol=1e-5)
    assert (g.sampler_logp[~m] == 0).all()


def test_sampling_same_seed_same_tokens_and_matches_hf_before_any_row_finishes(setup):
    model, tok = setup
    fast = FastBackend(model, tok, eos=[])           # no row ever finishes: draws line up with HF's
    hf = HFBackend(model, tok)
    hf.eos = [10_000]                                 # an id the model cannot produce
    torch.manual_seed(5)
    a = fast.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=12)
    torch.manual_seed(5)
    b = fast.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=12)
    torch.manual_seed(5)
    c = hf.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=12)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.completion_ids, c.completion_ids)
    assert a.truncated.all() and a.completion_ids.shape == (6, 12)


def test_prefill_logits_through_cache_match_plain_forward(setup):
    """One prompt forward + 3 decode steps through the preallocated cache == a full forward (1e-5)."""
    model, tok = setup
    ids = torch.tensor([[5, 9, 11, 40, 41, 42, 43]])
    with torch.no_grad():
        full = model(input_ids=ids, use_cache=False).logits
        cache = make_cache(2, 7)
        kw = {_cache_kwarg(model): cache}
        parts = [model(input_ids=ids[:, :4], use_cache=True, **kw).logits]
        for t in range(4, 7):
            parts.append(model(input_ids=ids[:, t:t + 1], position_ids=torch.tensor([[t]]), use_cache=True,
                               **kw).logits)
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_process_logits_top_k_top_p_hand_computed():
    # logits [0, ln2, ln3, ln4]: probs = [1, 2, 3, 4] / 10
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    k2 = process_logits(logits, 1.0, top_k=2, top_p=1.0)          # keeps the two largest: 3 and 4
    assert torch.isinf(k2[0, :2]).all() and torch.isfinite(k2[0, 2:]).all()
    # top_p 0.6: ascending cumulative mass 0.1, 0.3, 0.6, 1.0; removed where <= 0.4 -> first two
    p6 = process_logits(logits, 1.0, top_k=0, top_p=0.6)
    assert torch.isinf(p6[0, :2]).all() and torch.isfinite(p6[0, 2:]).all()
    t2 = process_logits(logits, 2.0, top_k=0, top_p=1.0)          # temperature only divides
    assert torch.allclose(t2, logits / 2)


def test_smoke_top_p_top_k_sampling_runs(setup):
    model, tok = setup
    torch.manual_seed(1)
    g = FastBackend(model, tok).generate(PROMPTS, n=2, temperature=0.6, top_p=0.9, top_k=20, max_new_tokens=8)
    assert g.completion_ids.shape[0] == 6 and len(g.texts) == 6
