"""Answer extraction and the answer reward.

`extract_answer(text, sources=...)` reads the answer from the sources named:

    answer   the last <answer>...</answer> block (its \\boxed{} group wins; empty = no answer)
    boxed    the last group of \\boxed{...} / \\fbox{...}: boxes separated only by commas, "and" or
             spacing are one answer, in order (`\\boxed{3}, \\boxed{5}` -> "3, 5"); boxes joined by "or"
             are judged together, so a hedge is right only if every box is; nested braces matched
    final    a final-answer phrase: "the answer is X", "final answer: X", Minerva's "The final answer
             is $X$. I hope it is correct.", "$X$ is the solution", GSM8K's closing line "A: X"; X is
             the math span after the phrase or the rest of the sentence (never an open bound "X or more")
    hash     the last GSM8K `#### n` line
    whole    the whole text, when it is one short expression and nothing else (`$[0,1)$`, `\\frac{10}{9}`)
    number   the last number in the final sentence (opt-in fallback for grading other systems' outputs:
             in RL it rewards listing numbers, so no training policy uses it; hedges "3 or 7" refused)

A hedged or conditional answer ("$3$ or $4$", "\\boxed{3} (or 4)", "$3$ if ..."), an unclosed box after
the last one, and an answer taken back afterwards ("Hmm, actually it should be 6") count as none.
An <answer> block wins over everything. Among boxed / final / hash, the one stated LAST in the text
wins, so a later "the final answer is 7" beats an earlier intermediate \\boxed{5}. `whole` and `number`
are used only when no marker is found. Returns (answer, reason) or (None, why not). With `think=True`
only the text after the last </think> is searched, and an opened but never closed <think> has no
answer (the model never finished thinking; a \\boxed{} guess inside the reasoning does not count).

`answer_reward(completion, sample)` extracts with the policy of the sample's verifier and judges the
answer; `answer_rewards` does a whole batch, so pooled verifiers (math) run in parallel.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from reasonrl.types import Sample, Verdict
from reasonrl.verifiers.mathcheck import CONNECTIVES as _CONNECTIVES

ALL_SOURCES = ("answer", "boxed", "final", "hash", "whole", "number")
GRADE_SOURCES = ("answer", "boxed", "final", "hash", "whole")   # `reasonrl verify`'s default: markers only
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s${}]+)")
_HASH = re.compile(r"(?<!#)####(?!#)\s*([^\n]*)")
# what may separate the boxes of one answer: commas, "and", spacing, math delimiters, a \text{} note
# without "or", a label such as `y_2 =`
_BOX_GAP = re.compile(r"(?:[\s,;$&]|\\[,;:!quad ]+|\\\(|\\\)|\\\[|\\\]|\band\b|"
                      r"\\text\{(?![^{}]*\bor\b)[^{}]*\}|\b[A-Za-z](?:_\{?\w+\}?)?\s*=)*")
_OPEN_ENDED = re.compile(r"\bor\s+(?:more|less|fewer|greater|higher|lower|above|below|so)\b", re.I)
_HEDGE_WORDS = (r"or(?!\s+rather)|either|maybe|possibly|perhaps|if|unless|otherwise|else|alternatively|vs|versus|"
                r"but|although|though|also")
_BOX_HEDGE = re.compile(rf"[^A-Za-z]*(?:\\(?:text|mathrm|textbf)\{{\s*)?(?:{_HEDGE_WORDS})\b.{{0,40}}", re.I | re.S)
# what follows a final answer's math span in its sentence and makes it a hedge or a condition:
# "$3$ or $4$", "$3$ if $a>0$", "$3$ (maybe $4$)", "$3$ $4$"
_SPAN_HEDGE = re.compile(rf"\b(?:{_HEDGE_WORDS})\b|^[\s,;(]*(?:\$|\\\(|\\\[)\s*[-\d.]", re.I)
_TAIL_HEDGE = re.compile(rf"\b(?:{_HEDGE_WORDS})\b.*\d", re.I)
_NEXT_HEDGE = re.compile(r"[^A-Za-z\d]*(?:or|maybe|perhaps|possibly|either|but)\b[^.\n]{0,25}\d", re.I)
_FINAL = re.compile(r"(?:\bfinal\s+answer|\bthe\s+answer|\bthe\s+solution|^\s*answer)\s*(?:\*\*)?\s*"
                    r"(?P<link>is|:|=)?\s*:?[ \t]*(?:\*\*)?", re.I | re.M)
_LAST_LINE_A = re.compile(r"(?:^|\n)A:[ \t]*([^\n]+?)\s*\Z")   # GSM8K's closing "A: 26" (last line only)
# "... $x \geq 5$ is the solution." / "... $7$ is our answer."
_FINAL_AFTER = re.compile(r"(\$[^$]+\$|\\\(.+?\\\))\s*is\s+(?:the|our)\s+(?:final\s+)?(?:answer|solution)\b", re.I)
# math spans; inline $...$ and \(...\) do not cross a line break, display $$...$$ and \[...\] may
_SPAN = re.compile(r"\$\$([\s\S]+?)\$\$|\$((?:[^$\n\\]|\\.)+?)\$|\\\((.+?)\\\)|\\\[([\s\S]+?)\\\]")
# an answer taken back after it was stated: "\\boxed{5}. Hmm, actually it should be 6."
_RETRACTION = re.compile(r"\b(?:wait|actually|hmm+|oops|correction|on second thought|scratch that|I made a "
                         r"mistake|(?:that|this) (?:is|was|'s) (?:wrong|incorrect))\b.{0,80}?\d|"
                         r"\bno,.{0,80}?\d", re.I | re.S)
_SENTENCE = re.compile(r"(.*?)(?:\.(?:\s|$)|\n|$)")
_NUMBER = re.compile(r"\\[dt]?frac\{-?\d+\}\{\d+\}|-?\d+\s*/\s*\d+(?!\d|\.\d)|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|"
                     r"-?\d+(?:\.\d+)?|-?\.\d+")
_HEDGE = re.compile(r"\d\s*\$?\s*(?:or|and/or|to)\s+\$?\s*-?\.?\d|\d\s*-\s*\d+\s*$|\\pm|±")
_WORDS = re.compile(r"[A-Za-z]{3,}")
_VALUE_START = re.compile(r"[-+$\\(\[{\d.]")
_LATEX_WORDS = re.compile(r"\\[A-Za-z]+(?:\{[^{}]*\})?")


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """Top-level balanced \\boxed{...} / \\fbox{...}: [(start, end, content)] in order."""
    close, stack = {}, []            # position of each "{" -> its matching "}", in one pass
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            close[stack.pop()] = i
    out, pos = [], 0
    for m in _BOXED.finditer(text):
        end = close.get(m.end() - 1)
        if m.start() < pos or end is None:
            continue                     # nested inside the previous box, or never closed
        out.append((m.start(), end + 1, text[m.end():end].strip()))
        pos = end + 1
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last balanced \\boxed{...} (or \\fbox{...}, or `\\boxed 5`), else None."""
    spans = boxed_spans(text)
    if spans:
        return spans[-1][2]
    bare = _BOXED_BARE.findall(text)
    return bare[-1].strip() if bare else None


