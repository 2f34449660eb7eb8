"""Countdown and arithmetic verifiers: the safe evaluator, and every real countdown problem solved."""
import itertools

import pytest

from _vdata import read_rows
from reasonrl.types import Sample
from reasonrl.verifiers import answer_reward
from reasonrl.verifiers.countdown import ExprError, arithmetic_verifier, countdown_verifier, parse_expr

ROW = {"nums": [30, 100, 93]}   # countdown-cd3-test-0, target 23


@pytest.mark.parametrize("pred, status, why", [
    ("100 - 93 + 30", "wrong", "100-93+30 = 37, not 23"),
    ("30 - (100 - 93)", "correct", "30 - 7 = 23"),
    ("30-(100-93) = 23", "correct", "an '= target' tail is allowed"),
    ("30-(100-93) = 24", "wrong", "the written result must be the value"),
    ("30 - 7", "wrong", "7 is not a given number"),
    ("30 - (100 - 93) + 0", "wrong", "0 is not a given number either"),
    ("30-(100-93)*1", "wrong", "extra numbers are not allowed"),
    ("30 - 100 + 93", "correct", "-70 + 93 = 23, each number once"),
    ("(30 + 93) - 100", "correct", "123 - 100 = 23"),
    ("-(100-93)+30", "unparseable", "unary minus makes a new number"),
    ("30 ** 2", "unparseable", "powers are not allowed"),
    ("__import__('os').system('x')", "unparseable", "never evaluated: names are rejected"),
    ("30 / (100 - 100)", "wrong", "a number used twice; also a division by zero"),
    ("", "unparseable", "empty"),
])
def test_countdown_cases(pred, status, why):
    assert countdown_verifier(pred, 23, ROW).status == status, why


def test_countdown_exact_fractions():
    # 6 / (1 - 3/4) = 24 exactly; floats would give 23.999999999999996
    assert countdown_verifier("6 / (1 - 3 / 4)", 24, {"nums": [6, 1, 3, 4]}).status == "correct"
    assert countdown_verifier("1 / 0 + 2", 3, {"nums": [1, 0, 2]}).reason == "division by zero"


def test_bounded_size():
    with pytest.raises(ExprError, match="longer than"):
        parse_expr("1+" * 150 + "1", unary=False)


def _solve(nums: list[int], target: int) -> str | None:
    """Brute force: every ordering, operator choice and bracketing of 3 numbers."""
    for a, b, c in itertools.permutations(nums):
        for o1, o2 in itertools.product("+-*/", repeat=2):
            for expr in (f"({a}{o1}{b}){o2}{c}", f"{a}{o1}({b}{o2}{c})"):
                try:
                    if abs(eval(expr) - target) < 1e-9:   # test-side only, on our own strings
                        return expr
                except ZeroDivisionError:
                    pass
    return None


def test_every_real_countdown_problem_has_a_verified_solution():
    rows = read_rows("countdown/countdown_cd3_test.jsonl")
    bad = []
    for r in rows:
        expr = _solve(r["nums"], r["target"])
        s = Sample(f"{r['nums']} -> {r['target']}", str(r["target"]), verifier="countdown", meta={"nums": r["nums"]})
        v = answer_reward(f"<think>search</think><answer>{expr}</answer>", s)
        wrong = answer_reward(f"<think>search</think><answer>{r['nums'][0]}</answer>", s)
        if v.status != "correct" or wrong.status != "wrong":
            bad.append((r["id"], expr, v.reason, wrong.reason))
    assert len(rows) == 256 and bad == []


@pytest.mark.parametrize("pred, gold, status", [
    ("7", "7", "correct"), ("3 + 4", "7", "correct"), ("-2.5", "-5/2", "correct"), ("1,000", "1000", "correct"),
    ("3 + 3", "7", "wrong"), ("seven", "7", "unparseable"),
])
def test_arithmetic(pred, gold, status):
    assert arithmetic_verifier(pred, gold).status == status


def test_arithmetic_bad_gold_is_not_scored():
    v = arithmetic_verifier("1", "x + 1")
    assert (v.score, v.status) == (None, "error")
