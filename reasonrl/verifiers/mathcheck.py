"""Math answer equivalence: a numeric check in the caller's process, then math-verify in worker processes.

    math_equal(gold="\\frac12", pred="0.5")                    -> Verdict(1.0, 'correct', 'numeric: ...')
    math_check_many(preds, golds, strict=True, pool=...)      -> [Verdict, ...]

Gold always comes first and every entry point takes keyword-only `gold=`/`pred=` (math-verify's
`verify(gold, target)` is asymmetric; peers have shipped call sites with the two swapped).

1. Both sides are cleaned the same way: `$`, `\\text{}`/`\\textbf{}`/`\\mbox{}` wrappers, markdown
   `**73**`, `10{,}000` and `10,000`, `\\dfrac`, a trailing period, `x = 5` -> `5`.
2. Numeric: if both are plain numbers (integer, decimal, a/b, \\frac{a}{b}, \\frac12), they are compared
   as exact fractions (decimals within 1e-6 relative); bounded work, no pool round trip.
3. Symbolic: math-verify in a worker process (reasonrl.verifiers.pool) under a wall-clock limit, with
   its own signal-based timeouts off (a timeout must be a verdict of its own, not a silent False).
   strict=True (default) parses each side as one boxed expression, so multi-part answers are sets that
   must be equal: gold "1331 and 1728" vs "1728" is wrong, and "3 or 5 or 7" never matches 5.
   strict=False is math-verify's default any-match extraction, where any overlap counts (the known
   false positive, huggingface/Math-Verify#47); it exists only to compare with other graders.
"""
from __future__ import annotations

import re
from fractions import Fraction

from reasonrl.types import Verdict
from reasonrl.verifiers._math_worker import gold_problem, init_worker, symbolic_check

__all__ = ["as_number", "clean", "gold_problems", "init_worker", "math_check_many", "math_equal",
           "numeric_verdict", "symbolic_check"]

MAX_ANSWER_CHARS = 1000
_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textit)\s*\{([^{}]*)\}")
_DEC = re.compile(r"-?(?:\d{1,40}(?:\.\d{1,40})?|\.\d{1,40})")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_FRAC = re.compile(r"(-?)\\frac\s*\{\s*(-?\d{1,40})\s*\}\s*\{\s*(-?\d{1,40})\s*\}")
_FRAC_SHORT = re.compile(r"(-?)\\frac(\d)(\d)")
_SLASH = re.compile(r"(-?\d{1,40})\s*/\s*(\d{1,40})")
_ASSIGN = re.compile(r"[a-zA-Z]\s*=\s*(.+)")


def clean(text: str) -> str:
    """Surface clean-up applied to gold and prediction alike (no mathematics)."""
    s = text.strip()
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    s = re.sub(r"^\*\*(.*)\*\*$", r"\1", s.strip())
    s = s.replace("{,}", "").replace("\\!", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.strip().strip("$").strip()
    if s.startswith("\\(") and s.endswith("\\)") or s.startswith("\\[") and s.endswith("\\]"):
        s = s[2:-2].strip()
    return s.rstrip(".").strip()


def as_number(text: str) -> Fraction | None:
    """An exact value for a plain number (12, -3.5, 7/8, \\frac{7}{8}, \\frac78, 10,000), else None."""
    s = clean(text).replace("\\$", "").replace("\\%", "").replace("^\\circ", "").replace("^{\\circ}", "")
    m = _ASSIGN.fullmatch(s)
    s = (m.group(1) if m else s).strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if _DEC.fullmatch(s):
        return Fraction(s)
    for pat in (_FRAC, _FRAC_SHORT):
        m = pat.fullmatch(s)
        if m and int(m.group(3)) != 0:
            v = Fraction(int(m.group(2)), int(m.group(3)))
            return -v if m.group(1) else v
    m = _SLASH.fullmatch(s)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    return None


def numeric_verdict(*, gold: str, pred: str) -> Verdict | None:
    """Exact comparison when both sides are plain numbers; None when either is not."""
    g, p = as_number(gold), as_number(pred)
    if g is None or p is None:
        return None
    decimal = "." in clean(gold) or "." in clean(pred)
    ok = g == p or (decimal and abs(g - p) <= Fraction(1, 10**6) * max(1, abs(g)))
    return Verdict(1.0 if ok else 0.0, "correct" if ok else "wrong", f"numeric: {pred!r} vs gold {gold!r}")


# ---- caller side ----

def _from_symbolic(result, gold: str, pred: str) -> Verdict:
    if result.status == "timeout":
        return Verdict(0.0, "timeout", f"math check of {pred!r} vs gold {gold!r}: {result.reason}")
    if result.status == "error":
        return Verdict(None, "error", f"math worker: {result.reason}")
    status, reason = result.value
    if status == "bad_gold":
        return Verdict(None, "error", reason + " (never scored; drop the row)")
    return Verdict(1.0 if status == "correct" else 0.0, status, reason)


def math_check_many(*, golds: list[str], preds: list[str], strict: bool = True, pool=None) -> list[Verdict]:
    """Judge N (gold, pred) pairs: numeric in this process, the rest symbolically in `pool`
    (default: the shared pool sized by reasonrl.verifiers.settings)."""
    out: list[Verdict | None] = [None] * len(preds)
    todo = []
    for i, (g, p) in enumerate(zip(golds, preds)):
        g, p = str(g), str(p)
        if len(p) > MAX_ANSWER_CHARS:
            out[i] = Verdict(0.0, "unparseable", f"answer longer than {MAX_ANSWER_CHARS} characters")
            continue
        v = numeric_verdict(gold=g, pred=p) if strict else None
        if v is not None:
            out[i] = v
        else:
            todo.append((i, clean(g), clean(p)))
    if todo:
        pool = pool or _default_pool()
        results = pool.map(symbolic_check, [(g, p, strict) for _, g, p in todo])
        for (i, g, p), r in zip(todo, results):
            out[i] = _from_symbolic(r, g, p)
    return out  # type: ignore[return-value]


def math_equal(*, gold: str, pred: str, strict: bool = True, pool=None) -> Verdict:
    """One (gold, pred) pair; see math_check_many."""
    return math_check_many(golds=[gold], preds=[pred], strict=strict, pool=pool)[0]


def gold_problems(golds: list[str], *, strict: bool = True, pool=None) -> list[str]:
    """For each gold answer: '' if it parses (numbers need no worker), else the reason. Timeouts count
    as problems."""
    out = ["" if as_number(g) is not None else None for g in map(str, golds)]
    todo = [i for i, v in enumerate(out) if v is None]
    if todo:
        pool = pool or _default_pool()
        for i, r in zip(todo, pool.map(gold_problem, [(clean(str(golds[i])), strict) for i in todo])):
            out[i] = r.value if r.status == "ok" else f"gold {golds[i]!r}: {r.status} ({r.reason})"
    return out  # type: ignore[return-value]


def _default_pool():
    from reasonrl.verifiers.pool import shared_pool
    from reasonrl.verifiers.settings import current

    s = current()
    return shared_pool(s.math_workers, s.math_timeout_s, init_worker)