def _boxed_group(text: str) -> tuple[int, str | None, str] | None:
    """(start, answer, reason) of the last group of boxes; repeated identical boxes count once."""
    spans = boxed_spans(text)
    if not spans:
        bare = list(_BOXED_BARE.finditer(text))
        return (bare[-1].start(), bare[-1].group(1).strip(), "last \\boxed{}") if bare else None
    if later := [m for m in _BOXED.finditer(text) if m.start() >= spans[-1][1]]:
        return later[-1].start(), None, "unclosed \\boxed{} after the last box"
    group, hedged = [spans[-1]], False
    for prev in reversed(spans[:-1]):
        gap = text[prev[1]:group[0][0]]
        if not _BOX_GAP.fullmatch(gap):
            if not _BOX_HEDGE.fullmatch(gap):
                break
            hedged = True
        group.insert(0, prev)
    rest = text[spans[-1][1]:spans[-1][1] + 300]
    if _TAIL_HEDGE.search(_SENTENCE.match(rest).group(1)) or _NEXT_HEDGE.match(rest):
        # "\\boxed{3} (or 4)", "\\boxed{3} if $n$ is even, else 4", "\\boxed{3}. Or maybe 4."
        return group[0][0], None, "\\boxed{} hedged by what follows it"
    parts = list(dict.fromkeys(c for _, _, c in group))
    if not all(parts):
        return group[-1][0], None, "empty \\boxed{}"
    why = "last \\boxed{}" if len(parts) == 1 else f"last {len(group)} \\boxed{{}} together"
    if hedged:     # "\\boxed{3} or \\boxed{5}": judged as the set {3, 5}, so right only if every box is
        why = f"last {len(group)} \\boxed{{}} joined by 'or' (every one must be right)"
    return group[0][0], ", ".join(parts), why


def _phrase_answer(rest: str, minerva: bool) -> str:
    """The answer stated right after a final-answer phrase: a leading math span, else the sentence,
    which must start like a value (`-3`, `\\frac..`, `(B)`) or be a short token (a letter choice).
    '' when there is none."""
    m = _SPAN.match(rest)
    if m:
        tail = _SENTENCE.match(rest[m.end():m.end() + 300]).group(1)
        return "" if _SPAN_HEDGE.search(tail) else next(g for g in m.groups() if g is not None).strip()
    ans = _SENTENCE.match(rest[:300]).group(1).strip().strip("*").strip()
    if minerva and (tail := re.search(r"\bis\s+(.+)$", ans)):
        return _phrase_answer(tail.group(1), False)   # "Final Answer: The volume of $V$ is 120."
    return ans if _VALUE_START.match(ans) or len(ans) <= 3 else ""


