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


@pytest.mark.parametrize("arg, key", [("partial_stop=1.5", "'partial_stop' must be in [0, 1]"),
                                      ("partial_stop=-0.1", "'partial_stop' must be in [0, 1]"),
                                      ("guess_first=maybe", "guess_first")])
def test_new_corpus_keys_reject_bad_values_in_one_line(tmp_path, capsys, arg, key):
    assert main(["pretrain", f"out={tmp_path / 'b'}", arg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0], err
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


def test_guess_first_corpus_writes_the_marked_guess_in_both_styles():
    from reasonrl.tasks.walk import GUESS_MARK, guess_response, recheck_response

    tok = build_char_tokenizer()
    for worked, make in ((False, lambda v: guess_response(v[-1])),
                         (True, lambda v: recheck_response(v, v[-1], GUESS_MARK))):
        ids, _ = _batch(tok, random.Random(4), 3, worked=worked, terms=4, recheck=worked, guess_first=True)
        rng = random.Random(4)
        for row in ids.tolist():
            prompt, values = make_problem(rng, 4)
            assert row == [tok.bos_token_id] + tok(prompt + make(values), add_special_tokens=False).input_ids + \
                [tok.eos_token_id]
    assert load_config(None, ["guess_first=true"], cls=PretrainConfig).guess_first is True


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


def test_partial_count_is_uniform_without_a_stop_chance_and_geometric_with_one():
    from reasonrl.train.pretrain import partial_count

    rng, replay = random.Random(5), random.Random(5)
    assert [partial_count(rng, 6) for _ in range(20)] == [replay.randint(1, 5) for _ in range(20)]
    assert {partial_count(rng, 6, stop=1.0) for _ in range(50)} == {0}          # always terse
    # stop 0.3 on 4 terms: P(0) = .3, P(1) = .7 * .3 = .21, P(2) = .147, P(3) = .1029, P(4 = full) = .7**4 = .2401
    rng = random.Random(0)
    draws = [partial_count(rng, 4, stop=0.3) for _ in range(20_000)]
    for j, p in ((0, 0.3), (1, 0.21), (2, 0.147), (3, 0.1029), (4, 0.2401)):
        assert abs(draws.count(j) / len(draws) - p) < 0.012, (j, draws.count(j) / len(draws))


def test_geometric_partial_rows_replay_their_draws():
    from reasonrl.train.pretrain import partial_count

    tok = build_char_tokenizer()
    from reasonrl.tasks.walk import direct_response

    ids, _ = _batch(tok, random.Random(2), 12, worked=True, terms=5, pad_terms=5, partial=True, partial_stop=0.4)
    rng, counts = random.Random(2), set()
    for row in ids.tolist():
        prompt, values = make_problem(rng, 5, 5)
        j = partial_count(rng, 5, 0.4)
        counts.add(j)
        resp = partial_response(values, j) if j else direct_response(values[-1])      # j = 0: the terse answer
        want = tok(prompt + resp, add_special_tokens=False).input_ids + [tok.eos_token_id]
        assert row[1:1 + len(want)] == want
    assert 0 in counts and len(counts) >= 3, counts


def test_pretrain_can_continue_from_the_embedded_base(tmp_path):
    import torch
    import yaml

    from reasonrl.models import load_model

    out = tmp_path / "cont"
    args = ["pretrain", f"out={out}", "init=embedded", "steps=1", "lr=1e-9", "warmup_steps=1", "eval_size=2",
            "gate_max_chunks=0", "min_terms=4", "pad_terms=10", "partial_share=1", "partial_stop=0.3", "threads=1"]
    assert main(args) in (0, 1)                 # 1: the 2-problem gate may fail; the base is written either way
    base, _ = load_model("embedded", device="cpu")
    cont, _ = load_model(out, device="cpu")
    assert cont.config.hidden_size == base.config.hidden_size == 128     # the init's shape, not hidden=...
    for (name, a), b in zip(base.named_parameters(), cont.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name        # one step at lr 1e-9: the embedded weights
    assert yaml.safe_load((out / "pretrain_config.yaml").read_text())["init"] == "embedded"


def test_pretrain_init_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    from reasonrl.models import save_tiny_family_model

    assert main(["pretrain", f"out={tmp_path / 'a'}", f"init={tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'init'" in err[0] and "does not exist" in err[0], err
    other = tmp_path / "llama"
    save_tiny_family_model(other, "llama")
    assert main(["pretrain", f"out={tmp_path / 'b'}", f"init={other}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "character tokenizer" in err[0], err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("recheck_only", [False, True])
def test_forced_worked_prefix_commits_to_a_scratchpad(monkeypatch, recheck_only):
    """The gate's forced prefix: '<think>v0,' (a comma, so neither a guess nor a one-value partial);
    for a re-check-only corpus a wrong guess re-checked, '<think>W wait v0,' (the answer must override W)."""
    from types import SimpleNamespace

    import torch

    import reasonrl.train.pretrain as pretrain
    from reasonrl.tasks.walk import WalkTask, worked_response

    seen = []

    class Fake:
        def __init__(self, *_):
            pass

        def generate(self, prompts, **_):
            seen.append(list(prompts))
            # every call answers with the full worked scratchpad's tail after the forced prefix
            texts = [worked_response(s.meta["values"]).split(",", 1)[1] for s in samples]
            return SimpleNamespace(texts=texts, completion_mask=torch.ones(len(prompts), 3))

    monkeypatch.setattr(pretrain, "HFBackend", Fake)
    samples = WalkTask(3, min_terms=4, max_terms=5, pad_terms=5).heldout()
    report = pretrain.evaluate_base(None, None, samples, recheck_only=recheck_only)
    forced = seen[1]
    for p, s in zip(forced, samples):
        v0, wrong = s.meta["values"][0], (int(s.answer) + 1) % 10
        assert p == s.prompt + (f"<think>{wrong} wait {v0}," if recheck_only else f"<think>{v0},")
    pretrain.evaluate_base(None, None, samples, recheck_only=True, mark="?")          # the guess-first style
    assert seen[-2][0] == samples[0].prompt + f"<think>{(int(samples[0].answer) + 1) % 10}? wait {samples[0].meta['values'][0]},"
    assert report["forced_worked_acc"] == 1.0          # the worked answer decides, not the guess
