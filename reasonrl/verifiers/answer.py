"""Answer extraction and the answer reward.

`extract_answer(text, sources=...)` tries, in order, the sources named:

    answer   the last <answer>...</answer> block (a \\boxed{} inside it wins; empty = no answer)
    boxed    the last \\boxed{...} / \\fbox{...}, nested braces matched
    hash     the last GSM8K `#### n` line
    number   the last number in the text (a fallback for grading other systems' outputs only: in RL it
             rewards listing numbers, so no training policy uses it)

and returns (answer, reason) or (None, why not). With `think=True` only the text after the last
</think> is searched, and an opened but never closed <think> has no answer (the model never finished
thinking; a \\boxed{} guess inside the reasoning does not count).

`answer_reward(completion, sample)` extracts with the policy of the sample's verifier and judges the
answer; `answer_rewards` does a whole batch, so pooled verifiers (math) run in parallel.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from reasonrl.types import Sample, Verdict

ALL_SOURCES = ("answer", "boxed", "hash", "number")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s$]+)")
_HASH = re.compile(r"####\s*([^\n]*)")
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last balanced \\boxed{...} (or \\fbox{...}, or `\\boxed 5`), else None."""
    for m in reversed(list(_BOXED.finditer(text))):
        depth, start = 1, m.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i].strip()
    bare = _BOXED_BARE.findall(text)
    return bare[-1].strip() if bare else None


def _from_answer_block(region: str) -> tuple[str | None, str] | None:
    blocks = _ANSWER.findall(region)
    if not blocks:
        return (None, "unclosed <answer> block") if "<answer>" in region else None
    text = blocks[-1].strip()
    many = f" (last of {len(blocks)})" if len(blocks) > 1 else ""
    if not text:
        return None, f"empty <answer> block{many}"
    boxed = last_boxed(text)
    if boxed is not None:
        return (boxed, f"<answer> block{many}, \\boxed{{}}") if boxed else (None, "empty \\boxed{}")
    return text, f"<answer> block{many}"


def _from_hash(region: str) -> tuple[str | None, str] | None:
    found = _HASH.findall(region)
    if not found:
        return None
    text = found[-1].strip().rstrip(".").strip()
    return (text, "#### line") if text else (None, "empty #### line")


def _from_number(region: str) -> tuple[str | None, str] | None:
    found = _NUMBER.findall(region)
    if not found:
        return None
    return found[-1].replace(",", ""), "last number (fallback)"


def think_region(text: str) -> tuple[str | None, str]:
    """The part of a completion after its reasoning: (text after the last </think>, '') or (None, why)."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1], ""
    if "<think>" in text:
        return None, "unclosed <think> block"
    return text, ""


def extract_answer(completion: str, sources: tuple[str, ...] = ALL_SOURCES,
                   think: bool = True) -> tuple[str | None, str]:
    """Return (answer, reason) from the first source that has one, or (None, why nothing was found)."""
    region, why = think_region(completion) if think else (completion, "")
    if region is None:
        return None, why
    for src in sources:
        if src == "answer":
            got = _from_answer_block(region)
        elif src == "boxed":
            b = last_boxed(region)
            got = None if b is None else ((b, "last \\boxed{}") if b else (None, "empty \\boxed{}"))
        elif src == "hash":
            got = _from_hash(region)
        elif src == "number":
            got = _from_number(region)
        else:
            raise ValueError(f"unknown answer source '{src}' (choose from {', '.join(ALL_SOURCES)})")
        if got is not None:
            return got
    return None, "no " + " / ".join({"answer": "<answer> block", "boxed": "\\boxed{}", "hash": "#### line",
                                     "number": "number"}[s] for s in sources)


def exact_verifier(prediction: str, gold: str, row: Mapping | None = None) -> Verdict:
    """Exact string match after stripping whitespace."""
    ok = prediction.strip() == str(gold).strip()
    return Verdict(1.0 if ok else 0.0, "correct" if ok else "wrong", f"{prediction!r} vs gold {gold!r}")


def row_of(sample: Sample) -> dict:
    """The dataset row a verifier sees: the sample's meta fields plus `prompt` and `answer`."""
    return {**sample.meta, "prompt": sample.meta.get("prompt", sample.prompt),
            "answer": sample.meta.get("answer", sample.answer)}


def answer_rewards(completions: list[str], samples: list[Sample]) -> list[Verdict]:
    """Extract and judge N completions, one sample each; pooled verifiers get their whole share at once.
    Unparseable completions score 0 with status 'unparseable' and the reason."""
    from reasonrl.verifiers import VERIFIERS

    out: list[Verdict | None] = [None] * len(completions)
    todo: dict[str, list[tuple[int, str, str]]] = {}
    for i, (c, s) in enumerate(zip(completions, samples)):
        if s.verifier not in VERIFIERS:
            raise KeyError(f"unknown verifier '{s.verifier}' (known: {', '.join(VERIFIERS)})")
        answer, how = VERIFIERS[s.verifier].extract(c)
        if answer is None:
            out[i] = Verdict(0.0, "unparseable", how)
        else:
            todo.setdefault(s.verifier, []).append((i, answer, how))
    for name, items in todo.items():
        rows = [row_of(samples[i]) for i, _, _ in items]
        verdicts = VERIFIERS[name].check_many([a for _, a, _ in items], [r["answer"] for r in rows], rows)
        for (i, answer, how), v in zip(items, verdicts):
            reason = f"{how}: {v.reason}" if v.reason else how
            out[i] = dataclasses.replace(v, reason=reason, answer=answer)
    return out  # type: ignore[return-value]


def answer_reward(completion: str, sample: Sample) -> Verdict:
    """1 for a verified-correct answer, 0 for a wrong one; unparseable completions score 0 and say so."""
    return answer_rewards([completion], [sample])[0]
