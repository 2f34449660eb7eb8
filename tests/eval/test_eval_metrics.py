"""reasonrl.eval.metrics: hand-computed values, brute force against the closed form, voting by equivalence."""
from fractions import Fraction
from itertools import combinations
from math import comb

import numpy as np
import pytest

from reasonrl.eval.metrics import (bootstrap_ci, default_ks, maj_at_k_rows, mean_rows, pass_at_k, pass_at_k_rows,
                                   summarize, vote)


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (the first c correct) holding at least one correct sample."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_hand_values():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-12)        # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(10, 3, 5) == pytest.approx(11 / 12, abs=1e-12)   # 1 - C(7,5)/C(10,5) = 1 - 21/252
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25, abs=1e-12)       # k = 1: c / n
    assert pass_at_k(8, 0, 3) == 0.0                                  # nothing correct
    assert pass_at_k(8, 6, 3) == 1.0                                  # n - c = 2 < k: every 3-subset hits


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_brute_force_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_k1_is_mean_and_kn_is_any_correct():
    correct = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]])
    assert pass_at_k_rows(correct, 1) == pytest.approx([0.5, 0.0, 0.25], abs=1e-12)
    assert pass_at_k_rows(correct, 4) == pytest.approx([1.0, 0.0, 1.0], abs=1e-12)


def test_pass_at_k_stable_for_large_n():
    exact = 1 - Fraction(comb(5000, 100), comb(10000, 100))           # exact rational, big integers
    assert pass_at_k(10000, 5000, 100) == pytest.approx(float(exact), abs=1e-12)
    assert pass_at_k(1024, 1, 1) == pytest.approx(1 / 1024, abs=1e-15)
    exact = 1 - Fraction(comb(1023, 7), comb(1024, 7))                # = 7/1024
    assert pass_at_k(1024, 1, 7) == pytest.approx(float(exact), abs=1e-15)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def numeric_same(a: str, b: str) -> bool:
    """A stand-in for the math verifier: equal as exact rationals."""
    def val(s):
        s = s.replace("\\frac12", "1/2")
        return Fraction(s)
    try:
        return val(a) == val(b)
    except (ValueError, ZeroDivisionError):
        return False


def test_vote_groups_equivalent_answers():
    # "1/2", "0.5" and "\frac12" are one class of 3; "3" has 2 votes; None does not vote
    answers = ["3", "1/2", "0.5", None, "3", "\\frac12"]
    assert vote(answers, numeric_same) == 1                           # the class's first member
    # without equivalence the three spellings split, and "3" (2 votes) would win
    assert vote(answers, lambda a, b: a == b) == 0


def test_vote_tie_goes_to_first_class_and_none_when_no_answer():
    assert vote(["0.5", "7", "1/2", "7"], numeric_same) == 0          # 2 vs 2: the earlier class
    assert vote([None, None], numeric_same) is None
    assert vote([], numeric_same) is None


def test_maj_at_k_rows_uses_first_k_samples_and_winner_verdict():
    answers = [["1/2", "0.5", "3", "3", "3"],                         # k=4: tie 2-2 -> "1/2" (correct); k=5: "3"
               [None, None, None, None, None],                        # nothing to vote on -> 0
               ["9", "0.25", "1/4", "8"]]                             # "1/4" class wins (2 votes)
    correct = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 0]])
    answers[2].append(None)
    assert maj_at_k_rows(answers, correct, 4, numeric_same) == pytest.approx([1, 0, 1], abs=0)
    assert maj_at_k_rows(answers, correct, 5, numeric_same) == pytest.approx([0, 0, 1], abs=0)


def test_bootstrap_ci_hand_cases():
    assert bootstrap_ci(np.array([0.3, 0.3, 0.3]), n_boot=200) == pytest.approx((0.3, 0.3), abs=1e-12)
    assert bootstrap_ci(np.array([0.0, 1.0]), n_boot=0) == (0.5, 0.5)
    # two problems: resampled means are 0 (p=1/4), 0.5 (p=1/2), 1 (p=1/4) -> 2.5%/97.5% quantiles 0 and 1
    assert bootstrap_ci(np.array([0.0, 1.0]), n_boot=4000, seed=1) == (0.0, 1.0)
    v = np.random.default_rng(0).random(50)
    lo, hi = bootstrap_ci(v, n_boot=500, seed=3)
    assert lo < v.mean() < hi and (lo, hi) == bootstrap_ci(v, n_boot=500, seed=3)


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(4) == [1, 2, 4]
    assert default_ks(6) == [1, 2, 4, 6]


