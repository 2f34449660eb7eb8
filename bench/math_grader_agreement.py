"""Agreement of the math grader with other projects' own equivalence test cases, per source, for
reasonrl and for plain math-verify on the same cases.

    .venv/bin/python bench/math_grader_agreement.py            # the table, then every disagreement
    .venv/bin/python bench/math_grader_agreement.py --quiet    # the table only

Cases: tests/verifiers/external_math_cases.jsonl, collected from the public test suites of other math
graders and RL frameworks (repository, path and commit recorded per case, with their label). Both
graders get the same gold answer (`gold_answer`: the source's gold with `$` delimiters removed, or
the last \\boxed{} group when the source's gold is a whole solution).

    reasonrl     kind "response": answer extracted by `reasonrl verify`'s default rule (explicit
                 markers only), then judged; kind "answer" (the source compares two answers): judged
                 as is.
    math-verify  verify(parse("\\boxed{gold}"), parse(pred)); for kind "answer" the prediction is
                 boxed too (it is an answer, not a text to search).

A disagreement with the source's label is a false positive (reasonrl says correct, label says
wrong), a false negative, a disputed label where the case carries a `dispute` reason, or "no
marker" where the case carries an `unmarked` reason: its answer is only implied by prose, which
`reasonrl verify` refuses to guess by default. "marked" columns leave those cases out. A known
false negative carries its cause in `reasonrl_miss`. Runs in
about a minute on 2 CPU cores; one math worker.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from pathlib import Path

CASES = Path(__file__).resolve().parents[1] / "tests" / "verifiers" / "external_math_cases.jsonl"


def load_cases(path: Path = CASES) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def reasonrl_verdicts(cases: list[dict], pool=None) -> list[bool]:
    """True where reasonrl grades the case correct."""
    from reasonrl.verifiers.grading import grade_math_responses
    from reasonrl.verifiers.mathcheck import math_check_many

    out: list[bool | None] = [None] * len(cases)
    answers = [i for i, c in enumerate(cases) if c["kind"] == "answer"]
    texts = [i for i, c in enumerate(cases) if c["kind"] != "answer"]
    got = math_check_many(golds=[cases[i]["gold_answer"] for i in answers], preds=[cases[i]["pred"] for i in answers],
                          pool=pool)
    for i, v in zip(answers, got):
        out[i] = v.status == "correct"
    got = grade_math_responses([cases[i]["pred"] for i in texts], [cases[i]["gold_answer"] for i in texts], pool=pool)
    for i, v in zip(texts, got):
        out[i] = v.status == "correct"
    return out  # type: ignore[return-value]


def math_verify_verdicts(cases: list[dict]) -> list[bool]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    out = []
    for c in cases:
        pred = "\\boxed{" + c["pred"] + "}" if c["kind"] == "answer" else c["pred"]
        try:
            out.append(bool(verify(parse("\\boxed{" + c["gold_answer"] + "}"), parse(pred))))
        except Exception:  # noqa: BLE001 - a crash of the baseline counts as 'not correct'
            out.append(False)
    return out


def classify(case: dict, says_correct: bool) -> str:
    """'' when the grader agrees with the label, else its class."""
    if says_correct == case["label"]:
        return ""
    if case.get("dispute"):
        return "disputed label"
    if case.get("unmarked") and not says_correct:
        return "no marker"
    return "false positive" if says_correct else "false negative"


def table(cases: list[dict], ours: list[bool], theirs: list[bool]) -> list[str]:
    """Agreement per source over all cases and over the cases that state their answer with a marker."""
    rows: dict[str, Counter] = defaultdict(Counter)
    for c, a, b in zip(cases, ours, theirs):
        for key in (c["source_repo"], "all"):
            r = rows[key]
            r["n"] += 1
            r["ours"] += a == c["label"]
            r["theirs"] += b == c["label"]
            if not c.get("unmarked"):
                r["m"] += 1
                r["m_ours"] += a == c["label"]
                r["m_theirs"] += b == c["label"]
            r[classify(c, a) or "agree"] += 1
    lines = [f"{'source':24s} {'cases':>5s} {'reasonrl':>8s} {'math-verify':>11s} | {'marked':>6s} {'reasonrl':>8s} "
             f"{'math-verify':>11s} | reasonrl disagreements", "-" * 120]
    pct = lambda a, n: f"{a / n:.1%}" if n else "-"  # noqa: E731
    for key in [k for k in rows if k != "all"] + ["all"]:
        r = rows[key]
        lines.append(f"{key:24s} {r['n']:5d} {pct(r['ours'], r['n']):>8s} {pct(r['theirs'], r['n']):>11s} | "
                     f"{r['m']:6d} {pct(r['m_ours'], r['m']):>8s} {pct(r['m_theirs'], r['m']):>11s} | "
                     f"false pos {r['false positive']}, false neg {r['false negative']}, "
                     f"disputed {r['disputed label']}, no marker {r['no marker']}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quiet", action="store_true", help="print the table only")
    args = ap.parse_args()
    from reasonrl.verifiers.mathcheck import init_worker
    from reasonrl.verifiers.pool import WorkerPool

    cases = load_cases()
    with WorkerPool(workers=1, timeout_s=10.0, initializer=init_worker) as pool:
        ours = reasonrl_verdicts(cases, pool=pool)
    theirs = math_verify_verdicts(cases)
    print("\n".join(table(cases, ours, theirs)))
    if not args.quiet:
        for c, a in zip(cases, ours):
            cls = classify(c, a)
            if cls:
                why = c.get("dispute") or c.get("unmarked") or c.get("reasonrl_miss") or "(no recorded reason)"
                why = f": {why}"
                print(f"{c['id']} {cls}{why}\n    gold {c['gold_answer'][:80]!r} pred {c['pred'][-100:]!r} "
                      f"label {c['label']}")


if __name__ == "__main__":
    main()
