"""Grade a JSONL file of existing model outputs, and load gold answers safely.

    kept, dropped = load_gold_rows("math500/test.jsonl", gold_field="answer", verifier="math")
    graded, summary = grade_file(path, gold_field="answer", response_field="solution", verifier="math")

`load_gold_rows` is what a data set loader calls: each row's gold answer is checked once, when the
file is loaded, by the verifier's own rule (math: it must parse; countdown: a number and a `nums`
list; code: the tests must build), and rows that fail are reported as `FILE:LINE: why` and dropped,
never scored. Field names may be dotted (`original.answer`).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrl.errors import UserError
from reasonrl.types import Verdict

_MISSING = object()
FALLBACK = "last number (fallback)"   # the reason prefix of answers found only by the opt-in fallback


@dataclass
class Graded:
    line: int
    row: dict
    verdict: Verdict | None = None    # None when the row was dropped or bad
    dropped: str = ""                 # why the row was not scored (gold unusable or missing)
    bad: str = ""                     # why the row's response is unusable (not a string)


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """[(line number, row)], blank lines skipped. Bad JSON -> UserError naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    out = []
    with p.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                from reasonrl.data.read import not_utf8
                raise UserError(f"{p}:{n}: {not_utf8(raw, e.start)}") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise UserError(f"{p}:{n}: not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise UserError(f"{p}:{n}: a row must be a JSON object, not {type(row).__name__}")
            out.append((n, row))
    return out


def get_field(row: dict, dotted: str, default: Any = _MISSING) -> Any:
    """row['a']['b'] for 'a.b' (a key containing dots is tried whole first)."""
    if dotted in row:
        return row[dotted]
    cur: Any = row
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if default is _MISSING:
                raise KeyError(dotted)
            return default
        cur = cur[part]
    return cur


def _require_field(path, rows: list[tuple[int, dict]], name: str, flag: str) -> None:
    absent = object()
    if rows and all(get_field(r, name, absent) is absent for _, r in rows):
        keys = ", ".join(sorted(rows[0][1])[:12])
        raise UserError(f"{path}:{rows[0][0]}: no row has field '{name}' ({flag}); first row has: {keys}")


def load_gold_rows(path, *, gold_field: str, verifier: str, rows: list[tuple[int, dict]] | None = None):
    """-> (kept [(line, row, gold)], dropped [(line, row, 'FILE:LINE: why')])."""
    from reasonrl.verifiers import VERIFIERS

    if verifier not in VERIFIERS:
        raise UserError(f"unknown verifier '{verifier}' (choose from {', '.join(VERIFIERS)})")
    rows = read_jsonl(path) if rows is None else rows
    _require_field(path, rows, gold_field, "gold field")
    kept, dropped, cands = [], [], []
    for n, row in rows:
        gold = get_field(row, gold_field, None)
        if gold is None:
            dropped.append((n, row, f"{path}:{n}: no gold field '{gold_field}'"))
        else:
            cands.append((n, row, gold))
    problems = VERIFIERS[verifier].gold_problems([g for _, _, g in cands], [r for _, r, _ in cands])
    for (n, row, gold), why in zip(cands, problems):
        if why:
            dropped.append((n, row, f"{path}:{n}: {why}"))
        else:
            kept.append((n, row, gold))
    return kept, dropped


def grade_file(path, *, gold_field: str, response_field: str, verifier: str = "math", policy: str | None = None,
               limit: int | None = None, chunk: int = 512) -> list[Graded]:
    """Grade every row of a JSONL file; returns one Graded per row, in file order."""
    import dataclasses

    from reasonrl.verifiers import VERIFIERS

    rows = read_jsonl(path)[:limit] if limit else read_jsonl(path)
    if not rows:
        raise UserError(f"{path}: no rows to grade (the file is empty)")
    _require_field(path, rows, response_field, "--response-field")
    kept, dropped = load_gold_rows(path, gold_field=gold_field, verifier=verifier, rows=rows)
    ver = VERIFIERS[verifier]
    graded = {n: Graded(n, row, dropped=why) for n, row, why in dropped}
    todo = []
    for n, row, gold in kept:
        response = get_field(row, response_field, None)
        if not isinstance(response, str):
            what = "missing" if response is None else f"a {type(response).__name__}, not a string"
            graded[n] = Graded(n, row, bad=f"{path}:{n}: response field '{response_field}' is {what}")
            continue
        answer, how = ver.extract(response, policy)
        if answer is None:
            graded[n] = Graded(n, row, Verdict(0.0, "unparseable", how))
        else:
            todo.append((n, row, gold, answer, how))
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        verdicts = ver.check_many([a for *_, a, _ in part], [g for _, _, g, _, _ in part], [r for _, r, *_ in part])
        for (n, row, _, answer, how), v in zip(part, verdicts):
            graded[n] = Graded(n, row, dataclasses.replace(v, reason=f"{how}: {v.reason}", answer=answer))
    return [graded[n] for n, _ in rows]


def grade_math_responses(responses: list[str], golds: list, *, fallback: bool = False, strict: bool = True,
                         pool=None) -> list[Verdict]:
    """Extract and judge N math responses against their golds, as `reasonrl verify` does per row: the
    answer must come from an explicit marker (GRADE_SOURCES), unless `fallback` adds the last number."""
    import dataclasses

    from reasonrl.verifiers.answer import GRADE_SOURCES, extract_answer
    from reasonrl.verifiers.mathcheck import math_check_many

    sources = GRADE_SOURCES + (("number",) if fallback else ())
    out: list[Verdict | None] = [None] * len(responses)
    todo = []
    for i, text in enumerate(responses):
        answer, how = extract_answer(text, sources)
        if answer is None:
            out[i] = Verdict(0.0, "unparseable", how)
        else:
            todo.append((i, answer, how))
    verdicts = math_check_many(golds=[str(golds[i]) for i, _, _ in todo], preds=[a for _, a, _ in todo],
                               strict=strict, pool=pool)
    for (i, answer, how), v in zip(todo, verdicts):
        out[i] = dataclasses.replace(v, reason=f"{how}: {v.reason}", answer=answer)
    return out  # type: ignore[return-value]


def _truthy(v) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    return None


def summarize(graded: list[Graded], label_field: str | None = None) -> dict:
    """Counts by status, accuracy over scored rows, and (with labels) agreement with them."""
    st = Counter(g.verdict.status for g in graded if g.verdict is not None)
    scored = sum(st.values())
    s = {"rows": len(graded), "scored": scored, "dropped": sum(1 for g in graded if g.dropped),
         "bad": sum(1 for g in graded if g.bad),
         **{k: st.get(k, 0) for k in ("correct", "wrong", "unparseable", "timeout", "error")},
         "statuses": dict(sorted(st.items(), key=lambda kv: (-kv[1], kv[0]))),
         "fallback": sum(1 for g in graded if g.verdict is not None and g.verdict.reason.startswith(FALLBACK)),
         "accuracy": st.get("correct", 0) / scored if scored else 0.0}
    if label_field:
        pairs = [(g.verdict.status == "correct", _truthy(get_field(g.row, label_field, None)))
                 for g in graded if g.verdict is not None]
        pairs = [(v, lab) for v, lab in pairs if lab is not None]
        c = Counter(pairs)
        s["labels"] = {"n": len(pairs), "agree": c[(True, True)] + c[(False, False)],
                       "verifier_yes_label_yes": c[(True, True)], "verifier_yes_label_no": c[(True, False)],
                       "verifier_no_label_yes": c[(False, True)], "verifier_no_label_no": c[(False, False)]}
        s["labels"]["agreement"] = s["labels"]["agree"] / len(pairs) if pairs else 0.0
    return s


def format_summary(s: dict) -> str:
    lines = [f"rows {s['rows']} | scored {s['scored']} | dropped (gold unusable or missing) {s['dropped']} | "
             f"bad rows (response not a string) {s['bad']}",
             "verdicts by status: " + (" | ".join(f"{k} {v}" for k, v in s["statuses"].items()) or "none"),
             f"accuracy {s['accuracy']:.2%} of scored rows"]
    if s.get("fallback_on"):
        lines.append(f"warning: last-number fallback on (--extract lenient): {s['fallback']} answers were guessed "
                     "from the last number of the text; such guesses can accept an intermediate number, so do not "
                     "compare this accuracy with graders that need an explicit answer")
    if "labels" in s:
        lab = s["labels"]
        lines.append(f"agreement with labels {lab['agreement']:.2%} ({lab['agree']}/{lab['n']}): "
                     f"both correct {lab['verifier_yes_label_yes']}, both wrong {lab['verifier_no_label_no']}, "
                     f"verifier-only correct {lab['verifier_yes_label_no']}, "
                     f"label-only correct {lab['verifier_no_label_yes']}")
    return "\n".join(lines)


def verdict_record(g: Graded) -> dict:
    """The row with its verdict beside it, as written by `reasonrl verify`."""
    if g.verdict is None:
        v = {"score": None, "status": "bad_row" if g.bad else "dropped", "answer": None, "reason": g.bad or g.dropped}
    else:
        v = {"score": g.verdict.score, "status": g.verdict.status, "answer": g.verdict.answer,
             "reason": g.verdict.reason}
    return {**g.row, "verdict": v}
