"""Reasoning telemetry: what one RL step's completions say about the policy's reasoning behaviour.

Pure functions over completions, token ids, verdicts and the metrics history; `step_telemetry`
composes them into one dict of metrics per step (keys below), and `hacking_alarms` reads the metrics
history and returns warnings.

    len/correct, len/incorrect    mean completion length (tokens) of verified-correct / other answers
    reflect/per1k                 the paper's reflective words per 1,000 completion tokens
    reflect/<word>_per1k          the same for each word (wait, mistake, however, but, retry, error,
                                  verify, wrong, evaluate, check; R1 Nature paper, Ext. Data Fig. 1)
    reflect/responses             share of completions with a reflection marker (REFLECTION_MARKERS)
    reflect/readable              completions whose answer before the first marker could be read
    reflect/fixes, reflect/breaks among those: wrong first answer made right / right made wrong
    acc/first_pass                accuracy of the answer held before the first marker (the final
                                  answer where none is readable), so acc/final - acc/first_pass
                                  = (fixes - breaks) / N
    lang/mixed_rate               share of completions that mix writing systems (a heuristic)
    repetition/rate               share holding a back-to-back repeated block (a degenerate loop)
    format/fail_rate              share failing the <think>/<answer> format check
    (the truncation rate, truncated/rate, is logged with the batch metrics in reasonrl/train/rl.py)
    len/p10, len/p50, len/p90     completion-length percentiles; len/<level> the mean per difficulty level,
                                  len/p50/<level> (and p10, p90) the percentiles per level
    len/intermediate              share strictly between a task's terse and full answer lengths (walk)
    scratch/partial, /fraction    share of scratchpads holding part of their problem's steps; mean share
    scratch/p10, /p50, /p90       percentiles of the share written; /partial/<level>, /fraction/<level>
    recheck/given_wrong, /given_right, /gap, /rate   P(re-check | first guess wrong / right), their
                                  difference, the re-check share (tasks that read first guesses: walk);
                                  per level recheck/rate/<level> and the guesses' accuracy /guess_acc/<level>

Departs from the paper: the paper counts reflective words per response on its own tokenizer; here the
counts are whole words (with common inflections, case-insensitive) per 1k tokens of the policy's
tokenizer, so the numbers compare across steps of one run, not across models. A task can read the
first-pass answer itself with a `first_pass_answer(completion) -> str | None` method; the default
reads the last `<answer>` block or `\\boxed{}` before the first marker.

Used by `reasonrl train` every step (see reasonrl/train/rl.py); no command of its own.
"""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence

import numpy as np

REFLECTIVE_WORDS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")
_INFLECT = {"wait": r"wait(?:s|ed|ing)?", "mistake": r"mistakes?", "however": r"however", "but": r"but",
            "retry": r"retr(?:y|ies|ied|ying)", "error": r"errors?", "verify": r"verif(?:y|ies|ied|ying|ication)",
            "wrong": r"wrong(?:ly)?", "evaluate": r"evaluat(?:e|es|ed|ing|ion)", "check": r"check(?:s|ed|ing)?"}
_WORD_RE = {w: re.compile(rf"\b{_INFLECT[w]}\b", re.I) for w in REFLECTIVE_WORDS}
# Words that open a re-examination; "but" and "however" are too common in plain reasoning to mark one.
REFLECTION_MARKERS = ("wait", "mistake", "retry", "error", "verify", "wrong", "evaluate", "check")
_MARKER_RE = re.compile(r"\b(?:" + "|".join(_INFLECT[w] for w in REFLECTION_MARKERS) + r"|re-?check\w*)\b", re.I)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)


def reflective_counts(text: str) -> dict[str, int]:
    """Occurrences of each reflective word in `text` (whole words, common inflections, any case)."""
    return {w: len(rx.findall(text)) for w, rx in _WORD_RE.items()}


def per_1k(count: float, tokens: float) -> float:
    """`count` events per 1,000 tokens (0 when there are no tokens)."""
    return 1000.0 * count / tokens if tokens > 0 else 0.0