def _looks_like_answer(text: str) -> bool:
    """A digit, some LaTeX, or a short token (a letter choice); never a sentence of prose or an
    open-ended bound ("17 or more")."""
    if not text or _OPEN_ENDED.search(text):
        return False
    prose = _WORDS.findall(_LATEX_WORDS.sub(" ", text))
    return (any(c.isdigit() for c in text) or "\\" in text or len(text) <= 3) and len(prose) <= 2


def _from_final(region: str) -> tuple[int, str | None, str] | None:
    found = []
    for m in _FINAL.finditer(region):
        rest = region[m.end():]
        if rest.lstrip().startswith(("\\boxed", "$\\boxed", "\\(\\boxed", "\\[\\boxed", "$$\\boxed")):
            continue                     # the box itself is the marker
        if not m.group("link") and not _SPAN.match(rest):
            continue                     # "Answer" with no "is"/":" counts only before a math span
        ans = _phrase_answer(rest, minerva=m.group(0).lower().lstrip().startswith("final"))
        if _looks_like_answer(ans):
            found.append((m.end(), ans, "final-answer phrase"))
    if (m := _LAST_LINE_A.search(region)) and _looks_like_answer(m.group(1)):
        found.append((m.start(1), m.group(1).rstrip("."), "final-answer phrase"))
    for m in _FINAL_AFTER.finditer(region):
        found.append((m.start(), m.group(1).strip("$").strip(), "final-answer phrase"))
    return max(found, key=lambda f: f[0]) if found else None


def _from_whole(region: str) -> tuple[str | None, str] | None:
    s = region.strip().rstrip(".").strip()
    span = _SPAN.fullmatch(s)
    if span and len(s) <= 300:
        return next(g for g in span.groups() if g is not None).strip(), "whole text is one math span"
    if not s or len(s) > 80 or "\n" in s:
        return None
    words = [w.lower() for w in _WORDS.findall(_LATEX_WORDS.sub(" ", s))]
    if len(words) > 2 or _CONNECTIVES & set(words) or not _VALUE_START.match(s):
        return None                      # prose, a hedge ("3 or 7"), or words first
    return s, "whole text is one expression"


def _from_answer_block(region: str) -> tuple[str | None, str] | None:
    blocks = _ANSWER.findall(region)
    if not blocks:
        return (None, "unclosed <answer> block") if "<answer>" in region else None
    text = blocks[-1].strip()
    many = f" (last of {len(blocks)})" if len(blocks) > 1 else ""
    if not text:
        return None, f"empty <answer> block{many}"
    boxed = _boxed_group(text)
    if boxed is None:
        return text, f"<answer> block{many}"
    _, answer, how = boxed
    return (answer, f"<answer> block{many}, {how.removeprefix('last ')}") if answer else (None, how)


def _from_hash(region: str) -> tuple[int, str | None, str] | None:
    found = list(_HASH.finditer(region))
    if not found:
        return None
    text = found[-1].group(1).strip().rstrip(".").strip()
    return found[-1].start(), (text or None), ("#### line" if text else "empty #### line")


def _from_number(region: str) -> tuple[str | None, str] | None:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", region.strip()) if _NUMBER.search(s)]
    if not sentences:
        return None
    if _HEDGE.search(sentences[-1]):
        return None, "last sentence hedges between numbers (fallback refused)"
    return _NUMBER.findall(sentences[-1])[-1].replace(",", ""), "last number (fallback)"


def think_region(text: str) -> tuple[str | None, str]:
    """The part of a completion after its reasoning: (text after the last </think>, '') or (None, why)."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1], ""
    if "<think>" in text:
        return None, "unclosed <think> block"
    return text, ""


_FINDERS = {"boxed": _boxed_group, "final": _from_final, "hash": _from_hash}
_NAMES = {"answer": "<answer> block", "boxed": "\\boxed{}", "final": "final-answer phrase", "hash": "#### line",
          "whole": "lone expression", "number": "number"}


def extract_answer(completion: str, sources: tuple[str, ...] = ALL_SOURCES,
                   think: bool = True) -> tuple[str | None, str]:
    """Return (answer, reason) from the sources named (see the module docstring for the order), or
    (None, why nothing was found)."""
    unknown = [s for s in sources if s not in ALL_SOURCES]
    if unknown:
        raise ValueError(f"unknown answer source '{unknown[0]}' (choose from {', '.join(ALL_SOURCES)})")
    region, why = think_region(completion) if think else (completion, "")
    if region is None:
        return None, why
    if "answer" in sources and (got := _from_answer_block(region)) is not None:
        if got[0] is not None and _RETRACTION.search(region, region.rfind("<answer>")):
            return None, f"{got[1]} taken back later in the text"
        return got
    marked = [f(region) for s, f in _FINDERS.items() if s in sources]
    marked = [m for m in marked if m is not None]
    if marked:
        start, answer, reason = max(marked, key=lambda m: m[0])
        if answer is not None and _RETRACTION.search(region, start):
            return None, f"{reason} taken back later in the text"
        return answer, reason
    for src, finder in (("whole", _from_whole), ("number", _from_number)):
        if src in sources and (got := finder(region)) is not None:
            return got
    return None, "no " + " / ".join(_NAMES[s] for s in sources)


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
