"""Per-step response-length telemetry: percentiles, the share between two lengths, the mean per
difficulty level and the scratchpad shares of a walk batch."""
from types import SimpleNamespace

import pytest
import torch

from reasonrl.report.telemetry import length_percentiles, length_telemetry, mean_by_level, share_between
from reasonrl.tasks.walk import WalkTask, direct_response, partial_response, worked_response


def test_length_percentiles_interpolate_linearly():
    # 5 sorted values, position (5 - 1) * q: p10 at 0.4 -> 6 + 0.4 * (10 - 6) = 7.6; p50 at 2 -> 20;
    # p90 at 3.6 -> 30 + 0.6 * (34 - 30) = 32.4
    got = length_percentiles([30, 6, 20, 34, 10])
    assert got == pytest.approx({"len/p10": 7.6, "len/p50": 20.0, "len/p90": 32.4}, abs=1e-12)
    assert length_percentiles([]) == {}


def test_share_between_is_strict():
    assert share_between([6, 7, 25, 29, 20], 6, 29) == 3 / 5      # 7, 25, 20; the ends 6 and 29 are out
    assert share_between([], 6, 29) == 0.0


def test_mean_by_level_needs_two_levels():
    assert mean_by_level([10, 20, 30], ["terms=3", "terms=3", "terms=5"], "len") == \
        {"len/terms=3": 15.0, "len/terms=5": 30.0}
    assert mean_by_level([10, 20], ["terms=3", "terms=3"], "len") == {}
    assert mean_by_level([10, 20], [None, None], "len") == {}


def test_length_telemetry_of_a_walk_batch():
    task = WalkTask(2, min_terms=4, max_terms=5, pad_terms=5)
    a, b = task.heldout()                                   # a 4-term and a 5-term problem
    texts = [worked_response(a.meta["values"]), direct_response(a.meta["values"][-1]),
             partial_response(b.meta["values"], 2), worked_response(b.meta["values"])]
    lens = [13, 6, 10, 15]                                  # 2n + 5 for worked; partial: 4 tags + 3 + 1 + end
    mask = torch.zeros(4, 15)
    for i, n in enumerate(lens):
        mask[i, :n] = 1
    batch = SimpleNamespace(gen=SimpleNamespace(completion_mask=mask, texts=texts), samples=[a, b], group_size=2)
    m = length_telemetry(batch, task, band=(6, 15))
    # sorted 6, 10, 13, 15: p50 at 1.5 -> 11.5; levels: (13 + 6) / 2 and (10 + 15) / 2
    assert m["len/p50"] == 11.5 and m["len/terms=4"] == 9.5 and m["len/terms=5"] == 12.5
    assert m["len/intermediate"] == 2 / 4                   # 10 and 13 lie strictly between 6 and 15
    assert m["scratch/partial"] == 1 / 4                    # only the 2-of-5 scratchpad
    assert m["scratch/fraction"] == pytest.approx((1 + 0 + 2 / 5 + 1) / 4, abs=1e-12)
    # per level: 4 terms (13, 6) -> p10 = 6 + 0.1 * 7 = 6.7, p50 9.5, p90 12.3; 5 terms (10, 15) -> 10.5, 12.5, 14.5
    assert [m[f"len/p{q}/terms=4"] for q in (10, 50, 90)] == pytest.approx([6.7, 9.5, 12.3], abs=1e-12)
    assert [m[f"len/p{q}/terms=5"] for q in (10, 50, 90)] == pytest.approx([10.5, 12.5, 14.5], abs=1e-12)
    # shares written 1, 0, .4, 1: sorted 0, .4, 1, 1 -> p10 = .12, p50 = .7, p90 = 1
    assert [m[f"scratch/p{q}"] for q in (10, 50, 90)] == pytest.approx([0.12, 0.7, 1.0], abs=1e-12)
    assert m["scratch/partial/terms=4"] == 0 and m["scratch/partial/terms=5"] == 0.5
    assert m["scratch/fraction/terms=4"] == 0.5 and m["scratch/fraction/terms=5"] == pytest.approx(0.7, abs=1e-12)
    assert "len/intermediate" not in length_telemetry(batch, None)


def test_recheck_rates_condition_on_the_first_guess():
    from reasonrl.report.telemetry import recheck_rates

    # guesses: right, wrong, none, wrong, right; re-checked: no, yes, yes, no, yes
    # P(re-check | wrong) = 1 of 2; P(re-check | right) = 1 of 2; rate over all 5 = 3 / 5
    m = recheck_rates([True, False, None, False, True], [False, True, True, False, True])
    assert m == {"recheck/given_wrong": 0.5, "recheck/given_right": 0.5, "recheck/gap": 0.0, "recheck/rate": 0.6}
    m = recheck_rates([False, False, None], [True, True, False])
    assert m["recheck/given_wrong"] == 1.0 and m["recheck/given_right"] is None and m["recheck/gap"] == 0.0


def test_guess_telemetry_of_a_walk_batch():
    from reasonrl.report.telemetry import guess_telemetry
    from reasonrl.tasks.walk import recheck_response

    task = WalkTask(1)
    s = task.heldout()[0]
    v = s.meta["values"]
    wrong = (v[-1] + 1) % 10
    texts = [recheck_response(v, wrong), recheck_response(v, v[-1]), direct_response(v[-1]), direct_response(wrong)]
    batch = SimpleNamespace(gen=SimpleNamespace(texts=texts), samples=[s], group_size=4)
    # wrong guesses: the first (re-checked) and the last (not); right: the second (re-checked) and third (not)
    assert guess_telemetry(batch, task) == {"recheck/given_wrong": 0.5, "recheck/given_right": 0.5,
                                            "recheck/gap": 0.0, "recheck/rate": 0.5}
    assert guess_telemetry(batch, None) == {}


def test_guess_telemetry_per_level():
    from reasonrl.report.telemetry import guess_telemetry
    from reasonrl.tasks.walk import recheck_response, worked_response

    task = WalkTask(2, min_terms=4, max_terms=5, pad_terms=5)
    a, b = task.heldout()                                   # a 4-term and a 5-term problem
    va, vb = a.meta["values"], b.meta["values"]
    texts = [recheck_response(va, va[-1]), direct_response((va[-1] + 1) % 10),       # 4 terms: re-checked right guess, wrong terse
             worked_response(vb), direct_response(vb[-1])]                            # 5 terms: no guess, right terse
    batch = SimpleNamespace(gen=SimpleNamespace(texts=texts), samples=[a, b], group_size=2)
    m = guess_telemetry(batch, task)
    assert m["recheck/rate/terms=4"] == 0.5 and m["recheck/rate/terms=5"] == 0.0
    assert m["recheck/guess_acc/terms=4"] == 0.5 and m["recheck/guess_acc/terms=5"] == 1.0   # the worked answer has no guess
