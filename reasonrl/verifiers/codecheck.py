"""The code verifier: extract a program from a completion and run it against its tests in the sandbox.

Tests come in the two common shapes, taken from the gold field and the row:
  HumanEval  gold = test code defining `check(candidate)`, row['entry_point'] names the function;
             each assert of check's body is one test (statements without an assert join the next).
             A completion that does not define the entry point is appended to row['prompt'] (the
             HumanEval "continue the function" style).
  MBPP       gold = a list of assert statements (`test_list`), row['test_setup_code'] runs first.
  otherwise  gold = Python source; each top-level statement with an assert is one test.
Score (settings.code_score): all_pass -> 1 only if every test passes; fraction -> share passed.
Status: correct (all pass) | wrong | timeout | error (the sandbox failed: not the candidate's fault,
score None). Every reason ends with what isolation the sandbox had.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from reasonrl.types import Verdict
from reasonrl.verifiers.answer import think_region
from reasonrl.verifiers.sandbox import Limits, SandboxResult, run_tests

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
    return {"code": code, "tests": tests, "setup": str(gold), "entry_point": entry}


def code_gold_problem(gold, row: Mapping) -> str:
    """'' if tests can be built from this gold and row, else why not."""
    try:
        build_job("", gold, row)
    except (SyntaxError, ValueError) as e:
        return f"tests do not build: {e}"
    return ""


def verdict_from(res: SandboxResult, score_mode: str) -> Verdict:
    note = res.isolation_note()
    if res.status == "infra_error":
        return Verdict(None, "error", f"sandbox failure (not the candidate's): {res.reason}; {note}")
    frac = res.passed / res.total if res.total else 0.0
    score = frac if score_mode == "fraction" else float(res.passed == res.total and res.total > 0)
    detail = f"{res.passed}/{res.total} tests passed"
    if res.failures:
        detail += " (" + "; ".join(res.failures[:3]) + ")"
    if res.status == "timeout":
        return Verdict(score if score_mode == "fraction" else 0.0, "timeout", f"{detail}; wall or CPU limit hit; {note}")
    if res.status == "output_limit":
        return Verdict(0.0, "wrong", f"output limit exceeded; {detail}; {note}")
    return Verdict(score, "correct" if res.passed == res.total else "wrong", f"{detail}; {note}")


def code_check_one(prediction: str, gold, row: Mapping | None = None, *, score_mode: str | None = None,
                   limits: Limits | None = None) -> Verdict:
    from reasonrl.verifiers.settings import current

    s = current()
    try:
        job = build_job(prediction, gold, row or {})
    except (SyntaxError, ValueError) as e:
        return Verdict(None, "error", f"tests do not build: {e}; never scored")
    res = run_tests(job["code"], job["tests"], setup=job["setup"], entry_point=job["entry_point"],
                    limits=limits or Limits.from_settings(s))
    return verdict_from(res, score_mode or s.code_score)


def code_check_many(preds: list[str], golds: list, rows: list[Mapping]) -> list[Verdict]:
    """Run N programs, settings.code_parallel sandboxes at a time."""
    from reasonrl.verifiers.settings import current

    with ThreadPoolExecutor(max_workers=current().code_parallel) as ex:
        return list(ex.map(code_check_one, preds, golds, rows))
