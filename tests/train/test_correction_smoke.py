"""Smoke test: two steps of `reasonrl train` with each masking correction (algo.tis = token_mask |
sequence_mask | geo_mask) on the tiny default, plus the masked-share metrics by hand."""
import json

import pytest
import torch

from reasonrl.algo.tis import tis_weights
from reasonrl.cli import main
from reasonrl.config import AlgoConfig
from reasonrl.train.update import _summary, _tis_sums

MASKS = ("token_mask", "sequence_mask", "geo_mask")
TINY = ["train.steps=2", "train.prompts_per_step=4", "rollout.num_generations=4", "eval.every=0", "eval.size=2",
        "eval.sampled=false", "rollout.max_new_tokens=16", "rollout.backend=fast"]  # fast returns sampler logprobs


def _train(out, *extra) -> list[dict]:
    assert main(["train", f"out={out}", *TINY, *extra]) == 0
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][1:]


@pytest.mark.parametrize("level", MASKS)
def test_smoke_two_steps_with_each_mask(tmp_path, level):
    # the default band [0.5, 5] keeps every token: the fast sampler and the trainer differ by ~1e-7 nats
    rows = _train(tmp_path / "kept", f"algo.tis={level}")
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["rollout/logp_abs_diff"] < 1e-4 and "tis/capped" not in r
        assert r["tis/masked"] == 0.0 and r["tis/masked_seqs"] == 0.0
        assert r["tis/weight_mean"] == pytest.approx(1.0, abs=1e-4)
        assert torch.isfinite(torch.tensor(r["loss/policy"]))


def test_smoke_two_steps_band_that_drops_everything(tmp_path):
    # a band that excludes ratio 1 masks every token and every sequence: no KL (beta 0), so no gradient
    rows = _train(tmp_path, "algo.tis=sequence_mask", "algo.tis_low=1.5", "algo.tis_high=2.0", "algo.beta=0")
    updated = [r for r in rows if r["update/sequences"] > 0]
    assert updated, "no step trained: the smoke run proves nothing"
    for r in updated:
        assert (r["tis/masked"], r["tis/masked_seqs"], r["tis/weight_mean"]) == (1.0, 1.0, 0.0)
        assert r["loss/policy"] == 0.0 and r["grad_norm"] == 0.0


def test_masked_shares_by_hand():
    old = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -3.0]])
    samp = torch.tensor([[-1.5, -1.0, -0.5], [-0.8, -1.1, -9.0]])
    m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    sums = {"tis_sum": 0.0, "tis_capped": 0.0, "tis_masked": 0.0, "tis_masked_seqs": 0.0, "seqs": 0.0}
    # sequence_mask on [0.7, 3]: sequence 1 (R = 0.606531) is dropped, sequence 2 (R = 0.904837) kept
    _tis_sums(tis_weights(old, samp, m, level="sequence_mask", cap=2.0, low=0.7, high=3.0), m, 2.0, sums)
    # token_mask on [0.5, 1.5]: tokens 1.648721 and 0.367879 of sequence 1 are dropped
    _tis_sums(tis_weights(old, samp, m, level="token_mask", cap=2.0, low=0.5, high=1.5), m, 2.0, sums)
    assert sums["tis_masked"] == 3 + 2 and sums["tis_masked_seqs"] == 1 + 0 and sums["seqs"] == 4
    # weights over the loss tokens: 2 * 0.904837 + (1.0 + 0.818731 + 1.105171) = 4.733576
    assert sums["tis_sum"] == pytest.approx(4.733576, abs=1e-5)
    base = {"loss": 0.0, "kl_sum": 0.0, "tokens": 10.0, "ent_sum": 0.0, "clip/low": 0.0, "clip/high": 0.0,
            "ratio/max": 1.0, "ratio/min": 1.0, "mismatch": 0.0}
    out = _summary(dict(base, **sums), AlgoConfig(tis="token_mask", epochs=1, mini_batches=1, beta=0.0), [], True)
    assert out["tis/masked"] == pytest.approx(0.5) and out["tis/masked_seqs"] == pytest.approx(0.25)
    assert out["tis/weight_mean"] == pytest.approx(0.4733576, abs=1e-6) and "tis/capped" not in out
