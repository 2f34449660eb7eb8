"""Math equivalence: the hard-case table, reward-hacking canaries, timeouts as verdicts, and the gold
answers of MATH-500 and GSM8K against their own solutions."""
import pytest

from _vdata import read_rows
from reasonrl.types import Sample
from reasonrl.verifiers import answer_reward, extract_answer
from reasonrl.verifiers.answer import last_boxed
from reasonrl.verifiers.mathcheck import as_number, gold_problems, init_worker, math_check_many, math_equal
from reasonrl.verifiers.pool import WorkerPool

HARD_CASES = [  # (gold, prediction, strict, expected status, why)
    ("13", "\\text{13}", True, "correct", "\\text{} wrapper is not part of the value (Math-Verify#37)"),
    ("73", "**73**", True, "correct", "markdown bold, once parsed as `73**` (Math-Verify#76)"),
    ("10000", "10{,}000", True, "correct", "LaTeX thousands separator"),
    ("10000", "10,000", True, "correct", "plain thousands separator"),
    ("0.5", "1/2", True, "correct", "decimal vs slash fraction, exact"),
    ("1/2", "\\frac12", True, "correct", "short \\frac form"),
    ("\\frac12", "0.5", True, "correct", "\\frac vs decimal"),
    ("\\frac13", "0.3333333", True, "correct", "decimal within 1e-6 relative of 1/3"),
    ("\\frac13", "0.33", True, "wrong", "a rounded decimal is not 1/3"),
    ("2", "2.0", True, "correct", "integer vs decimal"),
    ("5", "x = 5", True, "correct", "an assignment's value"),
    ("(1,2]", "(1, 2]", True, "correct", "same half-open interval"),
    ("[1,2)", "(1,2)", True, "wrong", "closed vs open end"),
    ("(-\\infty, 2]", "(-\\infty,2]", True, "correct", "unbounded interval"),
    ("(1,2)", "(2,1)", True, "wrong", "order matters in a pair"),
    ("1, 2", "2, 1", True, "correct", "an unordered list of solutions is a set"),
    ("1331 and 1728", "1728", True, "wrong", "strict: a subset is not the answer (Math-Verify#47)"),
    ("1331 and 1728", "1728", False, "correct", "non-strict reproduces the overlap false positive"),
    ("1728", "1331 and 1728", True, "wrong", "a hedged pair is not a single answer"),
    ("5", "3 or 5 or 7", True, "wrong", "'A or B or C' hedging earns nothing"),
    ("B", "A or B or C", True, "wrong", "hedged multiple choice"),
    ("\\sqrt{2}/2", "\\frac{1}{\\sqrt2}", True, "correct", "symbolic equality"),
    ("5", "", True, "unparseable", "empty answer"),
    # number formats
    ("1000", "1\\,000", True, "correct", "thin space as thousands separator"),
    ("1000", "1\\!000", True, "correct", "negative thin space"),
    ("1000000", "1 000 000", True, "correct", "spaced thousands"),
    ("11111111100", "11,\\! 111,\\! 111,\\! 100", True, "correct", "MATH's `,\\!` grouping"),
    ("0.111", "0,111", True, "correct", "a leading 0 makes the comma a decimal comma"),
    ("2.74", "2,74", True, "correct", "decimal comma: gold is a decimal, 2 digits after the comma"),
    ("2.740", "2,740", True, "wrong", "ambiguous: 2,740 is two thousand seven hundred and forty"),
    ("274", "2,74", True, "wrong", "no decimal comma against an integer gold: 2,74 stays a list"),
    ("2.5", "+2.5", True, "correct", "explicit plus sign"),
    # units and words after the value
    ("17", "17\\text{ any text}", True, "correct", "text after the number (NeMo-Skills)"),
    ("15", "15\\mbox{ cm}^2", True, "correct", "a unit with an exponent"),
    ("125", "125 miles", True, "correct", "a unit word"),
    ("17", "17 or more", True, "wrong", "an open-ended bound is not a value"),
    ("28\\%", "28 percent", True, "correct", "percent written out"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\approx 0.577", True, "correct", "exact form, then an approximation"),
    # inequalities, intervals, matrices, ordered answers
    ("5", "x \\geq 5", True, "wrong", "an inequality is not its bound"),
    ("x \\geq 5", "x \\ge 5", True, "correct", "the same inequality"),
    ("[5, \\infty)", "x \\geq 5", True, "wrong", "strict: an interval is not matched to an inequality"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True,
     "correct", "the same matrix in another environment"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "4", True, "wrong", "a matrix is not its last entry"),
    ("(-6, 10)", "(10, -6)", True, "wrong", "coordinates match in order"),
    ("(1,2), (3,4)", "(3,4), (1,2)", True, "correct", "a list of solution pairs is a set; each pair is ordered"),
    ("3, 5, 7", "3, 5, 7", True, "correct", "all boxes joined: \\boxed{3}, \\boxed{5}, \\boxed{7}"),
    ("\\frac{639}{40}", "15\\frac{39}{40}, \\frac{639}{40}", True, "correct",
     "boxes joined by 'or' that all equal the gold (MATH-500 writes `\\boxed{15\\frac{39}{40}}, or \\boxed{..}`)"),
    ("5", "3, 5", True, "wrong", "`\\boxed{3} or \\boxed{5}`: a hedge is right only if every box is"),
]


@pytest.mark.parametrize("gold, pred, strict, status, why", HARD_CASES, ids=[c[4] for c in HARD_CASES])
def test_hard_cases(gold, pred, strict, status, why):
    v = math_equal(gold=gold, pred=pred, strict=strict)
    assert v.status == status, v.reason
    assert v.score == (1.0 if status == "correct" else 0.0)


def test_keyword_only_so_gold_and_prediction_cannot_be_swapped():
    with pytest.raises(TypeError):
        math_equal("5", "5")  # type: ignore[misc]


def test_numeric_path_is_exact_and_bounded():
    assert as_number("\\frac{-3}{4}") == as_number("-0.75")
    assert as_number("1e999999999") is None       # never expanded into a huge integer
    assert as_number("x^2") is None


@pytest.mark.parametrize("completion, why", [
    ("<think>x</think><answer></answer>", "empty answer block"),
    ("<think>x</think><answer>3 or 5 or 7</answer>", "hedged list"),
    ("<think>x</think><answer>1, 2, 3, 4, 5, 6, 7, 8, 9</answer>", "every candidate listed"),
    ("<think>x</think><answer>5</answer><answer>7</answer>", "repeated blocks: only the last is judged"),
    ("<think>the answer is \\boxed{5}", "unclosed think: a guess inside the reasoning"),
    ("<think>x</think> 1 2 3 4 5", "bare numbers: no last-number fallback in training"),
])
def test_reward_hacking_canaries_score_zero(completion, why):
    assert answer_reward(completion, Sample("q", "5", verifier="math")).score == 0.0


def test_timeout_is_its_own_verdict_and_the_pool_keeps_serving():
    with WorkerPool(workers=1, timeout_s=1.0, initializer=init_worker) as pool:
        slow = math_equal(gold="9^{9^{9^{9}}}", pred="5", pool=pool)   # sympy never finishes this
        assert slow.status == "timeout" and slow.score == 0.0
        assert pool.replaced == 1
        after = math_equal(gold="\\sqrt{4}", pred="2^1", pool=pool)
        assert after.status == "correct"


def test_unparseable_gold_is_never_scored():
    # math-verify keeps only the raw string of these: nothing to compare a prediction with
    v = math_equal(gold="-1./3", pred="-1./3")
    assert (v.score, v.status) == (None, "error")
    assert gold_problems(["12", "\\frac{", "\\sqrt{2}", ""]) == [
        "", "gold '\\\\frac{' does not parse", "", "gold '' does not parse"]


def test_math500_gold_equals_last_boxed_of_solution():
    """Every MATH-500 gold answer verifies against the last \\boxed{} of its own solution: 0 disagreements."""
    rows = read_rows("math500/test.jsonl")
    preds = [last_boxed(r["solution"]) for r in rows]
    assert all(p is not None for p in preds)
    verdicts = math_check_many(golds=[r["answer"] for r in rows], preds=preds)
    bad = [(r["id"], r["answer"], p, v.reason) for r, p, v in zip(rows, preds, verdicts) if v.status != "correct"]
    assert len(rows) == 500 and bad == []


def test_gsm8k_hash_answer_equals_gold():
    """Each GSM8K test solution's `####` answer verifies against `answer`: 0 disagreements. The 14 rows
    where the data set removed thousands separators ('2,125' -> '2125') are the separator case."""
    rows = read_rows("gsm8k/test.jsonl")
    preds = [extract_answer(r["original"]["answer"], ("hash",))[0] for r in rows]
    verdicts = math_check_many(golds=[r["answer"] for r in rows], preds=preds)
    bad = [(r["id"], p, v.reason) for r, p, v in zip(rows, preds, verdicts) if v.status != "correct"]
    assert len(rows) == 1319 and bad == []
    assert sum("," in p for p in preds) == 14
