"""The math grader measured against graders nobody here wrote: other projects' own equivalence test
cases (external_math_cases.jsonl, repository/path/commit per case), and a table of wrong answers
that lenient graders accept (adversarial_math.jsonl), every one of which must be rejected."""
import importlib.util
import json
import logging
import re
from pathlib import Path

import pytest

from reasonrl.types import Sample
from reasonrl.verifiers import answer_rewards
from reasonrl.verifiers.answer import boxed_spans
from reasonrl.verifiers.grading import grade_math_responses
from reasonrl.verifiers.mathcheck import as_number, init_worker
from reasonrl.verifiers.pool import WorkerPool

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("math_grader_agreement", ROOT / "bench" / "math_grader_agreement.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(workers=2, timeout_s=10.0, initializer=init_worker) as p:
        yield p


def _math_verify(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    return bool(verify(parse("\\boxed{" + gold + "}"), parse(response)))


def test_external_cases_are_recorded_with_their_source():
    cases = _bench().load_cases()
    assert len(cases) >= 300 and len({c["source_repo"] for c in cases}) >= 5
    for c in cases:
        assert re.fullmatch(r"[0-9a-f]{40}", c["commit"]) and c["path"] and isinstance(c["label"], bool), c["id"]
    assert all(len(c["dispute"]) > 40 for c in cases if "dispute" in c)


@pytest.fixture(scope="module")
def ours(pool):
    bench = _bench()
    cases = bench.load_cases()
    return cases, bench.reasonrl_verdicts(cases, pool=pool)


def _marked_agreement(cases, verdicts) -> float:
    marked = [(c, v) for c, v in zip(cases, verdicts) if not c.get("unmarked")]
    return sum(v == c["label"] for c, v in marked) / len(marked)


def test_external_agreement_and_no_false_positive(ours):
    cases, verdicts = ours
    classes = [_bench().classify(c, v) for c, v in zip(cases, verdicts)]
    assert classes.count("false positive") == 0
    # every false negative is a known, explained one (its cause recorded beside the case)
    assert [c["id"] for c, k in zip(cases, classes) if k == "false negative"] == [
        c["id"] for c in cases if c.get("reasonrl_miss")]
    assert _marked_agreement(cases, verdicts) >= 0.97
    assert sum(v == c["label"] for c, v in zip(cases, verdicts)) / len(cases) >= 0.92
    # an answer only implied by prose is refused, never scored on a guess
    assert not any(v for c, v in zip(cases, verdicts) if c.get("unmarked"))


@pytest.mark.slow
def test_external_agreement_ahead_of_plain_math_verify(ours):
    cases, verdicts = ours
    theirs = _bench().math_verify_verdicts(cases)
    assert _marked_agreement(cases, verdicts) > _marked_agreement(cases, theirs)


def _rows(name: str) -> list[dict]:
    with (HERE / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _lenient(name: str, gold: str, response: str) -> bool:
    """The lenient graders named in adversarial_math.jsonl."""
    if name == "last_number":
        found = re.findall(r"-?\d+(?:\.\d+)?", response)
        return bool(found) and as_number(found[-1]) == as_number(gold)
    if name == "first_box":
        spans = boxed_spans(response)
        return bool(spans) and _math_verify(gold, "\\boxed{" + spans[0][2] + "}")
    return _math_verify(gold, response)


def test_adversarial_table_every_wrong_answer_is_rejected(pool):
    rows = _rows("adversarial_math.jsonl")
    assert len(rows) >= 20
    for r in rows:   # each is a real hole in some lenient grader ...
        assert any(_lenient(n, r["gold"], r["response"]) for n in r["accepted_by"]), r
    graded = grade_math_responses([r["response"] for r in rows], [r["gold"] for r in rows], pool=pool)
    accepted = [(r["response"], v.reason) for r, v in zip(rows, graded) if v.status == "correct"]
    assert accepted == []    # ... and none earns credit from `reasonrl verify`
    rewards = answer_rewards([f"<think>work</think>{r['response']}" for r in rows],
                             [Sample("q", r["gold"], verifier="math") for r in rows])
    assert [v.score for v in rewards] == [0.0] * len(rows)    # nor from the RL reward
