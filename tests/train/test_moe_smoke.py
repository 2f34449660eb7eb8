"""Smoke test: `reasonrl train` on a tiny random Qwen3-MoE folder (tests/models/_families.py) logs the
router telemetry every step, and with rollout.routing_replay=true the trainer's logprobs equal the
fast sampler's (the experts it chose are replayed)."""
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _families import save_family  # noqa: E402

from reasonrl.cli import main  # noqa: E402

RUN = ["train.steps=2", "train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=6",
       "eval.size=2", "eval.every=0", "eval.sampled=false", "train.checkpoint_every=100", "train.threads=1",
       "train.log_rollouts=0", "algo.skip_zero_variance=false"]  # random weights: every reward is 0
MOE_KEYS = {"moe/load_max", "moe/load_max_layer", "moe/load_cv", "moe/router_entropy", "moe/dropped_tokens"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_family(tmp_path_factory.mktemp("moe") / "qwen3-moe", "qwen3-moe")


def _train(folder, out, *extra) -> list[dict]:
    assert main(["train", f"out={out}", f"model.path={folder}", *RUN, *extra]) == 0
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][1:]


def test_replay_run_logs_router_telemetry_and_matches_the_sampler(folder, tmp_path):
    rows = _train(folder, tmp_path, "rollout.backend=fast", "rollout.routing_replay=true")
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert MOE_KEYS | {"moe/replay_flips"} <= set(r), sorted(r)
        # 4 experts, top-2: imbalance in [1, 4 / 2]; entropy in (0, log 4 = 1.386294]
        assert 1.0 <= r["moe/load_max"] <= 2.0 and 0.0 < r["moe/router_entropy"] <= 1.386295
        assert r["moe/dropped_tokens"] == 0.0
        # the update's single pass runs on the weights that sampled: replay changes no choice
        assert r["moe/replay_flips"] == 0.0 and r["rollout/logp_abs_diff"] < 1e-5


def test_telemetry_without_replay_on_the_hf_backend(folder, tmp_path):
    rows = _train(folder, tmp_path, "train.steps=1")
    assert MOE_KEYS <= set(rows[0]) and "moe/replay_flips" not in rows[0]
    assert torch.isfinite(torch.tensor(rows[0]["moe/load_cv"]))


def test_replay_with_a_server_backend_fails_at_start_in_one_line(folder, tmp_path, capsys):
    rc = main(["train", f"out={tmp_path}", f"model.path={folder}", *RUN, "rollout.backend=server",
               "rollout.routing_replay=true"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "\n" not in err and "config key 'rollout.routing_replay'" in err, err
