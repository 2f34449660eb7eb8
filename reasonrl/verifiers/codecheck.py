"""The code verifier: extract a program from a completion and run it against its tests in the sandbox.

Tests come in the two common shapes, taken from the gold field and the row:
  HumanEval  gold = test code defining `check(candidate)`, row['entry_point'] names the function;
             each assert of check's body is one test (statements without an assert join the next).
             A completion that does not define the entry point is appended to row['prompt'] (the
             HumanEval "continue the function" style).
  MBPP       gold = a list of assert statements (`test_list`), row['test_setup_code'] runs first.
  otherwise  gold = Python source; each top-level statement with an assert is one test.
Score (settings.code_score): all_pass -> 1 only if every test passes; fraction -> share passed.
The program runs in the sandbox and only answers calls; the tests, every comparison and the count
run in the trusted judge (judge.py), in verifier worker processes (pool.py).
Status: correct (every test passed on the trusted side) | wrong | timeout | output_limit (stdout+stderr
over the limit) | crashed (the program ended before answering every call: exit, signal, memory) |
violation (a malformed, out-of-order or oversized reply) | error (score None: the tests do not build,
the sandbox did not start, or code rewards are refused because no sealed sandbox exists here and
`code_allow_unsealed` is off). Every reason ends with the isolation level that was in force.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping

from reasonrl.types import Verdict
from reasonrl.verifiers.answer import think_region
from reasonrl.verifiers.sandbox import Limits

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def extract_code(completion: str) -> tuple[str | None, str]:
    """(program, reason): the last ```python block (after </think>), else the <answer> block, else
    the whole text; None when there is nothing."""
    region, why = think_region(completion)
    if region is None:
        return None, why
    blocks = _FENCE.findall(region)
    py = [b for lang, b in blocks if lang.lower() in ("python", "py", "python3", "")]
    if py:
        return py[-1], "last ```python block"
    ans = _ANSWER.findall(region)
    if ans and ans[-1].strip():
        return ans[-1].strip("\n"), "<answer> block"
    text = region.strip("\n")
    return (text, "whole completion") if text.strip() else (None, "empty completion")


def _group_asserts(stmts: list[ast.stmt]) -> list[str]:
    """One test per statement containing an assert; other statements join the next test."""
    tests, pending = [], []
    for st in stmts:
        pending.append(ast.unparse(st))
        if any(isinstance(n, ast.Assert) for n in ast.walk(st)):
            tests.append("\n".join(pending))
            pending = []
    if pending and tests:
        tests[-1] += "\n" + "\n".join(pending)
    return tests


def build_job(code: str, gold, row: Mapping) -> dict:
    """-> {code, tests, setup, entry_point}. Raises ValueError when the tests cannot be built."""
    if isinstance(gold, str) and gold.lstrip().startswith("["):
        try:
            gold = json.loads(gold)
        except ValueError:
            pass
    if isinstance(gold, (list, tuple)):
        if not gold or not all(isinstance(t, str) for t in gold):
            raise ValueError("test list must be a non-empty list of strings")
        for t in gold:
            ast.parse(t)
        return {"code": code, "tests": list(gold), "setup": row.get("test_setup_code") or "", "entry_point": None}
    module = ast.parse(str(gold))
    check = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None:
        tests = _group_asserts(module.body)
        if not tests:
            raise ValueError("the tests contain no assert")
        return {"code": code, "tests": tests, "setup": "", "entry_point": None}
    entry = row.get("entry_point")
    if not entry:
        raise ValueError("test code defines check(candidate) but the row has no 'entry_point'")
    tests = _group_asserts(check.body)
    if not tests:
        raise ValueError("check(candidate) contains no assert")
    if not re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        code = str(row.get("prompt", "")) + code
    return {"code": code, "tests": tests, "setup": str(gold), "entry_point": entry, "prompt": str(row.get("prompt", ""))}


def code_gold_problem(gold, row: Mapping) -> str:
    """'' if tests can be built from this gold and row, else why not."""
    try:
        build_job("", gold, row)
    except (SyntaxError, ValueError) as e:
        return f"tests do not build: {e}"
    return ""


def verdict_from(res: dict, score_mode: str) -> Verdict:
    """A judge result (judge.py) -> Verdict. Only the trusted side's count of passed tests scores."""
    iso = f"isolation: {res['isolation']}" if res.get("isolation") else "isolation: none (the program did not run)"
    status = res["status"]
    if status in ("refused", "error"):
        return Verdict(None, "error", f"{res['reason']}; {iso}" if status == "error" else res["reason"])
    passed, total = res["passed"], res["total"]
    detail = f"{passed}/{total} tests passed"
    if res["failures"]:
        detail += " (" + "; ".join(res["failures"][:3]) + ")"
    if status != "ok":
        score = passed / total if score_mode == "fraction" and status == "timeout" else 0.0
        return Verdict(score, status, f"{status}: {res['reason']}; {detail}; {iso}")
    score = passed / total if score_mode == "fraction" else float(passed == total)
    return Verdict(score, "correct" if passed == total else "wrong", f"{detail}; {iso}")


def _judge_many(jobs: list[dict], limits: Limits, allow_unsealed: bool, workers: int) -> list[dict]:
    """Judge every job in verifier worker processes (never in the caller's): the tests are the data
    set's code and may loop; past 2 * wall_s + 2 s a worker is replaced and the verdict is a timeout."""
    from reasonrl.verifiers.judge import judge
    from reasonrl.verifiers.pool import shared_pool

    pool = shared_pool(workers, 2 * limits.wall_s + 2.0)
    out = []
    for job, r in zip(jobs, pool.map(judge, [(j, limits, allow_unsealed) for j in jobs])):
        if r.status == "ok":
            out.append(r.value)
        else:
            status = "timeout" if r.status == "timeout" else "error"
            out.append({"status": status, "passed": 0, "total": len(job["tests"]), "failures": [],
                        "isolation": "", "calls": 0, "output": "", "reason": f"the judge: {r.reason}"})
    return out


def code_check_many(preds: list[str], golds: list, rows: list[Mapping], *, score_mode: str | None = None,
                    limits: Limits | None = None) -> list[Verdict]:
    """Judge N programs, settings.code_parallel at a time (see module doc)."""
    from reasonrl.verifiers.settings import current

    s = current()
    verdicts: list[Verdict | None] = [None] * len(preds)
    jobs, where = [], []
    for i, (pred, gold, row) in enumerate(zip(preds, golds, rows)):
        try:
            jobs.append(build_job(pred, gold, row or {}))
            where.append(i)
        except (SyntaxError, ValueError) as e:
            verdicts[i] = Verdict(None, "error", f"tests do not build: {e}; never scored")
    results = _judge_many(jobs, limits or Limits.from_settings(s), s.code_allow_unsealed, s.code_parallel) if jobs else []
    for i, res in zip(where, results):
        verdicts[i] = verdict_from(res, score_mode or s.code_score)
    return verdicts  # type: ignore[return-value]


def code_check_one(prediction: str, gold, row: Mapping | None = None, *, score_mode: str | None = None,
                   limits: Limits | None = None) -> Verdict:
    return code_check_many([prediction], [gold], [row or {}], score_mode=score_mode, limits=limits)[0]
