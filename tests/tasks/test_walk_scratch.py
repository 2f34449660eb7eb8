"""Walk scratchpads measured: partial scratchpads, how many running values a completion writes, the
share of its problem's values, and the terse/full answer lengths in tokens."""
import random

import pytest

from reasonrl.models import build_char_tokenizer
from reasonrl.tasks.walk import (WalkTask, direct_response, make_problem, partial_response, scratch_values,
                                 worked_response)


def test_partial_response_writes_the_first_j_values_then_the_final_answer():
    assert partial_response([5, 3, 3, 1], 2) == "<think>5,3</think><answer>1</answer>"
    assert partial_response([5, 3, 3, 1], 3) == "<think>5,3,3</think><answer>1</answer>"


@pytest.mark.parametrize("completion,n", [
    ("<think>5,3,3,1</think><answer>1</answer>", 4), ("<think>5,3</think><answer>1</answer>", 2),
    ("<think></think><answer>1</answer>", 0), ("<think> </think><answer>1</answer>", 0), ("1", 0),
    ("<think>7</think><answer>7</answer>", 1)])
def test_scratch_values_counts_the_running_values(completion, n):
    assert scratch_values(completion) == n


def test_scratch_fraction_is_the_share_of_the_problems_values():
    task = WalkTask(4, min_terms=4, max_terms=4)
    s = task.heldout()[0]
    values = s.meta["values"]                        # 4 running values
    assert task.scratch_fraction(worked_response(values), s) == 1.0
    assert task.scratch_fraction(partial_response(values, 1), s) == 0.25      # 1 of 4
    assert task.scratch_fraction(partial_response(values, 3), s) == 0.75      # 3 of 4
    assert task.scratch_fraction(direct_response(values[-1]), s) == 0.0
    assert task.scratch_fraction("<think>1,2,3,4,5,6</think><answer>6</answer>", s) == 1.0   # capped


def test_length_band_in_tokens():
    tok = build_char_tokenizer()
    # terse: <think> </think> <answer> d </answer> + end = 6 tokens; full worked answer of n terms:
    # 4 tags + n digits + (n - 1) commas + 1 answer digit + end = 2n + 5 (25 for 10 terms, 29 for 12)
    assert WalkTask(4).length_band(tok) == (6, 25)
    assert WalkTask(4, min_terms=3, max_terms=12, pad_terms=12).length_band(tok) == (6, 29)
    _, values = make_problem(random.Random(0), 7)
    assert len(tok(worked_response(values), add_special_tokens=False).input_ids) + 1 == 2 * 7 + 5


def test_recheck_response_and_first_guess():
    from reasonrl.tasks.walk import first_guess, recheck_response

    assert recheck_response([5, 3, 1], 7) == "<think>7 wait 5,3,1</think><answer>1</answer>"
    assert first_guess(recheck_response([5, 3, 1], 7)) == ("7", True)
    assert first_guess(direct_response(4)) == ("4", False)            # a terse answer is a guess not re-checked
    assert first_guess(worked_response([5, 3, 1])) == (None, False)   # worked: no guess first
    assert first_guess("garbage") == (None, False)
    task = WalkTask(4)
    assert task.first_pass_answer(recheck_response([5, 3, 1], 7)) == "7"
    assert task.first_pass_answer(direct_response(4)) is None         # no re-check: no first pass (telemetry)


def test_guess_first_style_reads_the_guess_before_the_choice():
    from reasonrl.tasks.walk import GUESS_MARK, first_guess, guess_response, recheck_response, scratch_values, style

    kept, checked = guess_response(7), recheck_response([5, 3, 1], 7, GUESS_MARK)
    assert kept == "<think>7?</think><answer>7</answer>" and checked == "<think>7? wait 5,3,1</think><answer>1</answer>"
    assert first_guess(kept) == ("7", False) and first_guess(checked) == ("7", True)
    # a kept guess is a terse answer: no running values written, style 'direct'
    assert (style(kept), scratch_values(kept)) == ("direct", 0)
    assert (style(checked), scratch_values(checked)) == ("worked", 3)
    # a one-value scratchpad without the mark stays a scratchpad
    assert (style(worked_response([5])), scratch_values(worked_response([5])), first_guess(worked_response([5]))) == \
        ("worked", 1, (None, False))
    assert WalkTask(4).first_pass_answer(checked) == "7" and WalkTask(4).first_pass_answer(kept) is None


def test_completion_tokens_counts_the_sampled_ids():
    from types import SimpleNamespace

    from reasonrl.tasks.walk import completion_tokens

    assert completion_tokens(SimpleNamespace(completion_ids=(5, 6, 7))) == 3.0
    assert completion_tokens(SimpleNamespace(completion_ids=None)) == 0.0
