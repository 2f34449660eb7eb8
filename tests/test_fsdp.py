"""FSDP2 (`train.fsdp=true`) end to end under torchrun (gloo, CPU), and its checkpoint formats.

The optimizer-step equivalence (2 sharded ranks = 1 process within 1e-6) is in tests/test_dist.py; here:
a sharded run resumed from a plain data-parallel checkpoint equals an uninterrupted sharded run, and a
sharded run's checkpoint resumes in one plain process.
"""
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_dist import launch  # noqa: E402

from reasonrl import checkpoint  # noqa: E402
from reasonrl.config import ConfigError, load_config  # noqa: E402
from reasonrl.models import build_char_tokenizer, build_tiny_model  # noqa: E402
from reasonrl.scale import fsdp  # noqa: E402
from reasonrl.train import rl  # noqa: E402

SMALL = ["train.prompts_per_step=4", "rollout.num_generations=4", "eval.size=8", "eval.every=1",
         "eval.sampled=false", "rollout.max_new_tokens=24", "train.checkpoint_every=1", "train.threads=1"]


def _train(out, steps, *extra):
    return launch("-m", "reasonrl.cli", "train", f"out={out}", f"train.steps={steps}", *SMALL, *extra)


def _rows(run):
    keep = ("step", "reward/mean", "len/mean", "tokens/generated", "acc/heldout")
    return [{k: r.get(k) for k in keep} for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_fsdp_run_resumes_from_data_parallel_and_in_one_process(tmp_path):
    whole, mixed = tmp_path / "whole", tmp_path / "mixed"
    out = _train(whole, 3, "train.fsdp=true")
    assert "step    3/3" in out
    _train(mixed, 2)                                  # plain data parallel: optimizer state saved by index
    out = _train(mixed, 3, "train.fsdp=true")         # ... resumed sharded: state mapped by parameter name
    assert "resuming" in out and "from step 2" in out
    assert _rows(mixed) == _rows(whole)
    a, b = load_file(str(whole / "final" / "model.safetensors")), load_file(str(mixed / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff < 1e-5, diff

    # the sharded run's checkpoint (weights unsharded, optimizer state by name) resumes in one plain process
    state = checkpoint.load_state(whole / "checkpoints" / "step-3")
    assert all(isinstance(k, str) for k in state["optimizer"]["state"])
    logs = []
    cfg = load_config(None, SMALL + [f"out={whole}", "train.steps=4", "train.fsdp=true"])
    result = rl.train(cfg, log=logs.append)   # without torchrun train.fsdp shards nothing
    assert result["steps"] == 4 and any("from step 3" in str(x) for x in logs)
    assert any("nothing to shard" in str(x) for x in logs)


def test_optimizer_state_by_name_round_trip():
    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(input_ids=torch.randint(10, 60, (2, 5))).logits.sum().backward()
    opt.step()
    saved = opt.state_dict()
    named = fsdp.by_name(saved, [n for n, _ in model.named_parameters()])
    assert named["param_groups"][0]["params"][0] == "model.embed_tokens.weight"
    assert fsdp.by_index(named, [n for n, _ in model.named_parameters()]) == saved
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)
    fsdp.load_optim_state(model, fresh, named)
    back = fresh.state_dict()
    assert back["state"].keys() == saved["state"].keys()
    assert all(torch.equal(back["state"][i]["exp_avg_sq"], saved["state"][i]["exp_avg_sq"]) for i in saved["state"])


@pytest.mark.parametrize("extra, key", [(["model.lora_r=4"], "model.lora_r"),
                                        (["rollout.backend=server"], "rollout.backend=server")])
def test_fsdp_refuses_what_it_does_not_support(tmp_path, extra, key):
    cfg = load_config(None, [f"out={tmp_path}", "train.fsdp=true", *extra])
    with pytest.raises(ConfigError, match=f"train.fsdp.*{key}"):
        rl._check_fsdp(cfg)