def test_summarize_hand_values():
    correct = np.array([[1, 0, 0, 1], [0, 0, 0, 0]])
    answers = [["2", "5", "5", "2.0"], ["x", "y", None, "y"]]
    lengths = np.array([[10, 20, 30, 40], [4, 4, 4, 4]])
    truncated = np.array([[0, 0, 0, 1], [1, 1, 1, 1]])
    s = summarize(correct, answers, lengths, truncated, numeric_same, n_boot=0)
    assert s["problems"] == 2 and s["samples_per_problem"] == 4
    assert s["pass@1"]["value"] == pytest.approx(0.25, abs=1e-12)     # (2/4 + 0) / 2
    assert s["pass@2"]["value"] == pytest.approx(5 / 12, abs=1e-12)   # (1 - C(2,2)/C(4,2) + 0) / 2 = (5/6) / 2
    assert s["pass@4"]["value"] == pytest.approx(0.5, abs=1e-12)      # (1 + 0) / 2
    assert s["maj@4"]["value"] == pytest.approx(0.5, abs=1e-12)       # "2"="2.0" ties "5": "2" first, right; "y" wrong
    assert s["len_mean"]["value"] == pytest.approx(14.5, abs=1e-12)   # (25 + 4) / 2
    assert s["truncation_rate"]["value"] == pytest.approx(0.625, abs=1e-12)  # (1/4 + 1) / 2


def test_pass_at_k_error_message():
    with pytest.raises(ValueError, match=r"^pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n=4, c=5, k=1$"):
        pass_at_k(4, 5, 1)


def test_vote_skips_unparseable_samples_anywhere():
    # a None first must not stop the count: "3" has two votes against one for "5"
    assert vote([None, "5", "3", None, "3"], numeric_same) == 2
    assert vote([None, "7"], numeric_same) == 1


def test_vote_identical_strings_join_without_a_call():
    calls = []

    def never_same(a, b):
        calls.append((a, b))
        return False
    # "a" twice is one class of 2 (by its text) even though `same` says nothing is equal
    assert vote(["b", "a", "a"], never_same) == 1
    assert calls == [("b", "a")]


def test_mean_rows_is_per_problem():
    assert mean_rows(np.array([[1, 0, 0, 1], [1, 1, 1, 0]])).tolist() == [0.5, 0.75]


def _loop_bootstrap(values, n_boot, alpha, seed):
    """The percentile bootstrap with a plain loop over resamples (same random stream)."""
    idx = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    means = sorted(sum(values[j] for j in row) / len(values) for row in idx)
    return tuple(float(q) for q in np.quantile(means, [alpha / 2, 1 - alpha / 2]))


def test_bootstrap_ci_non_degenerate_against_loop():
    v = np.random.default_rng(7).random(40)
    for alpha, n_boot, seed in [(0.05, 300, 0), (0.2, 200, 4), (0.5, 1, 2)]:
        assert bootstrap_ci(v, n_boot=n_boot, alpha=alpha, seed=seed) == pytest.approx(
            _loop_bootstrap(v, n_boot, alpha, seed), abs=1e-12)
    lo, hi = bootstrap_ci(v, n_boot=500, alpha=0.1)
    # a real interval around the mean, about 2 * 1.645 * sd / sqrt(40) = 0.15 wide for uniform values
    assert lo < v.mean() - 0.03 and hi > v.mean() + 0.03 and 0.08 < hi - lo < 0.25
    # the defaults are 1000 resamples, alpha 0.05 and seed 0
    assert bootstrap_ci(v) == pytest.approx(_loop_bootstrap(v, 1000, 0.05, 0), abs=1e-12)


def test_bootstrap_ci_empty_and_single():
    lo, hi = bootstrap_ci(np.array([]))
    assert np.isnan(lo) and np.isnan(hi)
    assert bootstrap_ci(np.array([0.7]), n_boot=50) == (0.7, 0.7)


def test_default_ks_empty_for_no_samples():
    assert default_ks(0) == []


def test_summarize_honours_ks_n_boot_and_seed():
    rng = np.random.default_rng(1)
    correct = (rng.random((30, 4)) < 0.4).astype(int)
    answers = [[str(int(c)) for c in row] for row in correct]
    lengths, truncated = rng.integers(1, 50, (30, 4)), np.zeros((30, 4))
    s = summarize(correct, answers, lengths, truncated, numeric_same, ks=[3], n_boot=200, seed=5)
    assert [k for k in s if k.startswith("pass@")] == ["pass@1", "pass@3"]
    v = pass_at_k_rows(correct, 3)
    assert s["pass@3"] == {"value": pytest.approx(v.mean(), abs=1e-12),
                           "ci_low": bootstrap_ci(v, n_boot=200, seed=5)[0],
                           "ci_high": bootstrap_ci(v, n_boot=200, seed=5)[1]}
    assert s["pass@3"]["ci_low"] < s["pass@3"]["value"] < s["pass@3"]["ci_high"]
    # the defaults: every k of default_ks, 1000 resamples, seed 0
    d = summarize(correct, answers, lengths, truncated, numeric_same)
    assert [k for k in d if k.startswith("pass@")] == ["pass@1", "pass@2", "pass@4"]
    want = bootstrap_ci(lengths.mean(axis=1), n_boot=1000, seed=0)
    assert (d["len_mean"]["ci_low"], d["len_mean"]["ci_high"]) == want
