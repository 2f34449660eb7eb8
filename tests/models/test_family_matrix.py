"""The family matrix: a tiny random-weight model of each family (built from its transformers config,
tokenizer in the family's format, tests/models/_families.py) goes through `reasonrl check`, 3 RL
steps, `reasonrl eval`, one served chat request and 2 LoRA RL steps. Rows: families; columns: stages."""
import json

import pytest
import torch
from _families import SPECS, save_family

from reasonrl.cli import main
from reasonrl.config import ConfigError, load_config
from reasonrl.train import rl

FAMILIES = list(SPECS)
RUN = ["train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=6", "eval.size=2",
       "eval.every=0", "eval.sampled=false", "train.checkpoint_every=100", "train.threads=1", "train.log_rollouts=0"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f: save_family(root / f, f) for f in FAMILIES}


pytestmark = pytest.mark.usefixtures("one_thread")


def _quiet(*_a, **_k):
    pass


@pytest.mark.parametrize("family", FAMILIES)
def test_check(folders, family, capsys):
    rc = main(["check", "--prompts", "2", "rollout.num_generations=4", "rollout.max_new_tokens=8",
               "train.threads=1", "reward.functions=[language]", "reward.weights=[1.0]",
               f"model.path={folders[family]}"])
    out = capsys.readouterr().out
    arch = json.loads((folders[family] / "config.json").read_text())["architectures"][0]
    assert f"[OK  ] model    {folders[family]}: {arch}," in out, out
    assert "[OK  ] template chat (the tokenizer chat template)" in out, out
    # random weights: the only failures allowed are the verdicts on what the model writes
    fails = [line for line in out.splitlines() if line.startswith("[FAIL]")]
    assert rc == 0 or (rc == 1 and len(fails) == 1 and fails[0].startswith(
        ("[FAIL] rollout  truncation rate 100%", "[FAIL] rollout  no EOS ever generated",
         "[FAIL] rewards  every group has zero reward variance"))), out


@pytest.mark.parametrize("family", FAMILIES)
def test_rl_three_steps(folders, family, tmp_path):
    result = rl.train(load_config(None, RUN + ["train.steps=3", f"model.path={folders[family]}",
                                               f"out={tmp_path}"]), log=_quiet)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 3 and [r["step"] for r in rows] == [0, 1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss/policy"])) for r in rows[1:] if r.get("loss/policy") is not None)
    assert (tmp_path / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_eval(folders, family, tmp_path):
    from reasonrl.eval.presets import EvalRunConfig
    from reasonrl.eval.runner import run_eval

    cfg = EvalRunConfig(model=str(folders[family]), data="walk", preset="quick", k=2, limit=2, max_new_tokens=6,
                        bootstrap=0, threads=1, out=str(tmp_path))
    (result,) = run_eval(cfg, log=_quiet).values()
    rows = [json.loads(x) for x in open(result["samples_file"])]
    assert len(rows) == 4 and all("verdict" in r for r in rows)


@pytest.mark.parametrize("family", FAMILIES)
def test_serve(folders, family):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from reasonrl.models import load_model
    from reasonrl.serve.app import ServerLimits, create_app
    from reasonrl.serve.engine import Engine
    from reasonrl.serve.protocol import PromptBuilder

    model, tok = load_model(folders[family], device="cpu")
    engine = Engine(model, tok, max_batch=4).start()
    try:
        app = create_app(engine, PromptBuilder(tok), ServerLimits(model_name=family, max_tokens=8))
        r = TestClient(app).post("/v1/chat/completions", json={
            "model": family, "max_tokens": 5, "messages": [{"role": "user", "content": "What is 2+2?"}]})
    finally:
        engine.close()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["finish_reason"] in ("stop", "length") and body["usage"]["completion_tokens"] <= 5


@pytest.mark.parametrize("family", FAMILIES)
def test_lora(folders, family, tmp_path):
    pytest.importorskip("peft")
    targets = SPECS[family].get("lora_targets")
    extra = [f"model.lora_targets={targets}"] if targets else []
    result = rl.train(load_config(None, RUN + ["train.steps=2", "model.lora_r=4", f"model.path={folders[family]}",
                                               f"out={tmp_path}"] + extra), log=_quiet)
    assert result["steps"] == 2 and (tmp_path / "checkpoints" / "step-2" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("family, modules", [("phi3", "qkv_proj"), ("deepseek-v3", "kv_b_proj")])
def test_lora_default_targets_absent_fail_at_start_in_one_line(folders, family, modules, tmp_path):
    """Phi-3 fuses q/k/v into qkv_proj; DeepSeek-V3's latent attention has q_a/q_b/kv_a/kv_b projections."""
    with pytest.raises(ConfigError) as e:
        rl.train(load_config(None, RUN + ["train.steps=1", "model.lora_r=4", f"model.path={folders[family]}",
                                          f"out={tmp_path}"]), log=_quiet)
    msg = str(e.value)
    assert "\n" not in msg and "model.lora_targets" in msg and "q_proj" in msg, msg
    assert modules in msg.split("its linear layers:")[1], msg      # the error names what the model has


@pytest.mark.parametrize("prefill", [False, True])
def test_qwen3_thinking_rl_sft_eval_serve_share_the_template_tokens(folders, prefill):
    """Qwen3 renders with its template's default enable_thinking (true: the generation prompt is
    '<|im_start|>assistant\\n' and the model opens <think> itself); prefill_think appends '<think>\\n'.
    The prompt tokens of RL (rollout encoder), SFT (encode_example), eval (LocalGenerator's Renderer)
    and serving (PromptBuilder) are exactly apply_chat_template(enable_thinking=True)'s tokens."""
    from reasonrl.models import load_tokenizer
    from reasonrl.rollout.hf import encode_prompts
    from reasonrl.serve.protocol import ChatMessage, PromptBuilder
    from reasonrl.templates import Renderer
    from reasonrl.train.sft_data import Example, encode_example

    tok = load_tokenizer(folders["qwen3"])
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    want = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True, enable_thinking=True)
    want = list(getattr(want, "input_ids", want)) + (tok("<think>\n", add_special_tokens=False).input_ids
                                                     if prefill else [])
    render = Renderer(tok, "auto", prefill_think=prefill)
    rl_ids = encode_prompts(tok, [render("What is 2+2?")], "cpu")[0][0].tolist()
    sft_ids, labels = encode_example(render, tok, Example(prompt="What is 2+2?", completion="<answer>4</answer>"))
    served = PromptBuilder(tok, "auto", prefill)
    serve_ids = served.encode(served.render([ChatMessage(role="user", content="What is 2+2?")]))
    assert rl_ids == want and serve_ids == want and sft_ids[:len(want)] == want
    assert labels[:len(want)] == [-100] * len(want)
    no_think = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert no_think.endswith("<think>\n\n</think>\n\n") and not render("What is 2+2?").endswith("</think>\n\n")
