"""Format reward: the completion is `<think>...</think>` followed by `<answer>...</answer>`, each tag
exactly once, nothing after the answer."""
from __future__ import annotations

import re

from reasonrl.types import Sample, Verdict

_FORMAT = re.compile(r"^\s*<think>(?:(?!<think>|</think>).)*</think>\s*<answer>(?:(?!<answer>|</answer>).)+</answer>\s*$",
                     re.S)


def format_reward(completion: str, sample: Sample | None = None) -> Verdict:
    """1 if well formed, else 0 (status 'wrong' with the reason)."""
    if _FORMAT.match(completion):
        return Verdict(1.0, "correct", "well-formed tags")
    return Verdict(0.0, "wrong", "tags missing, repeated or out of order")
