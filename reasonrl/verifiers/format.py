"""Format rewards for the R1 template `<think>...</think><answer>...</answer>`.

format_reward      1 if the completion is exactly one think block followed by exactly one non-empty
                   answer block, with only whitespace around them (newlines anywhere, trailing end
                   markers such as <|im_end|> or </s> ignored), else 0 with the reason.
                   A prompt that ends in a prefilled `<think>` counts as the opening tag (when the
                   caller passes a RewardContext whose prompt shows it).
tag_count_reward   0.25 for each of <think>, </think>, <answer>, </answer> present exactly once: a
                   denser signal early in training that repeated tags cannot farm.
Both accept a RewardContext or the completion text (plus an optional, unused sample).
"""
from __future__ import annotations

import re

from reasonrl.types import Verdict

_FORMAT = re.compile(r"\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*"
                     r"<answer>(?:(?!</?answer>|</?think>).)*\S(?:(?!</?answer>|</?think>).)*</answer>\s*", re.S)
_END_MARKERS = re.compile(r"(?:\s*(?:<\|im_end\|>|<\|endoftext\|>|<\|end▁of▁sentence\|>|</s>|<eos>|<\|eot_id\|>))+\s*$")
TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _text(completion) -> str:
    """The completion, with a prefilled <think> from the prompt put back and end markers removed."""
    if isinstance(completion, str):
        text = completion
    else:
        text = completion.completion
        if completion.prompt.rstrip().endswith("<think>") and "<think>" not in text:
            text = "<think>" + text
    return _END_MARKERS.sub("", text)


def _why_not(text: str) -> str:
    counts = {t: text.count(t) for t in TAGS}
    bad = [f"{t} x{n}" for t, n in counts.items() if n != 1]
    if bad:
        return "tags not exactly once: " + ", ".join(bad)
    if re.search(r"<answer>\s*</answer>", text):
        return "empty answer block"
    if not re.match(r"\s*<think>", text):
        return "text before <think>"
    if not re.search(r"</answer>\s*$", text):
        return "text after </answer>"
    return "tags out of order or text between the blocks"


def format_reward(completion, sample=None) -> Verdict:
    """1 if well formed, else 0 (status 'wrong' with the reason)."""
    text = _text(completion)
    if _FORMAT.fullmatch(text):
        return Verdict(1.0, "correct", "well-formed tags")
    return Verdict(0.0, "wrong", _why_not(text))


def tag_count_reward(completion, sample=None) -> Verdict:
    """0.25 per tag that occurs exactly once."""
    text = _text(completion)
    once = [t for t in TAGS if text.count(t) == 1]
    score = 0.25 * len(once)
    return Verdict(score, "correct" if score == 1.0 else "wrong", f"{len(once)}/4 tags exactly once")
