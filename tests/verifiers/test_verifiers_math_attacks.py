"""Wrong or hedged math answers that an earlier version of reasonrl's own rules accepted (and that the
lenient graders of adversarial_math.jsonl do not), plus the correct answers those fixes must keep."""
import pytest

from reasonrl.types import Sample
from reasonrl.verifiers import answer_rewards
from reasonrl.verifiers.grading import grade_math_responses
from reasonrl.verifiers.mathcheck import init_worker, numeric_verdict, qualified
from reasonrl.verifiers.pool import WorkerPool

REJECTED = [  # (gold, response): each once scored correct
    ("3", "\\boxed{3.0000001}"),                          # a decimal more precise than its error
    ("1000000", "\\boxed{1000000.5}"),                    # within 1e-6 relative, but not a rounding
    ("100", "\\boxed{99.9999}"),
    ("123456789", "\\boxed{123456789.4}"),
    ("3", "\\boxed{3.000000000001}"),
    ("3", "The final answer is $3$ or $4$."),           # a hedge after the final-answer span
    ("3", "The answer is \\(3\\) or \\(4\\)."),
    ("5", "<answer>5</answer> Wait, no, it is 3."),      # an answer taken back after the block
    ("3", "\\boxed{3 \\text{ guess}}"),
]
KEPT = [  # (gold, response): correct answers next to the same rules
    ("\\frac{1}{3}", "\\boxed{0.333333}"),
    ("\\sqrt{2}", "\\boxed{1.414214}"),
    ("\\pi", "\\boxed{3.1415927}"),
    ("3", "Final Answer: The final answer is $3$. I hope it is correct."),
    ("3", "\\boxed{3}\n\nThis is because 1 + 2 = 3."),
    ("3", "\\boxed{3 \\text{ cm}}"),
    ("90", "The answer is 90 degrees."),
    ("4", "\\boxed{3} hmm, no: \\boxed{4}"),
]


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(workers=2, timeout_s=10.0, initializer=init_worker) as p:
        yield p


def _both(rows, pool):
    graded = grade_math_responses([r for _, r in rows], [g for g, _ in rows], pool=pool)
    import reasonrl.verifiers.mathcheck as mathcheck

    default, mathcheck._default_pool = mathcheck._default_pool, lambda: pool
    try:
        rewards = answer_rewards([f"<think>work</think>{r}" for _, r in rows],
                                 [Sample("q", g, verifier="math") for g, _ in rows])
    finally:
        mathcheck._default_pool = default
    return [v.status for v in graded], [v.score for v in rewards]


def test_attacks_score_nothing_and_correct_answers_still_do(pool):
    statuses, scores = _both(REJECTED, pool)
    assert [s == "correct" for s in statuses] == [False] * len(REJECTED)
    assert scores == [0.0] * len(REJECTED)
    statuses, scores = _both(KEPT, pool)
    assert statuses == ["correct"] * len(KEPT)
    assert scores == [1.0] * len(KEPT)


@pytest.mark.parametrize("gold,pred,ok", [
    ("1/3", "0.3333333", True),       # |1/3 - 0.3333333| = 3.3e-8 <= 5e-8 (half a unit in the 7th place)
    ("1/3", "0.3333334", False),      # 6.7e-8 > 5e-8
    ("0.333333", "\\frac13", True),   # the gold is the rounding: 3.3e-7 <= 5e-7
    ("2.5", "2.50", True),
    ("3", "3.0000001", False),        # 1e-7 > 5e-8
    ("1000000.0", "1000000.9", False),
    ("0", "0.0000009", False),
])
def test_a_decimal_must_be_the_other_side_rounded(gold, pred, ok):
    assert numeric_verdict(gold=gold, pred=pred).status == ("correct" if ok else "wrong")


@pytest.mark.parametrize("pred,gold,refused", [
    ("3 \\text{ thousand}", "3", True),    # a scale word changes the value
    ("3 nope", "3", True),
    ("3 apples", "3", False),
    ("\\geq 3", "3", True),
    ("x \\geq 3", "x \\geq 3", False),
    ("3, \\ldots", "3", True),
    ("1, 2, \\ldots", "1, 2, \\ldots", False),
])
def test_qualified_values_are_refused_before_math_verify(pred, gold, refused):
    assert bool(qualified(pred, gold)) == refused
