"""Answer extraction (each source, with its reason) and the answer reward's walk-task behaviour."""
import pytest

from reasonrl.types import Sample
from reasonrl.verifiers import VERIFIERS, answer_reward, exact_verifier, extract_answer
from reasonrl.verifiers.answer import last_boxed

ALL = ("answer", "boxed", "hash", "number")   # the sources this file was first written for


@pytest.mark.parametrize("text, answer, reason", [
    ("<think>x</think><answer> 42 </answer>", "42", "<answer> block"),
    ("<think>x</think>\n<answer>\nThe answer is $\\boxed{\\frac{1}{2}}$\n</answer>", "\\frac{1}{2}", "<answer> block, \\boxed{}"),
    ("<answer>1</answer><answer>2</answer>", "2", "<answer> block (last of 2)"),
    ("so \\boxed{1} or rather \\boxed{\\frac{a}{b^{2}}}.", "\\frac{a}{b^{2}}", "last \\boxed{}"),   # nested braces
    ("\\fbox{7}", "7", "last \\boxed{}"),
    ("\\boxed 5", "5", "last \\boxed{}"),
    ("She has 3 + 4 = 7.\n#### 1,234.", "1,234", "#### line"),
    ("so 3 apples, then 12,500 pears.", "12500", "last number (fallback)"),
    ("A: -0.75", "-0.75", "last number (fallback)"),
    ("the roots are 1,2,3", "3", "last number (fallback)"),      # commas only group thousands
])
def test_extract_answer_sources(text, answer, reason):
    assert extract_answer(text, ALL) == (answer, reason)


@pytest.mark.parametrize("text, reason", [
    ("<think>x</think><answer>  </answer>", "empty <answer> block"),
    ("<think>x</think><answer>5", "unclosed <answer> block"),
    ("<think>guess \\boxed{5} and still thinking", "unclosed <think> block"),   # a guess inside reasoning
    ("<think>x</think>\\boxed{}", "empty \\boxed{}"),
    ("no digits at all", "no <answer> block / \\boxed{} / #### line / number"),
])
def test_extract_answer_none(text, reason):
    assert extract_answer(text, ALL) == (None, reason)


def test_extract_only_after_think():
    # the boxed guess inside <think> is ignored; the final answer after </think> counts
    assert extract_answer("<think>maybe \\boxed{3}</think> final \\boxed{4}", ALL) == ("4", "last \\boxed{}")
    # with think=False the whole text is searched (the walk's legacy rule)
    assert extract_answer("<think>\\boxed{3}", ("boxed",), think=False) == ("3", "last \\boxed{}")


def test_last_boxed_unbalanced_falls_back_to_previous():
    assert last_boxed("\\boxed{1} then \\boxed{2") == "1"


def test_exact_verifier_walk_behaviour():
    walk = Sample("5-2+0=", "3")
    assert answer_reward("<think>5,3,3</think><answer>3</answer>", walk).score == 1.0
    assert answer_reward("<think></think><answer>4</answer>", walk).status == "wrong"
    v = answer_reward("<think>5,3,3</think>", walk)
    assert (v.score, v.status, v.reason) == (0.0, "unparseable", "no <answer> block")
    # the walk's rule searches the whole text (an unclosed think still has its answer judged)
    assert answer_reward("<think>5,3<answer>3</answer>", walk).score == 1.0
    assert answer_reward("<answer>3</answer>", walk).answer == "3"
    assert exact_verifier(" 3 ", "3").score == 1.0
    assert VERIFIERS["exact"]("3", "4").status == "wrong"


def test_unknown_verifier_is_an_error():
    with pytest.raises(KeyError, match="unknown verifier 'nope'"):
        answer_reward("<answer>1</answer>", Sample("p", "1", verifier="nope"))


