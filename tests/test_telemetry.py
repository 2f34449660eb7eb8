"""Telemetry counters on fixed, hand-written completions (values worked out in the comments)."""
import pytest
import torch

from reasonrl.report import telemetry as tm
from reasonrl.types import Generations, RolloutBatch, Sample


def test_reflective_counts_whole_words_and_inflections():
    text = "Wait, wait. I checked it but made a mistake; butter is not a word we count. Let me re-verify: WRONG."
    c = tm.reflective_counts(text)
    # wait x2 (case-insensitive), check x1 ("checked"), but x1 ("butter" is not "but"), mistake x1,
    # wrong x1; "re-verify" holds the whole word "verify" after the hyphen -> 1
    assert c == {"wait": 2, "mistake": 1, "however": 0, "but": 1, "retry": 0, "error": 0, "verify": 1,
                 "wrong": 1, "evaluate": 0, "check": 1}


def test_per_1k():
    assert tm.per_1k(3, 600) == pytest.approx(5.0)   # 3 / 600 * 1000
    assert tm.per_1k(3, 0) == 0.0


def test_first_pass_answer_reads_answer_before_first_marker():
    t = "<think>2+2=5 <answer>5</answer> wait, 2+2=4</think><answer>4</answer>"
    assert tm.first_pass_answer(t) == "5"
    assert tm.first_pass_answer(r"so \boxed{\frac{1}{2}}. Let me check: it is \boxed{1}") == r"\frac{1}{2}"
    assert tm.first_pass_answer("<think>1,2</think><answer>2</answer>") is None    # no marker
    assert tm.first_pass_answer("wait <answer>3</answer>") is None                   # nothing before it
    assert tm.first_pass_answer("but <answer>3</answer>") is None                    # 'but' is no marker


def test_language_mixing():
    assert not tm.is_language_mixed("<think>Let x be 3, so x+1=4</think><answer>4</answer>")
    assert not tm.is_language_mixed("设 x 为 3，则 x+1=4 \\frac{1}{2}")      # one-letter x, LaTeX dropped
    assert tm.is_language_mixed("First compute 北京 distance")                   # 2 CJK words in English
    assert not tm.is_language_mixed("the angle α is π/2")                        # Greek counts as math
    assert tm.script_words("hello мир 你好 x") == {"latin": 1, "cyrillic": 1, "cjk": 2}


def test_is_repetitive():
    loop = [7, 8, 9] * 11                       # period 3, 33 tokens >= min_span 32, 11 repeats >= 3
    assert tm.is_repetitive(loop)
    assert not tm.is_repetitive(loop[:30])      # 30 tokens < min_span 32
    assert not tm.is_repetitive(list(range(100)))
    assert tm.is_repetitive([1, 2] + [5] * 40)  # period 1
    assert not tm.is_repetitive(list("abcd" * 2), min_span=4, min_repeats=3)   # only 2 repeats
    assert tm.is_repetitive(list("abcd" * 3), min_span=4, min_repeats=3)


def test_length_by_correctness():
    m = tm.length_by_correctness([10, 20, 30, 5], ["correct", "wrong", "unparseable", "not_applicable"])
    assert m == {"len/correct": 10.0, "len/incorrect": 25.0}     # (20 + 30) / 2
    assert tm.length_by_correctness([1], ["wrong"])["len/correct"] is None


def test_reflection_outcomes_identity():
    first = ["5", None, "3", "4"]
    first_ok = [False, False, True, True]
    final_ok = [True, True, False, True]
    m = tm.reflection_outcomes(first, first_ok, final_ok)
    # readable: 0, 2, 3; fix: 0 (W->R); break: 2 (R->W); first-pass correct: F, (final) T, T, T = 3/4
    assert m == {"reflect/readable": 3, "reflect/fixes": 1, "reflect/breaks": 1, "acc/first_pass": 0.75}
    # acc/final - acc/first_pass = (fixes - breaks) / N: 3/4 - 3/4 = 0


