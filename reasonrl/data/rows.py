"""The validation pass: rows -> Samples, and a report of every row that cannot be used.

A row is bad when its prompt or answer field is missing, not text, or empty, when its gold answer
does not parse for the task's verifier, when a field that `prompt_format` names is missing, or when
its rendered prompt is longer than `max_prompt_tokens`. Every bad row is reported as
`FILE:LINE: field 'NAME': problem`; then the load stops with a one-line summary (on_bad_row=stop) or
drops those rows and goes on (on_bad_row=skip).
"""
from __future__ import annotations

import json
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reasonrl.data.read import DataError, Record, read_records
from reasonrl.types import Sample

BAD_ROW_ACTIONS = ("stop", "skip")


@dataclass(frozen=True)
class RowSpec:
    """How a row becomes a Sample (the task.* keys of the same names)."""
    prompt_field: str = "problem"
    answer_field: str = "answer"
    prompt_format: str = "{prompt}"
    verifier: str = "exact"
    max_prompt_tokens: int = 0        # 0 = no limit (needs prompt_len to count)


@dataclass(frozen=True)
class BadRow:
    where: str                        # "FILE:LINE"
    field: str                        # the row field at fault ("-" when the line is unreadable)
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: field '{self.field}': {self.problem}" if self.field != "-" else \
            f"{self.where}: {self.problem}"


def format_fields(prompt_format: str) -> list[str]:
    """Row fields named by `prompt_format` ('{prompt}' excluded); a malformed format is a config error."""
    from reasonrl.config import ConfigError

    try:
        names = [f for _, f, _, _ in string.Formatter().parse(prompt_format) if f is not None]
    except ValueError as e:
        raise ConfigError(f"config key 'task.prompt_format': {e} (write literal braces as {{{{ and }}}})") from None
    bases = [re.match(r"[^.\[]*", n).group(0) for n in names]
    if any(not b or b.isdigit() for b in bases):
        raise ConfigError(f"config key 'task.prompt_format': every {{...}} must name a row field, "
                          f"got {prompt_format!r}")
    return [b for b in bases if b != "prompt"]


def gold_problems(verifier: str, golds: list, rows: list[dict]) -> list[str]:
    """For each gold answer: '' if `verifier` can use it, else why not (its `gold_problems`, which
    parses math golds once at load time; any non-empty gold for a verifier without one)."""
    from reasonrl.verifiers import VERIFIERS

    check = getattr(VERIFIERS.get(verifier), "gold_problems", None)
    if check is None:
        return ["" if str(g).strip() else "empty gold answer" for g in golds]
    return [str(x or "") for x in check(golds, rows)]


def _text_field(row: dict, name: str, kind: str, structured: bool = False) -> tuple[str | list | dict | None, str]:
    """-> (value, problem). Answers may be numbers (written as text), or lists and dicts when the
    verifier takes structured golds (`structured`, e.g. code tests)."""
    if name not in row or row[name] is None:
        return None, f"missing (row fields: {', '.join(map(str, row)) or 'none'})"
    value = row[name]
    if kind == "answer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if structured and isinstance(value, (list, dict)):
        return (value, "") if value else (None, f"empty {kind}")
    if not isinstance(value, str):
        want = "a string or number" if kind == "answer" else "a string"
        return None, f"expected {want}, got {type(value).__name__}"
    if not value.strip():
        return None, f"empty {kind}"
    return value, ""


def row_to_sample(rec: Record, spec: RowSpec, prompt_len: Callable[[str], int] | None = None) -> Sample | BadRow:
    """One record -> a Sample, or the first thing wrong with its fields (gold parsing is checked
    for all rows at once by `load_samples`)."""
    if rec.row is None:
        return BadRow(rec.where, "-", rec.error)
    row = rec.row
    prompt, why = _text_field(row, spec.prompt_field, "prompt")
    if prompt is None:
        return BadRow(rec.where, spec.prompt_field, why)
    gold, why = _text_field(row, spec.answer_field, "answer", structured=spec.verifier not in ("exact",))
    if gold is None:
        return BadRow(rec.where, spec.answer_field, why)
    missing = [n for n in format_fields(spec.prompt_format) if n not in row]
    if missing:
        return BadRow(rec.where, missing[0], "missing (named in task.prompt_format)")
    try:
        text = spec.prompt_format.format_map({**row, "prompt": prompt})
    except (LookupError, AttributeError, ValueError, TypeError) as e:
        return BadRow(rec.where, "-", f"task.prompt_format does not apply to this row ({type(e).__name__}: {e})")
    if spec.max_prompt_tokens and prompt_len is not None:
        n = prompt_len(text)
        if n > spec.max_prompt_tokens:
            return BadRow(rec.where, spec.prompt_field, f"prompt is {n} tokens, over "
                                                        f"task.max_prompt_tokens={spec.max_prompt_tokens}")
    gold = gold.strip() if isinstance(gold, str) else gold
    meta = {**row, "answer": gold, "where": rec.where}      # the row verifiers and rewards see
    return Sample(prompt=text, answer=gold if isinstance(gold, str) else json.dumps(gold),
                  verifier=spec.verifier, meta=meta)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_samples(path: str | Path, spec: RowSpec, *, split: str = "train", on_bad_row: str = "stop",
                 prompt_len: Callable[[str], int] | None = None,
                 log: Callable[[str], None] = _stderr) -> list[Sample]:
    """Read and validate one file or folder. Every bad row is logged (`log`), then the load either
    raises a one-line DataError summary (stop) or returns the good rows (skip)."""
    from reasonrl.config import ConfigError

    if on_bad_row not in BAD_ROW_ACTIONS:
        raise ConfigError(f"config key 'task.on_bad_row': expected one of {', '.join(BAD_ROW_ACTIONS)}, "
                          f"got {on_bad_row!r}")
    format_fields(spec.prompt_format)
    found = [row_to_sample(rec, spec, prompt_len) for rec in read_records(path, split)]
    good = [s for s in found if isinstance(s, Sample)]
    problems = dict(zip(map(id, good), gold_problems(spec.verifier, [s.meta["answer"] for s in good],
                                                     [s.meta for s in good])))
    bad = [b if isinstance(b, BadRow) else BadRow(b.meta["where"], spec.answer_field, problems[id(b)])
           for b in found if isinstance(b, BadRow) or problems[id(b)]]
    good = [s for s in good if not problems[id(s)]]
    for b in bad:
        log(f"bad row: {b}")
    total = len(good) + len(bad)
    if bad and on_bad_row == "stop":
        shown = "; ".join(str(b) for b in bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise DataError(f"{path}: {len(bad)} bad row(s) of {total}: {shown} "
                        f"(fix them or set task.on_bad_row=skip)")
    if bad:
        log(f"{path}: skipped {len(bad)} bad row(s) of {total} (task.on_bad_row=skip)")
    if not good:
        raise DataError(f"{path}: no usable rows (read {total})")
    return good
