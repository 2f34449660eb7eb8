"""Cost ledger: token counts, FLOP estimates and pricing on hand-made steps."""
import json
from types import SimpleNamespace

import pytest
import torch

from reasonrl.report import cost
from reasonrl.train.update import plan
from reasonrl.types import Generations, RolloutBatch


def _batch():
    # 2 sequences: prompts of 3 and 2 real tokens, completions of 4 and 1 tokens; the second truncated
    gen = Generations(prompt_ids=torch.zeros(2, 3, dtype=torch.long),
                      prompt_mask=torch.tensor([[1, 1, 1], [0, 1, 1]]),
                      completion_ids=torch.zeros(2, 4, dtype=torch.long),
                      completion_mask=torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]]),
                      truncated=torch.tensor([False, True]), texts=["a", "b"])
    return RolloutBatch(samples=[], group_size=2, gen=gen, rewards=torch.zeros(2), components={},
                        advantages=torch.zeros(2), statuses=["correct", "wrong"])


def _algo(**kw):
    base = dict(beta=0.04, epochs=1, mini_batches=1, mask_truncated=False, skip_zero_variance=False)
    return SimpleNamespace(**{**base, **kw})


def test_step_cost_grpo_one_epoch_with_reference():
    b = _batch()
    c = cost.step_cost(b, plan(b, _algo()), n_params=10)
    # sequence tokens: 3+4 = 7 and 2+1 = 3 -> 10; loss tokens 4 + 1 = 5
    assert c["tokens/prompt"] == 5
    assert c["tokens/trained"] == 5
    assert c["flops/generate"] == 2 * 10 * 10          # 2 x params x tokens
    assert c["flops/logprobs"] == 2 * 10 * 10 * 1      # reference pass only
    assert c["flops/update"] == 6 * 10 * 10 * 1


def test_step_cost_epochs_masking_and_skipped_groups():
    b = _batch()
    c = cost.step_cost(b, plan(b, _algo(beta=0.0, epochs=2, mask_truncated=True)), n_params=10)
    assert c["tokens/trained"] == 8                    # truncated row masked: 4 loss tokens x 2 epochs
    assert c["flops/logprobs"] == 2 * 10 * 10          # old-policy pass only (2 epochs > 1)
    assert c["flops/update"] == 6 * 10 * 10 * 2
    # the one group has rewards (0, 0): zero variance, so nothing is trained; generation still costs
    skip = cost.step_cost(b, plan(b, _algo(skip_zero_variance=True)), n_params=10)
    assert skip["tokens/trained"] == 0 and skip["flops/update"] == 0 and skip["flops/generate"] == 200


def test_ledger_sums_and_prices():
    rows = [{"step": 0, "acc/heldout": 0.3},
            {"step": 1, "reward/mean": 0.1, "tokens/generated": 100, "tokens/prompt": 50, "tokens/trained": 90,
             "flops/generate": 1e6, "flops/logprobs": 2e6, "flops/update": 3e6, "time/generate_s": 10.0,
             "time/reward_s": 1.0, "time/logprobs_s": 2.0, "time/update_s": 5.0, "time/step_s": 18.0},
            {"step": 2, "reward/mean": 0.2, "tokens/generated": 200, "tokens/prompt": 50, "tokens/trained": 180,
             "flops/generate": 1e6, "flops/logprobs": 2e6, "flops/update": 3e6, "time/generate_s": 10.0,
             "time/update_s": 6.0, "time/eval_s": 20.0, "time/step_s": 36.0}]
    led = cost.ledger_from_metrics(rows, n_params=7, devices=2, price_per_hour=3.0)
    assert (led.steps, led.tokens_generated, led.tokens_prompt, led.tokens_trained) == (2, 300, 100, 270)
    assert led.flops_total == pytest.approx(12e6)
    # update = 5 - 2 + 6 = 9; other = (18 - 10 - 1 - 2 - 3) + (36 - 10 - 6 - 20) = 2 + 0
    assert led.seconds == {"generate": 20.0, "reward": 1.0, "logprobs": 2.0, "update": 9.0, "eval": 20.0,
                           "other": 2.0}
    assert led.wall_s == 54.0
    assert led.device_hours == pytest.approx(54 * 2 / 3600)        # 0.03
    assert led.usd == pytest.approx(0.03 * 3.0)
    text = cost.format_ledger(led)
    assert "147,000 GPU-h" in text and "$294,000 at $2/h" in text and "1 / 3.27e+06" in text   # 294000 / 0.09


def test_ledger_estimates_flops_without_flop_keys():
    rows = [{"step": 1, "reward/mean": 0.0, "tokens/generated": 10, "time/step_s": 1.0}]
    led = cost.ledger_from_metrics(rows, n_params=100)
    assert led.flops == {"generate": 2000.0, "logprobs": 0.0, "update": 6000.0}   # 2 x 100 x 10, 6 x 100 x 10
    assert led.notes and "estimated" in led.notes[0]
    assert "FLOPs unknown" in cost.ledger_from_metrics(rows).notes[0]


def test_params_from_safetensors_and_write(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(tmp_path / "model.safetensors"))
    assert cost.params_from_safetensors(tmp_path / "model.safetensors") == 17      # 12 + 5
    assert cost.params_from_safetensors(tmp_path / "missing.safetensors") is None
    led = cost.ledger_from_metrics([], n_params=17)
    data = json.loads(cost.write_ledger(tmp_path, led).read_text())
    assert data["n_params"] == 17 and data["r1_reference"]["gpu_hours"] == 147_000
