"""Per-row sampling by inverse CDF, and incremental detokenizing."""
import math

import torch

from reasonrl.serve.sampling import IncrementalDecoder, filtered_probs, sample_next

# One row with probabilities (0.2, 0.5, 0.3) over tokens (0, 1, 2): sorted descending they are
# token 1: 0.5, token 2: 0.3, token 0: 0.2, cumulative 0.5, 0.8, 1.0.
LOGITS = torch.tensor([[math.log(0.2), math.log(0.5), math.log(0.3)]])


def _one(u, temperature=1.0, top_p=1.0, top_k=0):
    return sample_next(LOGITS, torch.tensor([temperature]), torch.tensor([top_p]), torch.tensor([top_k]),
                       torch.tensor([u])).item()


def test_sample_next_inverse_cdf_hand_values():
    assert _one(0.10) == 1            # 0.10 < 0.5
    assert _one(0.60) == 2            # 0.5 <= 0.60 < 0.8
    assert _one(0.95) == 0            # 0.8 <= 0.95
    assert _one(0.95, temperature=0.0) == 1   # greedy ignores the uniform


def test_sample_next_top_k_and_top_p_hand_values():
    # top_k=2 keeps tokens 1, 2 renormalised: 0.5/0.8 = 0.625, cumulative 0.625, 1.0
    assert _one(0.60, top_k=2) == 1
    assert _one(0.70, top_k=2) == 2
    # top_p=0.5: mass before token 1 is 0 (< 0.5, kept), before token 2 is 0.5 (not < 0.5, dropped)
    assert _one(0.99, top_p=0.5) == 1
    # top_p=0.6: token 2 has 0.5 before it (< 0.6, kept); token 0 has 0.8 (dropped)
    assert _one(0.99, top_p=0.6) == 2


def test_filtered_probs_rows_have_their_own_parameters():
    logits = LOGITS.repeat(2, 1)
    probs, order = filtered_probs(logits, torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.6]), torch.tensor([0, 0]))
    assert order[0].tolist() == [1, 2, 0]
    torch.testing.assert_close(probs[0], torch.tensor([0.5, 0.3, 0.2]), rtol=0, atol=1e-6)
    torch.testing.assert_close(probs[1], torch.tensor([0.625, 0.375, 0.0]), rtol=0, atol=1e-6)  # 0.5/0.8, 0.3/0.8


def test_sample_next_temperature_flattens():
    # temperature 2 on (0.2, 0.5, 0.3): p ~ sqrt(p) -> sqrt(.5)=.7071, sqrt(.3)=.5477, sqrt(.2)=.4472,
    # sum 1.7020, so token 1 has 0.4155 < 0.45: u=0.45 now falls on token 2 (at temperature 1 it was token 1)
    assert _one(0.45) == 1
    assert _one(0.45, temperature=2.0) == 2


def test_sample_next_frequencies_match_the_distribution():
    g = torch.Generator().manual_seed(0)
    u = torch.rand(20000, generator=g)
    rows = LOGITS.repeat(20000, 1)
    ones = torch.ones(20000)
    toks = sample_next(rows, ones, ones, torch.zeros(20000, dtype=torch.long), u)
    freq = torch.bincount(toks, minlength=3).float() / 20000
    torch.testing.assert_close(freq, torch.tensor([0.2, 0.5, 0.3]), rtol=0, atol=0.015)


def _byte_tokenizer():
    """A byte-level tokenizer (one token per UTF-8 byte), where 'é' is two tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(sorted(alphabet))}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core)


def test_incremental_decoder_holds_a_split_character():
    tok = _byte_tokenizer()
    ids = tok("aé b", add_special_tokens=False).input_ids
    assert len(ids) == 5                               # a, é (2 bytes), space, b
    dec = IncrementalDecoder(tok)
    pieces = [dec.push(i) for i in ids]
    assert pieces == ["a", "", "é", " ", "b"]          # the first byte of é is held, not sent as U+FFFD


def test_incremental_decoder_char_tokenizer_matches_full_decode():
    from reasonrl.models import build_char_tokenizer

    tok = build_char_tokenizer()
    text = "<think>5,3</think><answer>3</answer>"
    ids = tok(text, add_special_tokens=False).input_ids
    dec = IncrementalDecoder(tok)
    assert "".join(dec.push(i) for i in ids) == tok.decode(ids, skip_special_tokens=True) == text