def first_marker(text: str) -> int | None:
    """Character offset of the first reflection marker in `text`, or None."""
    m = _MARKER_RE.search(text)
    return m.start() if m else None


def first_pass_answer(text: str) -> str | None:
    """The answer a completion held before its first reflection marker: the last `<answer>` block or
    `\\boxed{}` before it; None when there is no marker or no answer before it."""
    from reasonrl.verifiers.answer import last_boxed

    at = first_marker(text)
    if at is None:
        return None
    head = text[:at]
    found = _ANSWER_RE.findall(head)
    return found[-1].strip() if found else last_boxed(head)


def script_words(text: str) -> Counter:
    """Words per writing system (reasonrl.verifiers.language's counting), after dropping tags
    (`<think>`), LaTeX commands (`\\frac`) and one-letter Latin words (variables such as x); Han and
    Kana count as one system (cjk) and Greek is left out (math symbols)."""
    from reasonrl.verifiers.language import words_by_script

    text = re.sub(r"<[^>\n]{1,20}>|\\[A-Za-z]+|\b[A-Za-z]\b", " ", text)
    out: Counter = Counter()
    for script, n in words_by_script(text).items():
        if script != "greek":
            out["cjk" if script in ("han", "kana") else script] += n
    return out


def is_language_mixed(text: str, min_words: int = 2) -> bool:
    """True when scripts other than the text's main one hold at least `min_words` words."""
    words = script_words(text)
    return sum(words.values()) - max(words.values(), default=0) >= min_words


