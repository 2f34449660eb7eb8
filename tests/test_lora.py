"""LoRA through peft in the RL loop (reasonrl.lora) and the bf16 autocast option, on the embedded tiny model."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("peft")

from reasonrl import checkpoint, lora  # noqa: E402
from reasonrl.config import ConfigError, load_config  # noqa: E402
from reasonrl.models import load_model, resolve_model_path  # noqa: E402
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
        lp16 = sequence_logprobs(model, ids, torch.ones_like(ids), 3, autocast="bfloat16")[0]
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
