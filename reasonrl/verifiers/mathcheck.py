"""Math answer equivalence: a numeric check in the caller's process, then math-verify in worker processes.

    math_equal(gold="\\frac12", pred="0.5")                    -> Verdict(1.0, 'correct', 'numeric: ...')
    math_check_many(preds, golds, strict=True, pool=...)      -> [Verdict, ...]

Gold always comes first and every entry point takes keyword-only `gold=`/`pred=` (math-verify's
`verify(gold, target)` is asymmetric; peers have shipped call sites with the two swapped).

1. Both sides are cleaned the same way: `$`, `\\text{}`/`\\textbf{}`/`\\mbox{}` wrappers, a unit in text
   after a value (`17\\text{ any text}`, `15\\mbox{ cm}^2`), markdown `**73**`, thousands separators
   (`10{,}000`, `1\\,000`, `1\\!000`, `11,\\! 111`), `\\dfrac`, `percent`, `A \\approx B` -> `A`, a trailing
   period.
2. Numeric: if both are plain numbers (integer, decimal, a/b, \\frac{a}{b}, \\frac12, `x = 5`, `1 000`,
   `125 miles`), they are compared as exact fractions (a decimal must be the other side rounded to its
   own places, and within 1e-6 relative); words that change a value (`3 thousand`, `3 squared`, `3 or
   more`) are never dropped as a unit; bounded work,
   no pool round trip. A decimal comma (`2,74`) is read only against a gold written with a point,
   and never where it could be a thousands grouping (`2,740`).
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
           "numeric_verdict", "qualified", "symbolic_check"]

MAX_ANSWER_CHARS = 1000
_WRAPPERS = re.compile(r"\\(?:text|textbf|textnormal|textrm|mathrm|mathbf|mbox|textit)\s*\{([^{}]*)\}")
# a unit written as text after a value: `17\text{ any text}`, `15\mbox{ cm}^2`, `125\textnormal{ miles}`
_UNIT_TEXT = re.compile(r"(?<=\S)\s*\\(?:text|textnormal|textrm|mbox|mathrm)\s*\{\s*([A-Za-z][A-Za-z .]*)\}"
                        r"(?:\^\{?\d\}?)?\s*$")
_NUM_SPACING = re.compile(r"(?<=\d)(?:\\[,!: ]|\{,\}|\\thinspace|[\u2009\u202f])(?=\d{3}(?!\d))|"
                          r"(?<=\d,)\\!\s*(?=\d{3}(?!\d))")
_PERCENT_WORD = re.compile(r"\s*\b(?:percent|percentage|pct)\b\.?", re.I)
_DEC = re.compile(r"-?(?:\d{1,40}(?:\.\d{1,40})?|\.\d{1,40})")
_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"-?\d{1,40},\d{1,40}")
_FRAC = re.compile(r"(-?)\\frac\s*\{\s*(-?\d{1,40})\s*\}\s*\{\s*(-?\d{1,40})\s*\}")
_FRAC_SHORT = re.compile(r"(-?)\\frac(\d)(\d)")
_SLASH = re.compile(r"(-?\d{1,40})\s*/\s*(\d{1,40})")
_ASSIGN = re.compile(r"[a-zA-Z]\s*=\s*(.+)")
# words that may follow a number as its unit; a connective ("3 or more", "5 to 7") is never dropped
_UNIT_WORDS = re.compile(r"(-?[\d.,/]*\d)\s+([A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*){0,3})")
CONNECTIVES = {"or", "and", "to", "not", "than", "more", "less", "least", "most", "at", "between", "about",
                "approximately", "roughly", "nearly", "around", "either", "plus", "minus", "times", "over", "by",
                "of", "is", "are", "if", "when", "but", "except", "per", "each", "divided", "i", "x", "y", "n",
                "no", "never", "wrong", "incorrect", "maybe", "possibly", "perhaps", "else", "otherwise", "unless",
                "nope", "false", "guess", "unsure", "probably", "likely", "excluded", "impossible", "none", "approx",
                "minimum", "maximum", "min", "max", "too", "fewer", "up", "above", "below", "under", "over"}
# words after a number that change its value: never dropped as a unit (`3 thousand` is not 3)
SCALE_WORDS = {"hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions",
               "trillion", "trillions", "dozen", "dozens", "score", "gross", "lakh", "lakhs", "crore", "crores",
               "k", "mn", "bn", "squared", "cubed", "half", "halves", "third", "thirds", "quarter", "quarters",
               "tenth", "tenths", "hundredth", "hundredths", "thousandth", "thousandths", "millionth",
               "millionths", "power", "factorial"}


def _drops_as_unit(words: str) -> bool:
    """True when the words after a number are a unit that leaves its value alone (`cm`, `apples`),
    never a connective ("or more", "is not ..."), a scale ("thousand") or an operation ("squared")."""
    ws = set(words.lower().replace(".", " ").split())
    return not (CONNECTIVES | SCALE_WORDS) & ws


# a value that the words or signs around it qualify: a bound with no left side (`\\geq 3`), `3, \\ldots`
_OPEN_RELATION = re.compile(r"^(?:\\(?:geq?|leq?|geqslant|leqslant|sim|neg|lnot|neq|ne|gtrsim|lesssim)(?![A-Za-z])|"
                            r"[<>≤≥~¬≠])")
_ELLIPSIS = re.compile(r"\\(?:[lcv]?dots[bcimo]?|ldots)(?![A-Za-z])|\.\.\.|…")


def qualified(pred: str, gold: str) -> str:
    """Why `pred` states something other than a plain value that `gold` lacks, else ''. math-verify
    reads `3 nope`, `\\geq 3` and `3, \\ldots` as a bare value; these are refused first."""
    p, g = clean(pred), clean(gold)
    m = _UNIT_WORDS.fullmatch(p)
    if m and not _drops_as_unit(m.group(2)) and clean(pred).lower() != g.lower():
        return f"words after the value qualify it ({m.group(2)!r})"
    if _OPEN_RELATION.match(p) and not _OPEN_RELATION.match(g):
        return "a bound or relation, not a value"
    if _ELLIPSIS.search(pred) and not _ELLIPSIS.search(gold):
        return "an open-ended list (ellipsis)"
    return ""


def _drop_unit_text(m: re.Match) -> str:
    return "" if _drops_as_unit(m.group(1)) else m.group(0)


def _approx_tail(s: str) -> str:
    """`\\frac{\\sqrt3}{3} \\approx 0.577` -> the exact form; `x \\approx 3.1` -> the value."""
    left, _, right = re.split(r"(\\approx|≈)", s, maxsplit=1) if ("\\approx" in s or "≈" in s) else (s, "", "")
    left = left.strip()
    if not right:
        return s
    return right.strip() if re.fullmatch(r"[A-Za-z]?\s*=?", left) else left.rstrip("=").strip()


def clean(text: str) -> str:
    """Surface clean-up applied to gold and prediction alike (no mathematics)."""
    s = text.strip()
    s = re.sub(r"(?<!\\)\$", "", s).strip()
    if s.startswith("\\(") and s.endswith("\\)") or s.startswith("\\[") and s.endswith("\\]"):
        s = s[2:-2].strip()
    s = re.sub(r"^\*\*(.*)\*\*$", r"\1", s.strip()).rstrip(".").strip()
    s = _UNIT_TEXT.sub(_drop_unit_text, s)
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    s = _NUM_SPACING.sub("", s)
    s = s.replace("{,}", "").replace("\\!", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\cfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    s = _PERCENT_WORD.sub("\\\\%", s)
    s = _approx_tail(s)
    return s.rstrip("\\").rstrip(".").strip()


def as_number(text: str) -> Fraction | None:
    """An exact value for a plain number (12, -3.5, 7/8, \\frac{7}{8}, \\frac78, 10,000, 1 000, `17 apples`),
    else None."""
    s = clean(text).replace("\\$", "").replace("\\%", "").replace("%", "").replace("^\\circ", "")
    s = s.replace("^{\\circ}", "").replace("€", "").replace("£", "").strip()
    m = _ASSIGN.fullmatch(s)
    s = (m.group(1) if m else s).strip()
    m = _UNIT_WORDS.fullmatch(s)
    if m and _drops_as_unit(m.group(2)):
        s = m.group(1)
    if _THOUSANDS.fullmatch(s) or _SPACED_THOUSANDS.fullmatch(s):
        s = s.replace(",", "").replace(" ", "")
    if s.startswith("+") and _DEC.fullmatch(s[1:]):
        s = s[1:]
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


def _decimal_comma(text: str, other: str) -> Fraction | None:
    """`2,74` read as 2.74 only where that is unambiguous: the other side is a decimal written with a
    point, and this side is `digits,digits` that is not a thousands grouping."""
    s = clean(text)
    if not _DECIMAL_COMMA.fullmatch(s) or _THOUSANDS.fullmatch(s) or "." not in clean(other):
        return None
    return as_number(s.replace(",", "."))


def _places(text: str) -> int | None:
    """Digits after the decimal point of a number written with one (`3.140` -> 3), else None."""
    found = re.findall(r"\.(\d+)", clean(text))
    return len(found[-1]) if found else None


def _rounding_tolerance(gold: str, pred: str, g: Fraction) -> Fraction:
    """How far apart two numbers may be and still be equal: 0 unless one side is written as a decimal;
    then the decimal must be the other side rounded to its own places (half a unit in its last place)
    and within 1e-6 relative. `0.333333` = `1/3`; `3.0000001` != `3`; `1000000.5` != `1000000`."""
    places = [d for d in (_places(gold), _places(pred)) if d is not None]
    if not places:
        return Fraction(0)
    return min(Fraction(1, 2 * 10 ** min(places)), Fraction(1, 10**6) * max(1, abs(g)))


def numeric_verdict(*, gold: str, pred: str) -> Verdict | None:
    """Exact comparison when both sides are plain numbers; None when either is not."""
    g, p = as_number(gold), as_number(pred)
    if g is None and p is not None:
        g = _decimal_comma(gold, pred)
    elif p is None and g is not None:
        p = _decimal_comma(pred, gold)
    if g is None or p is None:
        return None
    ok = g == p or abs(g - p) <= _rounding_tolerance(gold, pred, g)
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
        if strict and (why := qualified(p, g)):
            out[i] = Verdict(0.0, "wrong", f"{why}: {p!r} vs gold {g!r}")
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
        _check_decimal_roundings(out, [(i, g, p) for i, g, p in todo if out[i].status == "correct"], pool)
    return out  # type: ignore[return-value]


def _check_decimal_roundings(out: list, accepted: list[tuple[int, str, str]], pool) -> None:
    """math-verify compares numbers rounded to 6 places, so `1.4142139` passes for `\\sqrt{2}`. A decimal
    accepted against an exact non-numeric gold must be that gold rounded to the decimal's own places."""
    todo = [(i, g, p) for i, g, p in accepted if _places(p) is not None and as_number(p) is not None]
    if not todo:
        return
    for (i, g, p), r in zip(todo, pool.map(decimal_rounds_gold, [(g, p) for _, g, p in todo])):
        if r.status == "ok" and r.value is False:
            out[i] = Verdict(0.0, "wrong", f"numeric: {p!r} is not {g!r} rounded to {_places(p)} places")


def decimal_rounds_gold(gold: str, pred: str) -> bool | None:
    """Worker side: is the decimal `pred` the value of `gold` rounded to pred's places? None when gold
    has no single real value."""
    from math_verify import parse

    parsed = [x for x in parse("\\boxed{" + gold + "}", parsing_timeout=None) if not isinstance(x, str)]
    try:
        value = parsed[0].evalf(40) if parsed else None
        if value is None or not value.is_real or not value.is_number:
            return None
        places = _places(pred)
        return abs(Fraction(str(value)) - as_number(pred)) <= Fraction(1, 2 * 10**places)
    except (AttributeError, TypeError, ValueError, ArithmeticError):
        return None


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
