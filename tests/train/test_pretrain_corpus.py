"""The pretraining corpus's partial scratchpads (`partial_share`): what a partial batch holds, and that
the default corpus (partial_share=0) is the one the embedded base was trained on."""
import random

import pytest

from reasonrl.cli import main
from reasonrl.config import PretrainConfig, load_config
from reasonrl.models import build_char_tokenizer
from reasonrl.tasks.walk import make_problem, partial_response
from reasonrl.train.pretrain import _batch


def test_partial_batch_rows_write_some_values_and_the_final_answer():
    tok = build_char_tokenizer()
    ids, labels = _batch(tok, random.Random(0), 8, worked=True, terms=5, pad_terms=6, partial=True)
    rng = random.Random(0)                       # replay the draws: problem, then j in 1..4
    for row, lab in zip(ids.tolist(), labels.tolist()):
        prompt, values = make_problem(rng, 5, 6)
        want = partial_response(values, rng.randint(1, 4))
        p = 1 + len(prompt)                      # <bos> + the 12 prompt characters
        r = tok(want, add_special_tokens=False).input_ids + [tok.eos_token_id]
        assert row[:p + len(r)] == [tok.bos_token_id] + tok(prompt, add_special_tokens=False).input_ids + r
        assert lab[:p] == [-100] * p and lab[p:p + len(r)] == r
        assert set(row[p + len(r):]) <= {tok.eos_token_id} and set(lab[p + len(r):]) <= {-100}   # padding


def test_full_and_terse_batches_get_no_padding():
    tok = build_char_tokenizer()
    # <bos> + 11 chain characters + '=' | worked answer of 6 terms: 2 * 6 + 5 = 17 tokens with the end token
    ids, labels = _batch(tok, random.Random(3), 4, worked=True, terms=6)
    assert ids.shape == (4, 1 + 12 + 17) and (labels[:, -1] == tok.eos_token_id).all()
    ids, labels = _batch(tok, random.Random(3), 4, worked=False, terms=6)     # terse: 6 tokens
    assert ids.shape == (4, 1 + 12 + 6) and (labels[:, -1] == tok.eos_token_id).all()
    assert load_config(None, [], cls=PretrainConfig).partial_share == 0.0


def test_partial_share_out_of_range_is_one_line(tmp_path, capsys):
    assert main(["pretrain", f"out={tmp_path / 'b'}", "partial_share=1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'partial_share' must be in [0, 1]" in err[0], err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_partial_share_bounds_are_legal(share):
    assert load_config(None, [f"partial_share={share}"], cls=PretrainConfig).partial_share == share


def test_recheck_batch_guesses_the_answer_then_works_it_out():
    from reasonrl.tasks.walk import recheck_response

    tok = build_char_tokenizer()
    ids, labels = _batch(tok, random.Random(1), 2, worked=True, terms=4, recheck=True)
    rng = random.Random(1)
    for row in ids.tolist():
        prompt, values = make_problem(rng, 4)
        want = [tok.bos_token_id] + tok(prompt + recheck_response(values, values[-1]),
                                        add_special_tokens=False).input_ids + [tok.eos_token_id]
        assert row == want


def test_the_shipped_small_base_is_what_its_config_says():
    import json
    from pathlib import Path

    import yaml
    from transformers import AutoModelForCausalLM

    import reasonrl
    from reasonrl.models import n_params

    folder = Path(reasonrl.__file__).parent / "assets" / "tiny-walk-small"
    cfg = yaml.safe_load((folder / "pretrain_config.yaml").read_text())
    assert (cfg["hidden"], cfg["layers"], cfg["heads"], cfg["intermediate"]) == (64, 2, 4, 192)
    report = json.loads((folder / "pretrain_report.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(folder)
    # vocab 103 x 64 (tied) + 2 layers x (attention 4 x 64 x 64 + biases 3 x 64 + MLP 3 x 64 x 192 + 2 norms x 64)
    # + final norm 64 = 6,592 + 2 x (16,384 + 192 + 36,864 + 128) + 64 = 113,792
    assert n_params(model) == report["params"] == 113_792 and report["gate_passed"]