def _batch(texts, statuses, lengths, answers=("4",), group=None, truncated=None):
    n = len(texts)
    t = max(lengths)
    mask = torch.tensor([[1] * k + [0] * (t - k) for k in lengths])
    ids = torch.arange(n * t).view(n, t)        # distinct tokens: nothing repeats
    gen = Generations(prompt_ids=torch.zeros(n, 1, dtype=torch.long), prompt_mask=torch.ones(n, 1),
                      completion_ids=ids, completion_mask=mask,
                      truncated=torch.tensor(truncated or [False] * n), texts=list(texts))
    samples = [Sample(prompt="2+2=", answer=a) for a in answers]
    return RolloutBatch(samples=samples, group_size=group or n // len(samples), gen=gen,
                        rewards=torch.zeros(n), components={}, advantages=torch.zeros(n), statuses=list(statuses))


def test_step_telemetry_on_fixed_texts():
    texts = ["<think>2+2=\\boxed{5} Wait, that is wrong</think><answer>4</answer>",   # fix
             "<think>2+2=\\boxed{4} wait, check: 5</think><answer>5</answer>",        # break
             "<think>2+2=4</think><answer>4</answer>",
             "no tags at all"]
    b = _batch(texts, ["correct", "wrong", "correct", "unparseable"], [40, 40, 10, 10])
    m = tm.step_telemetry(b)
    assert m["len/correct"] == 25.0            # (40 + 10) / 2
    assert m["len/incorrect"] == 25.0          # (40 + 10) / 2
    # reflective words: text 0: wait, wrong; text 1: wait, check -> 4 in 100 tokens = 40 per 1k
    assert m["reflect/per1k"] == pytest.approx(40.0)
    assert m["reflect/wait_per1k"] == pytest.approx(20.0)
    assert m["reflect/responses"] == 0.5
    assert m["reflect/fixes"] == 1 and m["reflect/breaks"] == 1 and m["reflect/readable"] == 2
    assert m["acc/first_pass"] == 0.5          # first passes: 5 (wrong), 4 (right), final right, final wrong
    assert m["format/fail_rate"] == 0.25       # only text 3 (no tags)
    assert m["repetition/rate"] == 0.0
    assert m["lang/mixed_rate"] == 0.0


def test_step_telemetry_prefill_and_task_reader():
    class Task:
        @staticmethod
        def first_pass_answer(text):
            return text.split("wait")[0][-1] if "wait" in text else None

    texts = ["3wait4</think><answer>4</answer>", "4</think><answer>4</answer>"]
    b = _batch(texts, ["correct", "correct"], [8, 5])
    m = tm.step_telemetry(b, Task(), prefill="<think>")
    assert m["format/fail_rate"] == 0.0        # "<think>" + completion is well formed
    assert m["reflect/fixes"] == 1             # the task's reader: 3 (wrong) then 4 (right)
    assert m["acc/first_pass"] == 0.5


def _rows(rewards, accs, lens=None):
    rows = []
    for i, (r, a) in enumerate(zip(rewards, accs)):
        row = {"step": i + 1, "reward/mean": r, "len/mean": (lens or [10.0] * len(rewards))[i], "entropy": 0.5}
        if a is not None:
            row["acc/heldout"] = a
        rows.append(row)
    return rows


def test_hacking_alarm_reward_up_accuracy_down():
    # reward: mean of steps 1-4 = 0.2, of steps 5-8 = 0.5 (window 4); held-out 0.6 at step 4, 0.5 at step 8
    rows = _rows([0.2] * 4 + [0.5] * 4, [None, None, None, 0.6, None, None, None, 0.5])
    msgs = tm.hacking_alarms(rows, window=4)
    assert len(msgs) == 1 and "reward/mean rose 0.200 -> 0.500" in msgs[0] and "fell 0.600 -> 0.500" in msgs[0]
    assert tm.hacking_alarms(rows, end=6, window=4) == []                  # not an evaluation row
    ok = _rows([0.2] * 4 + [0.5] * 4, [None, None, None, 0.6, None, None, None, 0.62])
    assert tm.hacking_alarms(ok, window=4) == []                            # accuracy rose with reward


def test_hacking_alarm_length_jump():
    rows = _rows([0.1] * 6, [None] * 6, lens=[10, 11, 10, 12, 10, 25.0])
    # median of the previous 5 lengths = 10; 25 >= 2 x 10 and 25 - 10 >= 4 tokens
    (msg,) = tm.hacking_alarms(rows)
    assert "len/mean jumped to 25 from a median of 10" in msg
    assert tm.hacking_alarms(_rows([0.1] * 6, [None] * 6, lens=[1, 1, 1, 1, 1, 3])) == []   # < 4 tokens
