"""The code verifier: program extraction, test building, HumanEval and MBPP in the sandbox."""
import pytest

from _vdata import read_rows
from reasonrl.types import Sample
from reasonrl.verifiers import answer_reward
from reasonrl.verifiers.codecheck import build_job, code_check_many, code_check_one, extract_code
from reasonrl.verifiers.settings import configure, current


@pytest.mark.parametrize("text, code, reason", [
    ("<think>plan</think>\n```python\ndef f():\n    return 1\n```\n", "def f():\n    return 1\n", "last ```python block"),
    ("```python\nx = 1\n```\nthen\n```py\nx = 2\n```", "x = 2\n", "last ```python block"),
    ("<think>p</think><answer>\ndef f(): return 2\n</answer>", "def f(): return 2", "<answer> block"),
    ("    return x + 1\n", "    return x + 1", "whole completion"),
])
def test_extract_code(text, code, reason):
    assert extract_code(text) == (code, reason)


def test_extract_code_unclosed_think():
    assert extract_code("<think>```python\nx=1\n```") == (None, "unclosed <think> block")


def test_build_job_groups_setup_statements_with_the_next_assert():
    gold = "def check(candidate):\n    import math\n    x = 2\n    assert candidate(x) == 3\n    assert candidate(0) == 1\n"
    job = build_job("    return x + 1\n", gold, {"entry_point": "f", "prompt": "def f(x):\n"})
    assert job["tests"] == ["import math\nx = 2\nassert candidate(x) == 3", "assert candidate(0) == 1"]
    assert job["code"] == "def f(x):\n    return x + 1\n"   # a body is appended to the prompt
    with pytest.raises(ValueError, match="entry_point"):
        build_job("", gold, {})


def test_pass_fraction_and_all_pass():
    tests = ["assert f(1) == 2", "assert f(2) == 3", "assert f(3) == 5", "assert f(4) == 7"]
    code = "def f(x):\n    return x + 1\n"
    assert code_check_one(code, tests, {}, score_mode="fraction").score == 0.5     # 2 of 4 pass
    v = code_check_one(code, tests, {}, score_mode="all_pass")
    assert (v.score, v.status) == (0.0, "wrong") and v.reason.startswith("2/4 tests passed")


def test_humaneval_canonical_solutions_all_pass():
    """164/164 canonical solutions pass their own tests in the sandbox."""
    rows = read_rows("humaneval/HumanEval.jsonl")
    verdicts = code_check_many([r["canonical_solution"] for r in rows], [r["test"] for r in rows], rows)
    bad = [(r["task_id"], v.reason) for r, v in zip(rows, verdicts) if v.status != "correct"]
    assert len(rows) == 164 and bad == []


def test_humaneval_wrong_solutions_fail():
    rows = read_rows("humaneval/HumanEval.jsonl")[:8]
    verdicts = code_check_many(["    return None\n"] * len(rows), [r["test"] for r in rows], rows)
    assert [v.status for v in verdicts] == ["wrong"] * len(rows)


def test_mbpp_reference_code_passes_and_a_broken_copy_fails():
    rows = [r for r in read_rows("mbpp/mbpp.jsonl") if r["split"] == "test"][:10]
    good = code_check_many([r["code"] for r in rows], [r["test_list"] for r in rows], rows)
    assert [v.status for v in good] == ["correct"] * len(rows)
    broken = code_check_one(rows[0]["code"].replace("return", "return 0 *", 1), rows[0]["test_list"], rows[0])
    assert broken.status == "wrong"


def test_code_answer_reward_with_fraction_setting():
    old = current()
    try:
        configure(code_score="fraction")
        s = Sample("write f", "", verifier="code", meta={"answer": ["assert f(1) == 1", "assert f(2) == 3"]})
        v = answer_reward("<think>easy</think>\n```python\ndef f(x):\n    return x\n```", s)
        assert (v.score, v.status) == (0.5, "wrong")
    finally:
        configure(**old.__dict__)


def test_a_data_set_test_that_loops_runs_out_of_the_callers_process_and_times_out():
    from reasonrl.verifiers.sandbox import Limits

    v = code_check_one("def f(x):\n    return x\n", ["assert f(1) == 1", "while True:\n    pass"], {},
                       limits=Limits(wall_s=1.0, cpu_s=1))
    assert (v.score, v.status) == (0.0, "timeout") and "the judge" in v.reason


@pytest.mark.slow
def test_mbpp_reference_code_pass_rate():
    """971/974: three MBPP programs return or need objects of their own classes (Node, Pair), which
    never cross the sandbox wall; everything else passes under the trusted judge."""
    rows = read_rows("mbpp/mbpp.jsonl")
    verdicts = code_check_many([r["code"] for r in rows], [r["test_list"] for r in rows], rows)
    bad = sorted(r["task_id"] for r, v in zip(rows, verdicts) if v.status != "correct")
    assert len(rows) == 974 and bad == [367, 601, 927]
