"""SFT: the tokens it trains on are the tokens inference renders; completion-only loss; packing and
micro-batching never change the math; data errors name file and line; resume equals uninterrupted."""
import json
import types

import pytest
import torch
from safetensors.torch import load_file

from reasonrl.config import load_config
from reasonrl.errors import UserError
from reasonrl.models import build_char_tokenizer, build_tiny_model
from reasonrl.rollout.hf import HFBackend, encode_prompts
from reasonrl.scale import lora
from reasonrl.templates import Renderer
from reasonrl.train import sft
from reasonrl.train.sft import IGNORE, Example, SFTConfig, encode_example, pack

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
WORKED = "<think>5,3,3</think><answer>3</answer>"


def _expected(tok, render, prompt, completion, system=None):
    """What inference sees: encode_prompts(Renderer(prompt)) real tokens, then the sampled completion + EOS."""
    ids, mask = encode_prompts(tok, [render(prompt, system)], "cpu")
    p = ids[0][mask[0].bool()].tolist()
    c = tok(completion[len(render.prefill):] if completion.startswith(render.prefill) else completion,
            add_special_tokens=False).input_ids + [tok.eos_token_id]
    return p, c


@pytest.mark.parametrize("template,prefill,system", [("raw", False, None), ("r1zero", False, None),
                                                     ("chat", False, "be brief"), ("chat", True, None)])
def test_trained_tokens_equal_inference_tokens(template, prefill, system):
    tok = build_char_tokenizer()
    tok.chat_template = CHAT
    render = Renderer(tok, template, prefill)
    completion = WORKED.replace("<think>", "<think>\n") if prefill else WORKED
    ids, labels = encode_example(render, tok, Example("5-2+0=", completion, system))
    p, c = _expected(tok, render, "5-2+0=", completion, system)
    assert ids == p + c
    assert labels == [IGNORE] * len(p) + c
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    if prefill:   # the prompt ends inside the think block; the completion does not repeat it
        tail = tok("<|assistant|><think>\n", add_special_tokens=False).input_ids
        assert p[-len(tail):] == tail and tok.decode(c[:1]) == "5"


def test_pack_first_fit_decreasing_and_position_resets():
    ex = [([1] * 5, [IGNORE] * 4 + [7]), ([2] * 3, [IGNORE, 8, 8]), ([3] * 4, [IGNORE] * 3 + [9]),
          ([4] * 2, [IGNORE, 6])]
    ids, labels, pos = pack(ex, 7, pad_id=0)
    # sizes 5,4,3,2 by decreasing length into rows of 7: 5 -> row 0 (room 2); 4 -> row 1 (room 3);
    # 3 -> row 1 (room 0); 2 -> row 0 (room 0): two full rows of 7.
    assert ids.tolist() == [[1, 1, 1, 1, 1, 4, 4], [3, 3, 3, 3, 2, 2, 2]]
    assert pos.tolist() == [[0, 1, 2, 3, 4, 0, 1], [0, 1, 2, 3, 0, 1, 2]]
    assert labels.tolist()[1] == [IGNORE, IGNORE, IGNORE, 9, IGNORE, 8, 8]
    ids, labels, pos = pack(ex, 7, pad_id=0, packing=False)
    assert ids.shape == (4, 5) and ids[3].tolist() == [4, 4, 0, 0, 0] and pos[3].tolist() == [0, 1, 2, 3, 4]


def test_packed_logprobs_equal_separate_forwards(tiny_lm):
    model, tok = tiny_lm
    render = Renderer(tok, "raw")
    ex = [encode_example(render, tok, Example("1+2=", "<think>1,3</think><answer>3</answer>")),
          encode_example(render, tok, Example("5-5=", "<answer>0</answer>"))]
    ids, _labels, pos = pack(ex, 64, tok.pad_token_id)
    assert ids.shape[0] == 1                                   # both in one row
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0]
        at = 0
        for e_ids, _ in ex:
            alone = model(input_ids=torch.tensor([e_ids]), use_cache=False).logits[0]
            torch.testing.assert_close(packed[at:at + len(e_ids)], alone, atol=1e-5, rtol=1e-5)
            at += len(e_ids)