def test_math_answer_reward_end_to_end():
    s = Sample("What is 1/2?", "\\frac12", verifier="math")
    good = answer_reward("<think>half</think><answer>$0.5$</answer>", s)
    assert (good.score, good.status, good.answer) == (1.0, "correct", "$0.5$")
    assert answer_reward("<think>half</think><answer>0.4</answer>", s).status == "wrong"
    # no last-number fallback in training: listing numbers earns nothing
    v = answer_reward("<think>0.5</think> it is 0.5", s)
    assert (v.score, v.status) == (0.0, "unparseable")


GRADE = ("answer", "boxed", "final", "hash", "whole")


@pytest.mark.parametrize("text, answer, reason", [
    ("\\boxed{3}, \\boxed{5}, \\boxed{7}", "3, 5, 7", "last 3 \\boxed{} together"),         # all boxes, in order
    ("$x = \\boxed{1}$ and $y = \\boxed{2}$", "1, 2", "last 2 \\boxed{} together"),
    ("So \\boxed{4}. Therefore \\boxed{4}.", "4", "last \\boxed{}"),                          # prose between: last
    ("\\boxed{4}, \\boxed{4}", "4", "last \\boxed{}"),                                        # repeats count once
    ("\\boxed{3} or \\boxed{7}", "3, 7", "last 2 \\boxed{} joined by 'or' (every one must be right)"),
    ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}", "final-answer phrase"),
    ("Final Answer: The final answer is $(-6,10)$. I hope it is correct.", "(-6,10)", "final-answer phrase"),
    ("Final Answer: The volume of $V$ is 120. I hope it is correct.", "120", "final-answer phrase"),
    ("first \\boxed{5} as a step; so the final answer is 7.", "7", "final-answer phrase"),  # later beats earlier
    ("the answer is 6, no wait: \\boxed{7}", "7", "last \\boxed{}"),
    ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5", "final-answer phrase"),
    ("Answer: $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$",
     "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "final-answer phrase"),
    ("Therefore the answer is -3", "-3", "final-answer phrase"),
    ("sold 13 * 2 = 26 eggs\nA: 26", "26", "final-answer phrase"),                            # GSM8K "A: n" line
    ("$[0,1)$", "[0,1)", "whole text is one math span"),
    ("1 000", "1 000", "whole text is one expression"),
    ("done\n#### 72", "72", "#### line"),
])
def test_grading_extraction(text, answer, reason):
    assert extract_answer(text, GRADE) == (answer, reason)


@pytest.mark.parametrize("text", [
    "So the probability is 1/3.",            # no marker: never the last number
    "x = 2/5 and that is all",
    "it could be 3 or 7",
    "We find that $x < 3$.",
    "I hope the answer is correct.",         # a phrase with no answer after it
    "The answer is not obvious at first",
    "Answer $ \n 9 \n $",                    # inline math does not cross a line break
])
def test_grading_extraction_needs_an_explicit_answer(text):
    answer, why = extract_answer(text, GRADE)
    assert answer is None and why.startswith("no <answer> block"), (answer, why)


def test_hedges_are_refused_even_by_the_fallback():
    assert extract_answer("it could be 3 or 7", ("number",)) == (
        None, "last sentence hedges between numbers (fallback refused)")
    assert extract_answer("So the probability is 1/3.", ("number",)) == ("1/3", "last number (fallback)")
    assert extract_answer("x = \\frac{2}{5}", ("number",)) == ("\\frac{2}{5}", "last number (fallback)")


def test_hash_needs_exactly_four_marks():
    assert extract_answer("\\boxed{25} garbage ###### x", GRADE) == ("25", "last \\boxed{}")


def test_a_colon_line_counts_only_as_the_closing_line():
    assert extract_answer("13 * 2 = 26\nA: 26\n", GRADE) == ("26", "final-answer phrase")
    # a multiple-choice listing is not an answer
    assert extract_answer("Options:\nA: 12\nB: 15", GRADE)[0] is None


def test_unclosed_boxes_are_matched_in_one_pass():
    # 30,000 unclosed boxes: each used to be scanned to the end of the text (quadratic)
    assert extract_answer("\\boxed{" * 30000 + "\\boxed{7}", GRADE) == ("7", "last \\boxed{}")
    assert last_boxed("a \\boxed{ b \\boxed{2} c") == "2"
