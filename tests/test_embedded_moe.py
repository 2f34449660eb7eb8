"""`model.path=embedded-moe`: the shipped DeepSeek-V3-style tiny base (mixture of experts with a shared
expert, multi-head latent attention, the V3 router) loads, checks, evaluates, serves and trains like the
dense default, and `reasonrl pretrain arch=moe` rebuilds it."""
import json

import pytest
import torch
import yaml

from reasonrl.cli import main
from reasonrl.config import PretrainConfig, load_config
from reasonrl.models import EMBEDDED, balance_routers, load_model, resolve_model_path
from reasonrl.train import rl
from reasonrl.train.pretrain import pretrain

RUN = ["model.path=embedded-moe", "train.prompts_per_step=2", "rollout.num_generations=2",
       "rollout.max_new_tokens=8", "eval.size=2", "eval.every=0", "eval.sampled=false", "train.checkpoint_every=100",
       "train.threads=1", "train.log_rollouts=0"]
# 2 layers: the first dense, the second MoE (first_k_dense_replace=1)
TINY_MOE = ["arch=moe", "hidden=16", "layers=2", "heads=2", "intermediate=32", "steps=3", "batch_size=4",
            "warmup_steps=1", "eval_size=4", "gate_max_chunks=0", "threads=1"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _quiet(*_a, **_k):
    pass


def test_the_folder_is_a_deepseek_v3_with_moe_mla_and_shared_experts():
    model, _ = load_model("embedded-moe", device="cpu")
    c, layers = model.config, model.model.layers
    assert type(model).__name__ == "DeepseekV3ForCausalLM" and c.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert type(layers[0].mlp).__name__ == "DeepseekV3MLP"                       # first_k_dense_replace=1
    assert {type(x.mlp).__name__ for x in layers[1:]} == {"DeepseekV3MoE"}
    moe = layers[1].mlp
    # V3's router: 8 experts in 4 groups, top-2 groups then top-2 experts, scaled by 2.5; 1 shared expert
    assert (moe.gate.num_experts, moe.gate.num_group, moe.gate.topk_group, moe.gate.top_k) == (8, 4, 2, 2)
    assert moe.gate.norm_topk_prob and moe.gate.routed_scaling_factor == 2.5
    assert moe.shared_experts.down_proj.in_features == c.moe_intermediate_size * c.n_shared_experts
    attn = layers[0].self_attn                                                    # latent attention
    assert attn.q_proj is None and attn.q_a_proj.out_features == c.q_lora_rank
    assert attn.kv_a_proj_with_mqa.out_features == c.kv_lora_rank + c.qk_rope_head_dim
    # the cached latent (kv_lora_rank + rope dims) is smaller than the heads' keys and values it expands to
    assert c.kv_lora_rank + c.qk_rope_head_dim < c.num_attention_heads * (c.qk_head_dim + c.v_head_dim)
    saved = yaml.safe_load((EMBEDDED["embedded-moe"] / "pretrain_config.yaml").read_text())
    report = json.loads((EMBEDDED["embedded-moe"] / "pretrain_report.json").read_text())
    assert saved["arch"] == "moe" and report["gate_passed"] and report["forced_worked_acc"] >= 0.9
    # pretraining balanced the routers: the correction bias moved away from its zero init
    assert all(x.mlp.gate.e_score_correction_bias.abs().sum() > 0 for x in layers[1:])


def test_balance_routers_moves_the_bias_toward_the_underloaded_experts():
    class Router(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.e_score_correction_bias = torch.nn.Buffer(torch.zeros(4))

        def forward(self, idx):
            return None, None, idx

    router = Router()
    (handle,) = balance_routers(router, speed=0.5)
    idx = torch.tensor([[0, 1], [0, 2], [0, 1]])    # load per expert [3, 2, 1, 0], mean 6 / 4 = 1.5
    router.eval()(idx)                               # eval mode: no update
    assert router.e_score_correction_bias.tolist() == [0, 0, 0, 0]
    router.train()(idx)                              # + 0.5 * sign(1.5 - load) = 0.5 * [-1, -1, +1, +1]
    router(idx)
    assert router.e_score_correction_bias.tolist() == [-1.0, -1.0, 1.0, 1.0]
    handle.remove()
    router(idx)
    assert router.e_score_correction_bias.tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_check_passes_on_embedded_moe(capsys):
    rc = main(["check", "--prompts", "2", "rollout.num_generations=4", "train.threads=1", "model.path=embedded-moe"])
    out = capsys.readouterr().out
    assert rc == 0 and "[OK  ] model    embedded-moe: DeepseekV3ForCausalLM," in out, out


def test_eval_on_embedded_moe(tmp_path):
    from reasonrl.eval.presets import EvalRunConfig
    from reasonrl.eval.runner import run_eval

    cfg = EvalRunConfig(model="embedded-moe", data="walk", preset="quick", k=2, limit=2, max_new_tokens=40,
                        bootstrap=0, threads=1, out=str(tmp_path))
    (result,) = run_eval(cfg, log=_quiet).values()
    rows = [json.loads(x) for x in open(result["samples_file"])]
    assert len(rows) == 4 and all(r["verdict"] in ("correct", "wrong") for r in rows), rows


def test_serve_embedded_moe():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from reasonrl.serve.app import ServerLimits
    from reasonrl.serve.command import build_server, served_name

    assert served_name("embedded-moe") == "tiny-walk-moe"
    app, engine = build_server("embedded-moe", device="cpu", max_batch=4, max_queue=8,
                               limits=ServerLimits(model_name="tiny-walk-moe", max_tokens=40))
    try:
        r = TestClient(app).post("/v1/chat/completions", json={
            "model": "tiny-walk-moe", "max_tokens": 40, "temperature": 0,
            "messages": [{"role": "user", "content": "5-2+0+0-2+3+3+1+1-6="}]})
    finally:
        engine.close()
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["finish_reason"] == "stop", r.json()


@pytest.mark.parametrize("backend", ["hf", "fast"])
def test_two_rl_steps_on_embedded_moe(backend, tmp_path):
    result = rl.train(load_config(None, RUN + ["train.steps=2", f"rollout.backend={backend}", f"out={tmp_path}"]),
                      log=_quiet)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 2 and [r["step"] for r in rows] == [0, 1, 2]
    model, _ = load_model(tmp_path / "final", device="cpu")
    assert type(model).__name__ == "DeepseekV3ForCausalLM"


def test_lora_on_embedded_moe_with_the_latent_attention_targets(tmp_path):
    pytest.importorskip("peft")
    result = rl.train(load_config(None, RUN + ["train.steps=2", "model.lora_r=4", f"out={tmp_path}",
                                               "model.lora_targets=[q_b_proj,kv_b_proj,o_proj]"]), log=_quiet)
    assert result["steps"] == 2 and (tmp_path / "checkpoints" / "step-2" / "adapter_model.safetensors").is_file()


def test_pretrain_arch_moe_writes_a_loadable_folder(tmp_path):
    report = pretrain(load_config(None, TINY_MOE + [f"out={tmp_path}"], cls=PretrainConfig), log=_quiet)
    model, _ = load_model(tmp_path, device="cpu")
    assert type(model).__name__ == "DeepseekV3ForCausalLM" and report["steps"] == 3
    assert yaml.safe_load((tmp_path / "pretrain_config.yaml").read_text())["arch"] == "moe"
    # 3 train-mode forwards of balancing at 1e-3: each entry is a multiple of 1e-3 in [-3e-3, 3e-3]
    bias = model.model.layers[1].mlp.gate.e_score_correction_bias
    assert bias.abs().max() <= 3e-3 + 1e-9 and bias.abs().sum() > 0


def test_unknown_arch_is_one_line(tmp_path, capsys):
    assert main(["pretrain", "arch=sparse", f"out={tmp_path / 'base'}"] + TINY_MOE[1:]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'arch'" in err[0] and "moe" in err[0], err
    assert not (tmp_path / "base").exists()


def test_embedded_names_resolve_to_the_shipped_folders():
    assert resolve_model_path("embedded").name == "tiny-walk"
    assert resolve_model_path("embedded-moe").name == "tiny-walk-moe"
