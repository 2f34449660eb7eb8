"""The answer reward: extract the final answer from a completion and hand it to the sample's verifier."""
from __future__ import annotations

import re

from reasonrl.types import Sample, Verdict

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def extract_answer(completion: str) -> tuple[str | None, str]:
    """Return (answer, how): the last <answer>...</answer> block's stripped text, or None."""
    found = _ANSWER.findall(completion)
    if not found:
        return None, "no <answer> block"
    return found[-1].strip(), "<answer> block"


def exact_verifier(prediction: str, gold: str) -> Verdict:
    """Exact string match after stripping whitespace."""
    ok = prediction.strip() == gold.strip()
    return Verdict(1.0 if ok else 0.0, "correct" if ok else "wrong", f"{prediction!r} vs gold {gold!r}")


def answer_reward(completion: str, sample: Sample) -> Verdict:
    """1 for a verified-correct answer, 0 for a wrong one; unparseable completions score 0 and say so."""
    from reasonrl.verifiers import VERIFIERS

    answer, how = extract_answer(completion)
    if answer is None:
        return Verdict(0.0, "unparseable", how)
    if sample.verifier not in VERIFIERS:
        raise KeyError(f"unknown verifier '{sample.verifier}' (known: {', '.join(VERIFIERS)})")
    return VERIFIERS[sample.verifier](answer, sample.answer)
