"""Completion masks from positions (pad == eos), temperature in logprobs, and position ids with left
padding: the trainer's logprobs equal the sampler's."""
import math

import torch

from reasonrl.algo.logprobs import (completion_mask, position_ids_from_mask, sequence_logprobs, token_entropy,
                                    token_logprobs)
from reasonrl.rollout.hf import encode_prompts


def test_completion_mask_pad_equals_eos():
    eos = 2   # the pad id is also 2: values after the first EOS are padding, the EOS itself counts
    ids = torch.tensor([[5, 6, 2, 2, 2], [5, 2, 2, 2, 2], [5, 6, 7, 8, 9]])
    mask, truncated = completion_mask(ids, [eos])
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert truncated.tolist() == [False, False, True]


def test_completion_mask_secondary_eos():
    mask, truncated = completion_mask(torch.tensor([[5, 3, 2, 0], [4, 4, 4, 2]]), [2, 3])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]] and truncated.tolist() == [False, False]


def test_temperature_in_logprobs():
    logits = torch.tensor([[[2.0, 0.0, -1.0]]])
    # T = 2: logits/2 = [1, 0, -0.5]; logZ = log(e + 1 + e^-0.5) = log(4.3248) = 1.4644; lp[0] = 1 - 1.4644
    assert abs(token_logprobs(logits, torch.tensor([[0]]), 2.0).item() - (1 - 1.4644)) < 1e-4


def test_left_padding_position_ids_match_generate(tiny_lm):
    model, tok = tiny_lm
    ids, mask = encode_prompts(tok, ["1+2=", "3-1+4+0="], "cpu")
    assert mask[0, 0] == 0   # the short prompt is left-padded
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=6,
                         output_logits=True, return_dict_in_generate=True, pad_token_id=tok.pad_token_id,
                         eos_token_id=[tok.eos_token_id])
    comp = out.sequences[:, ids.shape[1]:]
    sampler = torch.stack(out.logits, dim=1).log_softmax(-1).gather(-1, comp[..., None]).squeeze(-1)
    full_mask = torch.cat([mask, torch.ones_like(comp)], dim=1)
    ours, _ = sequence_logprobs(model, out.sequences, full_mask, ids.shape[1])
    torch.testing.assert_close(ours, sampler, atol=1e-5, rtol=0)
    # (With RoPE a uniform shift of a row's positions is harmless; models with absolute position
    # embeddings are not, which is why the trainer always passes the sampler's position ids.)


def test_position_ids_from_mask_hand_values():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [0, 0, 1, 1, 2]]


def test_token_logprobs_and_entropy_by_hand():
    # shape (N, T, V) = (1, 2, 3) so no dimension can stand in for another
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    z1 = math.log(math.exp(2) + 1 + math.exp(-1))
    torch.testing.assert_close(token_logprobs(logits, torch.tensor([[2, 1]])),
                               torch.tensor([[-1 - z1, -math.log(3)]]), atol=1e-6, rtol=0)

    def entropy(row, temp):
        p = [math.exp(x / temp) for x in row]
        return -sum(q / sum(p) * math.log(q / sum(p)) for q in p)
    want = torch.tensor([[entropy([2, 0, -1], 1.0), math.log(3)]])
    torch.testing.assert_close(token_entropy(logits), want, atol=1e-6, rtol=0)
    torch.testing.assert_close(token_entropy(logits.expand(2, 2, 3), 2.0)[1],
                               torch.tensor([entropy([2, 0, -1], 2.0), math.log(3)]), atol=1e-6, rtol=0)


def _absolute_position_lm():
    """A tiny random GPT-2 (learned absolute positions) whose logits depend on every position and on
    every token a row attends to, built from a config (no download)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=11, n_positions=16, n_embd=16, n_layer=1, n_head=2, initializer_range=0.5,
                     bos_token_id=0, eos_token_id=1, pad_token_id=0)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    return GPT2LMHeadModel(cfg).eval()


def _batch():
    """Three rows: a prompt of 2 tokens left-padded by 3 random (not repeated) tokens, a full prompt of
    5, and a prompt with a masked token inside it; completions of 4 tokens. Returns ids (3, 9),
    attention mask (3, 9), prompt length 5."""
    ids = torch.tensor([[7, 3, 9, 4, 6, 2, 8, 5, 10], [5, 2, 8, 4, 3, 9, 6, 7, 1], [6, 4, 9, 2, 8, 3, 10, 5, 7]])
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    mask[2, 2] = 0
    return ids, mask, 5


def _loop_reference(model, ids, mask, p, temperature):
    """Each row alone, without its padding, at positions 0..L-1: logprobs and entropies (T,) per row."""
    lps, ents = [], []
    for row, m in zip(ids, mask):
        x = row[m.bool()][None]
        logp = (model(input_ids=x).logits[0].float() / temperature).log_softmax(-1)
        t = ids.shape[1] - p
        steps = logp[-(t + 1):-1]                                               # (T, V)
        lps.append(steps.gather(-1, x[0, -t:, None]).squeeze(-1))
        ents.append(-(steps.exp() * steps).sum(-1))
    return torch.stack(lps), torch.stack(ents)


def test_sequence_logprobs_equal_per_row_loop_with_padding_and_temperature():
    model, (ids, mask, p) = _absolute_position_lm(), _batch()
    with torch.no_grad():
        want_lp, want_ent = _loop_reference(model, ids, mask, p, 0.7)
        lp, ent = sequence_logprobs(model, ids, mask, p, 0.7, with_entropy=True)
        plain_lp, none = sequence_logprobs(model, ids, mask, p)
    torch.testing.assert_close(lp, want_lp, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, want_ent, atol=1e-5, rtol=0)
    torch.testing.assert_close(plain_lp, _loop_reference(model, ids, mask, p, 1.0)[0], atol=1e-5, rtol=0)
    assert none is None and lp.dtype == torch.float32
    # the padded row really depends on its mask and positions: attending to the pads moves it
    with torch.no_grad():
        leaky, _ = sequence_logprobs(model, ids, torch.ones_like(mask), p, 0.7)
    assert (leaky[0] - lp[0]).abs().max() > 1e-2 and (leaky[2] - lp[2]).abs().max() > 1e-2


def test_bf16_autocast_path():
    model, (ids, mask, p) = _absolute_position_lm(), _batch()
    with torch.no_grad():
        fp32, _ = sequence_logprobs(model, ids, mask, p)
        bf16, ent = sequence_logprobs(model, ids, mask, p, with_entropy=True,
                                      autocast=torch.autocast("cpu", dtype=torch.bfloat16))
    assert bf16.dtype == torch.float32 and ent.dtype == torch.float32     # logprobs in float32 either way
    diff = (bf16 - fp32).abs().max().item()
    assert 0 < diff < 0.1                                                  # the forward ran in bf16
