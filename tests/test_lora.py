"""LoRA through peft in the RL loop (reasonrl.scale.lora) and the bf16 autocast option, on the embedded tiny model."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("peft")

from reasonrl import checkpoint  # noqa: E402
from reasonrl.config import ConfigError, load_config  # noqa: E402
from reasonrl.models import load_model, resolve_model_path  # noqa: E402
from reasonrl.scale import lora  # noqa: E402
from reasonrl.train import rl  # noqa: E402

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=0",
         "eval.sampled=false", "train.checkpoint_every=2", "rollout.max_new_tokens=24", "train.log_rollouts=2",
         "train.lr=0.01"]


def _cfg(out, *extra):
    return load_config(None, SMALL + [f"out={out}"] + list(extra))


def _rows(path):
    drop = lambda r: {k: v for k, v in r.items() if not k.startswith("time/")}  # noqa: E731
    return [drop(json.loads(x)) for x in path.read_text().splitlines()]


def _quiet(*_a, **_k):
    pass


def test_smoke_lora_only_adapters_change(tmp_path):
    r = rl.build(_cfg(tmp_path, "train.steps=3", "model.lora_r=4"), _quiet)
    assert lora.is_lora(r.model)
    start = {n: p.detach().clone() for n, p in r.model.named_parameters()}
    trainable = {n for n, p in r.model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert {id(p) for g in r.opt.param_groups for p in g["params"]} == \
        {id(p) for p in r.model.parameters() if p.requires_grad}
    for step in (1, 2, 3):
        rl.train_step(r, step)
    now = dict(r.model.named_parameters())
    changed = {n for n in now if not torch.equal(now[n], start[n])}
    assert changed and changed <= trainable                  # the adapters moved, nothing else did
    base = load_file(str(resolve_model_path("embedded") / "model.safetensors"))
    for n, p in r.model.get_base_model().named_parameters():
        if "lora_" not in n:                                  # peft names a wrapped weight '<mod>.base_layer.weight'
            assert torch.equal(p, base[n.replace(".base_layer", "")]), n
    assert r.ref is not None and not lora.is_lora(r.ref)     # the KL reference is the frozen base
    assert all(torch.equal(p, base[n]) for n, p in r.ref.named_parameters())


def test_smoke_lora_final_is_merged_plain_hf(tmp_path):
    rl.train(_cfg(tmp_path, "train.steps=3", "model.lora_r=4"), log=_quiet)
    ckpt = tmp_path / "checkpoints" / "step-3"
    assert checkpoint.verify(ckpt) is None and (ckpt / "adapter_model.safetensors").is_file()
    assert not (ckpt / "model.safetensors").exists()          # the checkpoint holds the adapter only
    final = tmp_path / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    assert not any("lora" in k for k in load_file(str(final / "model.safetensors")))
    plain, tok = load_model(final, device="cpu")
    cfg = load_config(None, ["model.lora_r=4"])
    peft_model = lora.wrap(load_model("embedded", device="cpu")[0], cfg.model, adapter_dir=ckpt)
    ids = torch.tensor([tok("<think>go left 3 then right 1</think>").input_ids])
    with torch.no_grad():
        a, b = plain(input_ids=ids).logits, peft_model(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    base = load_model("embedded", device="cpu")[0]
    with torch.no_grad():
        assert not torch.allclose(base(input_ids=ids).logits, b, atol=1e-5)   # the adapter did something


def test_lora_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    args = ("train.steps=4", "model.lora_r=4")
    whole = tmp_path / "whole"
    rl.train(_cfg(whole, *args), log=_quiet)
    crashed, real_step = tmp_path / "crashed", rl.train_step

    def killed_at_step_4(r, step):          # step 3's metrics are written, its checkpoint is not (every 2)
        if step == 4:
            raise KeyboardInterrupt("simulated kill")
        return real_step(r, step)
    monkeypatch.setattr(rl, "train_step", killed_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        rl.train(_cfg(crashed, *args), log=_quiet)
    assert (crashed / "checkpoints" / "step-2").is_dir() and not (crashed / "checkpoints" / "step-3").exists()
    monkeypatch.setattr(rl, "train_step", real_step)
    rl.train(_cfg(crashed, *args), log=_quiet)                  # resumes from step-2's adapter

    assert _rows(crashed / "metrics.jsonl") == _rows(whole / "metrics.jsonl")
    a = load_file(str(whole / "final" / "model.safetensors"))
    b = load_file(str(crashed / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_smoke_bf16_autocast_finite(tmp_path):
    rl.train(_cfg(tmp_path, "train.steps=2", "model.autocast=bfloat16", "model.lora_r=4"), log=_quiet)
    rows = _rows(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows[1:]:
        assert all(math.isfinite(r[k]) for k in ("loss/policy", "entropy", "kl", "grad_norm", "reward/mean"))


def test_autocast_runs_the_forward_in_bf16():
    model, tok = load_model("embedded", device="cpu")
    ids = torch.tensor([tok("<think>abc</think>").input_ids])
    seen = []
    hook = model.lm_head.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    from reasonrl.algo.logprobs import sequence_logprobs
    with torch.no_grad():
        lp32 = sequence_logprobs(model, ids, torch.ones_like(ids), 3)[0]
        lp16 = sequence_logprobs(model, ids, torch.ones_like(ids), 3, autocast=lora.autocast("bfloat16", "cpu"))[0]
    hook.remove()
    assert seen == [torch.float32, torch.bfloat16] and lp16.dtype == torch.float32
    assert torch.allclose(lp16, lp32, atol=0.1) and not torch.equal(lp16, lp32)   # bf16 keeps ~3 digits


@pytest.mark.parametrize("override, match", [
    ("model.autocast=float16", "model.autocast"),
    ("model.lora_r=-1", "model.lora_r"),
    ("model.lora_dropout=1.0", "model.lora_dropout"),
])
def test_bad_lora_or_autocast_keys(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        rl.setup(_cfg(tmp_path, override), _quiet)


def test_unknown_lora_target_names_the_key():
    cfg = load_config(None, ["model.lora_r=4", "model.lora_targets=[q_proj,attn_c]"])
    with pytest.raises(ConfigError, match="model.lora_targets.*attn_c"):
        lora.wrap(load_model("embedded", device="cpu")[0], cfg.model)


# ---------------------------------------------------------------- LoRA in SFT's forward (reasonrl.train.sft)

def random_adapters(model, scale: float, seed: int = 1):
    """Wrap `model` with r=4 adapters on q/k/v/o and draw lora_B from a fixed generator (peft starts it
    at 0: the adapters would be a no-op, lora_A would get no gradient, and checks against the base or
    across packing would be vacuous). Also used by tests/test_lora_dist.py."""
    policy = lora.wrap(model, load_config(None, ["model.lora_r=4", "model.lora_alpha=8"]).model, seed=0)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return policy


def _sft_examples(tok, n):
    from reasonrl.templates import Renderer
    from reasonrl.train.sft_data import Example, encode_example
    return [encode_example(Renderer(tok, "raw"), tok, Example(f"{i}+2=", f"<think>{i},{i + 2}</think><answer>{i + 2}</answer>"))
            for i in range(n)]


def test_lora_packed_sft_step_equals_unpacked(tiny_lm):
    """peft's forward passes position_ids through: a packed batch gives the same SFT loss and adapter
    gradients as one example per row (within 1e-6); without the position ids it would not."""
    from reasonrl.train.sft import completion_loss
    from reasonrl.train.sft_data import IGNORE, pack
    model, tok = random_adapters(tiny_lm[0], 0.5), tiny_lm[1]
    ex = _sft_examples(tok, 4)
    out = []
    for packing in (True, False):
        model.zero_grad()
        ids, labels, pos = pack(ex, 64, tok.pad_token_id, packing)
        loss = completion_loss(model, ids, labels, pos, int((labels[:, 1:] != IGNORE).sum()))
        loss.backward()
        out.append((ids.shape[0], loss.item(), torch.cat([p.grad.flatten() for p in lora.trainable(model)])))
    (rows_p, loss_p, g_p), (rows_u, loss_u, g_u) = out
    assert (rows_p, rows_u) == (1, 4)                           # 4 examples in one packed row vs 4 rows
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    ids, labels, pos = pack(ex, 64, tok.pad_token_id, True)
    with torch.no_grad():                                       # the check is sensitive: no resets -> cross-talk
        leaky = completion_loss(model, ids, labels, None, int((labels[:, 1:] != IGNORE).sum())).item()
    print(f"LoRA packed loss {loss_p:.8f} vs unpacked {loss_u:.8f}: |diff| = {abs(loss_p - loss_u):.2e}, "
          f"max |grad diff| = {(g_p - g_u).abs().max().item():.2e}; without position ids |diff| = {abs(leaky - loss_p):.2e}")
    assert abs(loss_p - loss_u) < 1e-6, (loss_p, loss_u)       # 4.77e-07 here: 1 float32 ulp at 4.64
    torch.testing.assert_close(g_p, g_u, atol=1e-6, rtol=1e-5)
    assert abs(leaky - loss_p) > 1e-3, (leaky, loss_p)


def test_sft_forward_honours_bf16_autocast(tiny_lm):
    from reasonrl.train.sft import completion_loss
    from reasonrl.train.sft_data import pack
    model, tok = random_adapters(tiny_lm[0], 0.5), tiny_lm[1]
    ids, labels, pos = pack(_sft_examples(tok, 1), 64, tok.pad_token_id)
    seen = []
    hook = model.get_base_model().lm_head.register_forward_hook(lambda _m, _i, o: seen.append(o.dtype))
    with torch.no_grad():
        l32 = completion_loss(model, ids, labels, pos, 6).item()
        l16 = completion_loss(model, ids, labels, pos, 6, autocast="bfloat16")
    hook.remove()
    assert seen == [torch.float32, torch.bfloat16] and l16.dtype == torch.float32
    assert abs(l16.item() - l32) < 0.05 and l16.item() != l32      # bf16 keeps ~3 digits
