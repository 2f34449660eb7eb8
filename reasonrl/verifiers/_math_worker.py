"""Worker side of the math check: runs inside reasonrl.verifiers.pool workers and imports only
math-verify (never torch or the rest of reasonrl), so a worker starts fast and stays small."""
from __future__ import annotations


def init_worker() -> None:
    """Import math-verify once per worker and silence its 'timeout disabled' warnings."""
    import logging

    import math_verify  # noqa: F401

    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _parse(text: str, strict: bool):
    from math_verify import parse

    return parse("\\boxed{" + text + "}" if strict else text, parsing_timeout=None)


_GOLD_CACHE: dict[tuple[str, bool], list] = {}


def _parsed_gold(gold: str, strict: bool) -> list:
    """Each distinct gold is parsed once per worker (bounded cache)."""
    key = (gold, strict)
    if key not in _GOLD_CACHE:
        if len(_GOLD_CACHE) > 20000:
            _GOLD_CACHE.clear()
        _GOLD_CACHE[key] = _parse(gold, strict)
    return _GOLD_CACHE[key]


def symbolic_check(gold: str, pred: str, strict: bool) -> tuple[str, str]:
    """-> (status, reason); status correct | wrong | unparseable | bad_gold. Worker-side, may be slow."""
    from math_verify import verify

    g = _parsed_gold(gold, strict)
    if not _has_math(g):
        return "bad_gold", f"gold {gold!r} does not parse"
    p = _parse(pred, strict)
    if not p:
        return "unparseable", f"math-verify cannot parse {pred!r}"
    ok = verify(g, p, timeout_seconds=None)
    return ("correct" if ok else "wrong"), f"symbolic: {p[0]} vs gold {g[0]}"


def _has_math(parsed: list) -> bool:
    """math-verify falls back to the raw string when LaTeX does not parse; a gold needs an object."""
    return any(not isinstance(x, str) for x in parsed)


def gold_problem(gold: str, strict: bool) -> str:
    """'' if the gold answer parses to a mathematical object, else why not. Worker-side."""
    return "" if _has_math(_parsed_gold(gold, strict)) else f"gold {gold!r} does not parse"