class _Uniform(torch.nn.Module):
    """A 'model' whose logits are all zero over V=4 tokens: every token has CE = log 4."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, position_ids=None, use_cache=False):
        return types.SimpleNamespace(logits=self.w + torch.zeros(*input_ids.shape, 4))


def test_completion_loss_hand_computed():
    ids = torch.tensor([[1, 2, 3, 0], [1, 2, 0, 0]])
    labels = torch.tensor([[IGNORE, IGNORE, 3, 0], [IGNORE, 2, IGNORE, IGNORE]])
    # 3 completion tokens; each CE = log 4 = 1.386294; sum / total(3) = log 4.
    loss = sft.completion_loss(_Uniform(), ids, labels, None, total_tokens=3)
    assert loss.item() == pytest.approx(1.3862944, abs=1e-6)
    # Half the tokens over the same step total: 1 token of the 3 -> log(4) / 3 = 0.462098.
    assert sft.completion_loss(_Uniform(), ids[1:], labels[1:], None, 3).item() == pytest.approx(0.4620981, abs=1e-6)


def test_packing_and_micro_batches_do_not_change_the_gradient(tiny_lm):
    model, tok = tiny_lm
    render = Renderer(tok, "raw")
    ex = [encode_example(render, tok, Example(f"{i}+1=", f"<think>{i}</think><answer>{i + 1}</answer>"))
          for i in range(5)]
    grads = []
    for packing, micro in ((True, 8), (False, 8), (False, 1)):
        model.zero_grad()
        batch = pack(ex, 64, tok.pad_token_id, packing)
        total = int((batch[1][:, 1:] != IGNORE).sum())
        for i in range(0, batch[0].shape[0], micro):
            sl = slice(i, i + micro)
            sft.completion_loss(model, batch[0][sl], batch[1][sl], batch[2][sl], total).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(grads[1], grads[2], atol=1e-6, rtol=1e-4)


def test_assistant_mask_never_all_zero():
    with pytest.raises(RuntimeError, match="assistant mask all zero"):
        sft.check_assistant_mask([([1, 2], [IGNORE, 5]), ([1, 2], [IGNORE, IGNORE])])


@pytest.mark.parametrize("line,match", [
    ('{"prompt": "1=", "completion": ""}', r"data.jsonl:2: field 'completion' is empty"),
    ('not json', r"data.jsonl:2: not valid JSON"),
    ('{"prompt": "1="}', r"data.jsonl:2: field 'completion' is missing"),
    ('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, '
     '{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}', r"data.jsonl:2: .*multi-turn"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, line, match):
    f = tmp_path / "data.jsonl"
    f.write_text('{"prompt": "1=", "completion": "<answer>1</answer>"}\n' + line + "\n")
    with pytest.raises(UserError, match=match):
        sft.read_examples([f])


def test_messages_rows_become_examples(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                          {"role": "assistant", "content": "a"}]}) + "\n")
    (ex,) = sft.read_examples([f])
    assert (ex.system, ex.prompt, ex.completion) == ("s", "q", "a")


def test_examples_longer_than_max_length_are_dropped_not_truncated():
    tok = build_char_tokenizer()
    render = Renderer(tok, "raw")
    exs = [Example("1=", "<answer>1</answer>"), Example("1=", "<think>" + "1," * 20 + "</think><answer>1</answer>")]
    kept = sft.encode_dataset(render, tok, exs, max_length=10, log=lambda *_: None)
    assert len(kept) == 1 and len(kept[0][0]) == 7      # <bos> 1 = <answer> 1 </answer> <eos>
    with pytest.raises(UserError, match="data.max_length"):
        sft.encode_dataset(render, tok, exs[1:], max_length=10, log=lambda *_: None)


def test_step_indices_cover_each_example_once_per_epoch():
    # 10 examples, batch 4 -> 3 steps per epoch (4 + 4 + 2).
    epoch1 = [i for s in (1, 2, 3) for i in sft.step_indices(s, 10, 4, seed=0)]
    epoch2 = [i for s in (4, 5, 6) for i in sft.step_indices(s, 10, 4, seed=0)]
    assert sorted(epoch1) == sorted(epoch2) == list(range(10)) and epoch1 != epoch2
    assert sft.step_indices(2, 10, 4, seed=0) == sft.step_indices(2, 10, 4, seed=0)


LORA = ["model.lora_r=4", "model.lora_alpha=8"]


def _base(tmp_path):
    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)
    d = tmp_path / "base"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _data(tmp_path, rows):
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def test_smoke_sft_overfits_and_generation_reproduces_the_completion(tmp_path):
    """End to end: after SFT on one example, greedy generation from the rendered prompt (the RL and
    eval path) emits exactly the trained completion and stops at EOS."""
    data = _data(tmp_path, [{"prompt": "5-2+0=", "completion": WORKED}])
    cfg = load_config(None, [f"out={tmp_path / 'run'}", f"model.path={_base(tmp_path)}", f"data.files=[{data}]",
                             "train.steps=40", "train.lr=0.01", "train.batch_size=1", "eval.size=0",
                             "train.checkpoint_every=100"], cls=SFTConfig)
    result = sft.train(cfg, log=lambda *_: None)
    assert result["steps"] == 40 and (tmp_path / "run" / "final" / "config.json").is_file()
    from reasonrl.models import load_model
    model, tok = load_model(tmp_path / "run" / "final", device="cpu")
    gen = HFBackend(model, tok).generate([Renderer(tok, "auto")("5-2+0=")], greedy=True, max_new_tokens=30)
    assert gen.texts == [WORKED] and not gen.truncated[0]


@pytest.mark.parametrize("extra", [[], LORA + ["train.lr=0.01"]], ids=["full", "lora"])
def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch, extra):
    if extra:
        pytest.importorskip("peft")
    data = _data(tmp_path, [{"prompt": f"{i}+1=", "completion": f"<think>{i}</think><answer>{i + 1}</answer>"}
                            for i in range(6)])
    base = _base(tmp_path)

    def run(out):
        cfg = load_config(None, [f"out={out}", f"model.path={base}", f"data.files=[{data}]", "train.steps=4",
                                 "train.batch_size=4", "train.checkpoint_every=2", "eval.size=0"] + extra,
                          cls=SFTConfig)
        return sft.train(cfg, log=lambda *_: None)
    run(tmp_path / "whole")
    real, calls = sft.sft_step, []

    def killed_at_step_3(*a, **k):
        calls.append(1)
        if len(calls) == 3:                 # step 2's checkpoint is written, step 3 never finishes
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)
    monkeypatch.setattr(sft, "sft_step", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    monkeypatch.setattr(sft, "sft_step", real)
    run(tmp_path / "cut")                   # the same command resumes at step 2
    a = load_file(tmp_path / "whole" / "final" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = lambda d: [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}  # noqa: E731
                      for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")
    assert [r["step"] for r in rows(tmp_path / "cut")] == [0, 1, 2, 3, 4]
    if extra:     # LoRA: the step-2 checkpoint the resume started from holds the adapter only
        ckpt = tmp_path / "cut" / "checkpoints" / "step-2"
        assert (ckpt / "adapter_model.safetensors").is_file() and not (ckpt / "model.safetensors").exists()


# ---------------------------------------------------------------- LoRA (packing and autocast under LoRA: tests/test_lora.py)

def test_smoke_sft_lora_trains_adapters_only_and_exports_merged(tmp_path):
    """`reasonrl sft model.lora_r=4`: checkpoints hold the adapter; final/ is a plain HF folder equal to
    base + adapter; weights without adapters are the base's bit for bit (gradient checkpointing on)."""
    pytest.importorskip("peft")
    from reasonrl.models import load_model
    data = _data(tmp_path, [{"prompt": "5-2+0=", "completion": WORKED}])
    base = _base(tmp_path)
    cfg = load_config(None, [f"out={tmp_path / 'run'}", f"model.path={base}", f"data.files=[{data}]", "train.steps=3",
                             "train.lr=0.01", "train.batch_size=1", "eval.size=0", "train.gradient_checkpointing=true",
                             *LORA], cls=SFTConfig)
    logs = []
    assert sft.train(cfg, log=logs.append)["steps"] == 3
    # 2 layers x 4 projections x (A: 4x32 + B: 32x4) = 8 x 256 = 2,048 adapter parameters
    assert any("LoRA r=4 alpha=8" in x and "2,048 trainable parameters" in x for x in logs)
    ckpt = tmp_path / "run" / "checkpoints" / "step-3"
    assert (ckpt / "adapter_model.safetensors").is_file() and not (ckpt / "model.safetensors").exists()
    final = load_file(tmp_path / "run" / "final" / "model.safetensors")
    start = load_file(base / "model.safetensors")
    assert final.keys() == start.keys() and not any("lora" in k for k in final)
    changed = {k for k in final if not torch.equal(final[k], start[k])}
    assert changed and all(k.rsplit(".", 2)[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    plain, tok = load_model(tmp_path / "run" / "final", device="cpu")
    wrapped = lora.wrap(load_model(base, device="cpu")[0], cfg.model, adapter_dir=ckpt)
    ids = torch.tensor([tok("5-2+0=" + WORKED).input_ids])
    with torch.no_grad():
        torch.testing.assert_close(plain(input_ids=ids).logits, wrapped(input_ids=ids).logits, atol=1e-5, rtol=0)
