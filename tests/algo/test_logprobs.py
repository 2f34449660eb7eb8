"""Completion masks from positions (pad == eos), temperature in logprobs, and position ids with left
padding: the trainer's logprobs equal the sampler's."""
import torch

from reasonrl.algo.logprobs import completion_mask, sequence_logprobs, token_logprobs
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
