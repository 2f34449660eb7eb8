"""Language-consistency reward (DeepSeek-R1, stage 2): the share of chain-of-thought words written in
the target language, `Num(Words_target) / Num(Words)`, decided by Unicode script.

Words: a run of letters of an alphabetic script (Latin, Cyrillic, Greek, Arabic, Hebrew, Hangul,
Devanagari, Thai) is one word; each Han, Hiragana or Katakana character is one word (these scripts
do not separate words with spaces). Digits, punctuation, math and code symbols are not words.
Languages map to scripts (en/fr/de/es -> Latin, zh -> Han, ja -> Han+Kana, ...), so English and
French are not told apart: the reward targets script mixing (the R1 failure), not dialects.

The chain of thought is the <think> block; without one, the text before <answer> (or all of it).
No words at all -> None (not applicable). Target: the row's `language` field, else "en"; the
registry also has `language_en` and `language_zh`.
"""
from __future__ import annotations

import re
from collections import Counter

from reasonrl.types import Verdict

_SCRIPTS = {  # script -> regex of one "word" in it
    "han": r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]",
    "kana": r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]",
    "latin": r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]+(?:['\u2019][A-Za-z]+)*",
    "cyrillic": r"[\u0400-\u04ff]+",
    "greek": r"[\u0370-\u03ff]+",
    "arabic": r"[\u0600-\u06ff\u0750-\u077f]+",
    "hebrew": r"[\u0590-\u05ff]+",
    "hangul": r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+",
    "devanagari": r"[\u0900-\u097f]+",
    "thai": r"[\u0e00-\u0e7f]+",
}
_WORD = re.compile("|".join(f"(?P<{k}>{v})" for k, v in _SCRIPTS.items()))
LANGUAGES = {"en": {"latin"}, "fr": {"latin"}, "de": {"latin"}, "es": {"latin"}, "zh": {"han"},
             "ja": {"han", "kana"}, "ko": {"hangul"}, "ru": {"cyrillic"}, "el": {"greek"},
             "ar": {"arabic"}, "he": {"hebrew"}, "hi": {"devanagari"}, "th": {"thai"}}
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S)
_TAGS = re.compile(r"</?(?:think|answer)>")


def words_by_script(text: str) -> Counter:
    """Counter {script: number of words}."""
    return Counter(m.lastgroup for m in _WORD.finditer(text))


def language_share(text: str, language: str) -> float | None:
    """Share of words in the scripts of `language`; None if the text has no words."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language '{language}' (choose from {', '.join(LANGUAGES)})")
    counts = words_by_script(text)
    total = sum(counts.values())
    if total == 0:
        return None
    return sum(counts[s] for s in LANGUAGES[language]) / total


def chain_of_thought(completion: str) -> str:
    m = _THINK.search(completion)
    if m:
        return m.group(1)
    return _TAGS.sub(" ", completion.split("<answer>", 1)[0])


def _reward(ctx, language: str | None) -> Verdict:
    text = ctx if isinstance(ctx, str) else ctx.completion
    lang = language or (ctx.row.get("language") if not isinstance(ctx, str) else None) or "en"
    share = language_share(chain_of_thought(text), lang)
    if share is None:
        return Verdict(None, "not_applicable", "no words in the chain of thought")
    return Verdict(share, "correct" if share == 1.0 else "wrong", f"{share:.0%} of reasoning words in '{lang}' script")


def language_reward(ctx) -> Verdict:
    """Target language from the row's `language` field (default en). ctx: RewardContext or text."""
    return _reward(ctx, None)


def language_reward_en(ctx) -> Verdict:
    return _reward(ctx, "en")


def language_reward_zh(ctx) -> Verdict:
    return _reward(ctx, "zh")