def _longest_true_run(eq: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    if eq.size == 0 or not eq.any():
        return 0
    padded = np.concatenate(([0], eq.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))          # starts at even positions, ends at odd ones
    return int((edges[1::2] - edges[0::2]).max())


def is_repetitive(tokens: Sequence, max_period: int = 64, min_repeats: int = 3, min_span: int = 32) -> bool:
    """True when some block of 1..max_period tokens repeats back to back at least `min_repeats` times
    over at least `min_span` tokens (the loop a degenerate policy falls into).

    tokens: (T,) token ids (or any comparable items). A run of r equal pairs (t[i] == t[i+p]) covers
    r + p tokens of period p, i.e. (r + p) / p repeats."""
    a = np.asarray(list(tokens))
    for p in range(1, min(max_period, len(a) // 2) + 1):
        r = _longest_true_run(a[p:] == a[:-p])
        if r >= (min_repeats - 1) * p and r + p >= min_span:
            return True
    return False


def length_by_correctness(lengths: Sequence[float], statuses: Sequence[str]) -> dict:
    """Mean length of 'correct' answers and of the others ('not_applicable' left out); None if empty."""
    ok = [n for n, s in zip(lengths, statuses) if s == "correct"]
    bad = [n for n, s in zip(lengths, statuses) if s not in ("correct", "not_applicable")]
    return {"len/correct": sum(ok) / len(ok) if ok else None, "len/incorrect": sum(bad) / len(bad) if bad else None}


def reflection_outcomes(first_answers: Sequence[str | None], first_correct: Sequence[bool],
                        final_correct: Sequence[bool]) -> dict:
    """Fixes and breaks of reflection. first_answers[i] is None where no first-pass answer was read;
    there the first pass counts as the final answer. All sequences have length N."""
    n = len(final_correct)
    readable = [i for i in range(n) if first_answers[i] is not None]
    fixes = sum(1 for i in readable if not first_correct[i] and final_correct[i])
    breaks = sum(1 for i in readable if first_correct[i] and not final_correct[i])
    first = [first_correct[i] if first_answers[i] is not None else final_correct[i] for i in range(n)]
    return {"reflect/readable": len(readable), "reflect/fixes": fixes, "reflect/breaks": breaks,
            "acc/first_pass": sum(first) / n if n else None}


def text_telemetry(texts: Sequence[str], token_counts: Sequence[int], statuses: Sequence[str]) -> dict:
    """Length split, reflective-word rates and language mixing of N completions (no task needed)."""
    n, tokens = len(texts), float(sum(token_counts))
    totals = Counter()
    for t in texts:
        totals.update(reflective_counts(t))
    m = length_by_correctness([float(c) for c in token_counts], statuses)
    m["reflect/per1k"] = per_1k(sum(totals.values()), tokens)
    m.update({f"reflect/{w}_per1k": per_1k(totals[w], tokens) for w in REFLECTIVE_WORDS})
    m["reflect/responses"] = sum(first_marker(t) is not None for t in texts) / n if n else 0.0
    m["lang/mixed_rate"] = sum(map(is_language_mixed, texts)) / n if n else 0.0
    return m


def _first_pass(texts, samples, task) -> tuple[list, list]:
    """First-pass answers (task's reader, else the default) and whether each is verified correct: the
    answer is judged as `<answer>A</answer>` by the sample's own verifier, like a final answer."""
    from reasonrl.verifiers.answer import answer_rewards

    from reasonrl.tasks.base import FirstPassTask

    read = task.first_pass_answer if isinstance(task, FirstPassTask) else first_pass_answer
    answers = [read(t) for t in texts]
    todo = [i for i, a in enumerate(answers) if a is not None]
    verdicts = answer_rewards([f"<answer>{answers[i]}</answer>" for i in todo], [samples[i] for i in todo])
    correct = [False] * len(texts)
    for i, v in zip(todo, verdicts):
        correct[i] = v.status == "correct"
    return answers, correct


def step_telemetry(batch, task=None, prefill: str = "") -> dict:
    """All reasoning telemetry of one RolloutBatch (see the module docstring for the keys).

    batch.gen.completion_ids (N, T), completion_mask (N, T), truncated (N,), texts N; statuses N;
    samples B with G = batch.group_size completions each. `prefill` is what the template put before
    each completion (Renderer.prefill); the format check sees prefill + completion."""
    from reasonrl.verifiers.format import format_reward

    g = batch.gen
    lens = g.completion_mask.sum(dim=1).tolist()
    texts = [prefill + t for t in g.texts]
    m = text_telemetry(texts, lens, batch.statuses)
    n = len(texts)
    ids = g.completion_ids.tolist()
    m["repetition/rate"] = sum(is_repetitive(row[:int(k)]) for row, k in zip(ids, lens)) / n if n else 0.0
    m["format/fail_rate"] = sum(format_reward(t).score == 0 for t in texts) / n if n else 0.0
    per_seq = [s for s in batch.samples for _ in range(batch.group_size)]
    answers, first_ok = _first_pass(texts, per_seq, task)
    m.update(reflection_outcomes(answers, first_ok, [s == "correct" for s in batch.statuses]))
    return m


def _values(rows: Sequence[dict], key: str, lo: int, hi: int) -> list[float]:
    """Finite values of `key` in rows[lo:hi]."""
    out = []
    for r in rows[max(lo, 0):hi]:
        v = r.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _reward_at(rows, end: int, key: str, window: int) -> float | None:
    """Mean of `key` over the last `window` rows up to index `end`; if none, the first value of the run."""
    vals = _values(rows, key, 0, end + 1)[-window:]
    if vals:
        return sum(vals) / len(vals)
    later = _values(rows, key, end + 1, len(rows))
    return later[0] if later else None


def _jump(rows, end: int, key: str, window: int, factor: float, min_abs: float) -> str | None:
    """A message when rows[end][key] is >= factor x (or <= 1/factor x) the median of the `window`
    rows before it and differs from it by at least min_abs."""
    now = _values(rows, key, end, end + 1)
    before = _values(rows, key, end - window, end)
    if not now or len(before) < 3:
        return None
    med = statistics.median(before)
    v = now[0]
    if abs(v - med) < min_abs or med <= 0:
        return None
    if v >= factor * med or v <= med / factor:
        return f"{key} jumped to {v:.3g} from a median of {med:.3g} over the previous {len(before)} steps"
    return None


def hacking_alarms(rows: Sequence[dict], end: int | None = None, *, window: int = 10,
                   reward_key: str = "reward/mean", acc_key: str = "acc/heldout", reward_rise: float = 0.05,
                   acc_drop: float = 0.05, jump: float = 2.0) -> list[str]:
    """Reward-hacking warnings at row `end` (default: the last) of the metrics history.

    (1) at an evaluation row: the shaped reward (mean over `window` steps) rose by >= reward_rise since
    the previous evaluation while held-out verified accuracy fell by >= acc_drop;
    (2) response length or (3) entropy is >= `jump` x (or <= 1/jump x) its median over the previous
    `window` steps (and differs by >= 4 tokens / 0.1 nats)."""
    end = len(rows) - 1 if end is None else end
    if end < 0:
        return []
    step = rows[end].get("step", end)
    out = []
    prev = None
    if _values(rows, acc_key, end, end + 1):      # only evaluation rows; then find the one before
        prev = next((i for i in range(end - 1, -1, -1) if _values(rows, acc_key, i, i + 1)), None)
    if prev is not None:
        a0, a1 = _values(rows, acc_key, prev, prev + 1)[0], _values(rows, acc_key, end, end + 1)[0]
        r0, r1 = _reward_at(rows, prev, reward_key, window), _reward_at(rows, end, reward_key, window)
        if r0 is not None and r1 is not None and r1 - r0 >= reward_rise and a0 - a1 >= acc_drop:
            out.append(f"{reward_key} rose {r0:.3f} -> {r1:.3f} while {acc_key} fell {a0:.3f} -> {a1:.3f} "
                       f"(steps {rows[prev].get('step', prev)} -> {step})")
    for key, min_abs in (("len/mean", 4.0), ("entropy", 0.1)):
        msg = _jump(rows, end, key, window, jump, min_abs)
        if msg:
            out.append(msg)
    return [f"reward-hacking alarm at step {step}: {m}" for m in out]


# ---------------------------------------------------------------- response-length distribution
LENGTH_PERCENTILES = (10, 50, 90)


def length_percentiles(lengths: Sequence[float], prefix: str = "len", suffix: str = "") -> dict:
    """'len/p10', 'len/p50', 'len/p90' of the completion lengths (numpy's linear interpolation); {} if empty.
    prefix/suffix rename them ('scratch/p50', 'len/p50/terms=6')."""
    if not len(lengths):
        return {}
    arr = np.asarray(lengths, dtype=float)
    return {f"{prefix}/p{q}{suffix}": float(np.percentile(arr, q)) for q in LENGTH_PERCENTILES}


def share_between(lengths: Sequence[float], lo: float, hi: float) -> float:
    """Share of lengths strictly between lo and hi (0 when empty)."""
    return sum(lo < n < hi for n in lengths) / len(lengths) if len(lengths) else 0.0


def _by_level(values: Sequence[float], levels: Sequence[str | None]) -> dict[str, list[float]]:
    """values grouped by level (None left out), when there are at least two levels; else {}."""
    groups: dict[str, list[float]] = {}
    for v, level in zip(values, levels):
        if level is not None:
            groups.setdefault(str(level), []).append(float(v))
    return groups if len(groups) > 1 else {}


def mean_by_level(values: Sequence[float], levels: Sequence[str | None], prefix: str) -> dict:
    """'{prefix}/{level}': the mean of `values` per level, when there are at least two levels; else {}."""
    return {f"{prefix}/{k}": sum(v) / len(v) for k, v in _by_level(values, levels).items()}


def percentiles_by_level(values: Sequence[float], levels: Sequence[str | None], prefix: str) -> dict:
    """'{prefix}/p10/{level}', '/p50/', '/p90/': percentiles of `values` per level (two levels or more)."""
    out: dict = {}
    for k, v in _by_level(values, levels).items():
        out.update(length_percentiles(v, prefix, f"/{k}"))
    return out


def length_telemetry(batch, task=None, band: tuple[int, int] | None = None) -> dict:
    """The step's response-length distribution (completions as sampled): percentiles, overall and per
    difficulty level ('len/p50/terms=6'), the mean length per level ('len/terms=6'), with `band` =
    (terse, full) token lengths the share strictly between them ('len/intermediate'), and with a task
    that measures its scratchpads (`scratch_fraction(completion, sample)`: 0 terse .. 1 full) the share
    of partial ones ('scratch/partial', per level 'scratch/partial/terms=6'), the mean fraction written
    ('scratch/fraction', per level) and its percentiles ('scratch/p10', 'scratch/p50', 'scratch/p90')."""
    lens = batch.gen.completion_mask.sum(dim=1).tolist()
    per_seq = [s for s in batch.samples for _ in range(batch.group_size)]
    levels = [(s.meta or {}).get("level") for s in per_seq]
    m = length_percentiles(lens)
    m.update(mean_by_level(lens, levels, "len"))
    m.update(percentiles_by_level(lens, levels, "len"))
    if band is not None:
        m["len/intermediate"] = share_between(lens, *band)
    if task is not None and hasattr(task, "scratch_fraction") and lens:
        frac = [task.scratch_fraction(t, s) for t, s in zip(batch.gen.texts, per_seq)]
        partial = [float(0 < f < 1) for f in frac]
        m["scratch/partial"] = sum(partial) / len(frac)
        m["scratch/fraction"] = sum(frac) / len(frac)
        m.update(length_percentiles(frac, "scratch"))
        m.update(mean_by_level(partial, levels, "scratch/partial"))
        m.update(mean_by_level(frac, levels, "scratch/fraction"))
    return m


def recheck_rates(guesses_correct: Sequence[bool | None], rechecked: Sequence[bool]) -> dict:
    """P(re-check | first guess wrong) and P(re-check | first guess right) over the completions that
    committed to a first guess (guesses_correct None = no guess, left out): 'recheck/given_wrong',
    'recheck/given_right' (None when no such guess) and their difference 'recheck/gap' (0 when either
    is None), plus 'recheck/rate' over all completions."""
    pairs = [(ok, r) for ok, r in zip(guesses_correct, rechecked) if ok is not None]
    wrong = [r for ok, r in pairs if not ok]
    right = [r for ok, r in pairs if ok]
    pw = sum(wrong) / len(wrong) if wrong else None
    pr = sum(right) / len(right) if right else None
    return {"recheck/given_wrong": pw, "recheck/given_right": pr,
            "recheck/gap": pw - pr if pw is not None and pr is not None else 0.0,
            "recheck/rate": sum(rechecked) / len(rechecked) if len(rechecked) else 0.0}


def guess_telemetry(batch, task) -> dict:
    """recheck_rates of a batch, for a task that reads first guesses (`first_guess(completion) ->
    (answer or None, re-checked)`, reasonrl.tasks.walk); {} for other tasks. With several difficulty
    levels also per level the re-check share ('recheck/rate/terms=6') and the first guesses' accuracy
    ('recheck/guess_acc/terms=6', over the completions that commit to a guess)."""
    from reasonrl.verifiers.answer import answer_rewards

    read = getattr(task, "first_guess", None)
    if read is None:
        return {}
    per_seq = [s for s in batch.samples for _ in range(batch.group_size)]
    found = [read(t) for t in batch.gen.texts]
    todo = [i for i, (g, _) in enumerate(found) if g is not None]
    verdicts = answer_rewards([f"<answer>{found[i][0]}</answer>" for i in todo], [per_seq[i] for i in todo])
    correct: list[bool | None] = [None] * len(found)
    for i, v in zip(todo, verdicts):
        correct[i] = v.status == "correct"
    rechecked = [r for _, r in found]
    levels = [(s.meta or {}).get("level") for s in per_seq]
    out = recheck_rates(correct, rechecked)
    out.update(mean_by_level([float(r) for r in rechecked], levels, "recheck/rate"))
    out.update(mean_by_level([float(bool(c)) for c in correct],
                             [lv if c is not None else None for lv, c in zip(levels, correct)], "recheck/guess_acc"))
    return out
