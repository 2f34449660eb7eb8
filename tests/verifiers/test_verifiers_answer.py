"""Answer extraction (each source, with its reason) and the answer reward's walk-task behaviour."""
import pytest

from reasonrl.types import Sample
from reasonrl.verifiers import VERIFIERS, answer_reward, exact_verifier, extract_answer
from reasonrl.verifiers.answer import last_boxed

ALL = ("answer", "boxed", "hash", "number")


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
