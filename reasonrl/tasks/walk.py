"""The default task, "walk": a fixed chain of 10 single-digit +/- steps whose running value stays in
0..9, e.g. `5-2+0+0-2+3+3+1+1-6=`; the answer is the final value.

Writing the running values as a scratchpad genuinely helps a small model: step i of
`<think>5,3,3,3,1,4,7,8,9,3</think><answer>3</answer>` reads term i of the prompt at a constant
relative offset (scratchpad stride = prompt stride = 2 characters), while answering directly needs
the whole chain at once. The embedded base model was pretrained on a mix of terse answers
(`<think></think><answer>3</answer>`, often wrong) and worked solutions, so RL has a real choice.

Difficulty (docs/difficulty.md): task.min_terms..task.max_terms draws each problem's chain length
uniformly (held-out problems cycle through the lengths, so every prefix of the split is balanced);
task.pad_terms pads the chain with '_' to the width of a chain of that many terms, so that every
prompt has the same width (`9-8+3-3+6__________=`); task.curriculum opens the lengths over training
(reasonrl.tasks.curriculum). A problem's level is Sample.meta["level"] ("terms=6"), which the
held-out evaluation reports per level. The defaults (10 terms, no padding, no curriculum) draw
exactly the problems of the embedded default.

Answer styles beyond terse and worked (docs/learning-results.md): a partial scratchpad (the first j
running values, then the answer), a re-checked guess (`<think>G wait 5,3,...</think>`) and the
guess-first style, where the guess is written before the choice (`<think>G?</think>` kept,
`<think>G? wait 5,3,...</think>` re-checked); the
task measures scratchpads (scratch_fraction), the terse/full lengths in tokens (length_band) and a
completion's first guess (first_guess, first_pass_answer) for the per-step telemetry.
"""
from __future__ import annotations

import random
import re

from reasonrl.errors import ConfigError
from reasonrl.tasks.curriculum import Curriculum
from reasonrl.types import Sample

TERMS = 10
PAD = "_"
MAX_REDRAWS = 10_000        # consecutive training draws that hit the held-out split before giving up
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
RECHECK = " wait "              # between a guess and its re-check: `<think>3 wait 5,2,...</think>`
GUESS_MARK = "?"                # a guess written first: `<think>3?</think>` (kept) or `<think>3? wait 5,...`
_GUESS = re.compile(r"<think>\s*(\d+)\??\s+wait\b")
_KEPT = re.compile(r"\s*(\d+)\?\s*")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def make_problem(rng: random.Random, terms: int = TERMS, pad_terms: int = 0) -> tuple[str, list[int]]:
    """Draw one walk of `terms` terms: returns (prompt text, running values). The first term is the
    start value. pad_terms > 0 pads the chain with '_' to the width of a pad_terms-term chain
    (2 * pad_terms - 1 characters) before the '='."""
    values = [rng.randint(0, 9)]
    text = str(values[0])
    for _ in range(terms - 1):
        nxt = rng.randint(0, 9)
        d = nxt - values[-1]
        op = "-" if d < 0 or (d == 0 and rng.random() < 0.5) else "+"
        text += f"{op}{abs(d)}"
        values.append(nxt)
    return text.ljust(2 * pad_terms - 1, PAD) + "=", values


def check_difficulty(min_terms: int, max_terms: int, pad_terms: int, prefix: str = "task.") -> None:
    """The walk's difficulty options agree with each other (single values are range-checked in
    reasonrl.config); a one-line ConfigError naming the key otherwise."""
    if min_terms < 2:
        raise ConfigError(f"config key '{prefix}min_terms' must be >= 2, got {min_terms}")
    if max_terms < min_terms:
        raise ConfigError(f"config key '{prefix}max_terms' must be >= {prefix}min_terms ({min_terms}), got {max_terms}")
    if pad_terms and pad_terms < max_terms:
        raise ConfigError(f"config key '{prefix}pad_terms' must be 0 (no padding) or >= {prefix}max_terms "
                          f"({max_terms}), got {pad_terms}")


def completion_tokens(ctx) -> float:
    """The completion's length in tokens: with a negative weight in reward.weights, a per-token cost
    (`reward.functions=[answer,format,reasonrl.tasks.walk:completion_tokens]`)."""
    return float(len(ctx.completion_ids or ()))


def worked_response(values: list[int]) -> str:
    return f"<think>{','.join(map(str, values))}</think><answer>{values[-1]}</answer>"


def direct_response(answer: int) -> str:
    return f"<think></think><answer>{answer}</answer>"


def partial_response(values: list[int], j: int) -> str:
    """A partial scratchpad: the first j running values, then the final answer (0 < j < len(values))."""
    return f"<think>{','.join(map(str, values[:j]))}</think><answer>{values[-1]}</answer>"


def recheck_response(values: list[int], guess: int, mark: str = "") -> str:
    """A guess re-checked: the guess (with `mark`, GUESS_MARK for the guess-first style), ' wait ', the
    full scratchpad, the final answer."""
    return f"<think>{guess}{mark}{RECHECK}{','.join(map(str, values))}</think><answer>{values[-1]}</answer>"


def guess_response(guess: int) -> str:
    """A guess written first and kept (the terse answer of the guess-first style): the decision to
    re-check or not comes after the guess, `<think>3?</think><answer>3</answer>`."""
    return f"<think>{guess}{GUESS_MARK}</think><answer>{guess}</answer>"


def first_guess(completion: str) -> tuple[str | None, bool]:
    """(the answer a completion committed to before any working, whether it re-checked it): the guess
    before 'wait' (re-checked), or a terse answer or a kept guess `<think>3?</think>` (not);
    (None, False) for a worked answer."""
    m = _GUESS.search(completion)
    if m:
        return m.group(1), True
    think = _THINK.search(completion)
    kept = _KEPT.fullmatch(think.group(1)) if think else None
    if kept:
        return kept.group(1), False
    if style(completion) == "direct":
        found = _ANSWER.search(completion)
        return (found.group(1).strip() if found else None), False
    return None, False


def scratch_values(completion: str) -> int:
    """How many running values the think block holds (0 when it is empty, missing or a kept guess)."""
    m = _THINK.search(completion)
    body = m.group(1).strip() if m else ""
    return len(body.split(",")) if body and not _KEPT.fullmatch(body) else 0


def style(completion: str) -> str:
    """'worked' if the think block holds steps, 'direct' if it is empty or only a kept guess
    (`<think>3?</think>`), 'none' if there is none."""
    m = _THINK.search(completion)
    if m is None:
        return "none"
    return "worked" if m.group(1).strip() and not _KEPT.fullmatch(m.group(1)) else "direct"


class WalkTask:
    name = "walk"

    def __init__(self, heldout_size: int = 200, heldout_seed: int = 12345, min_terms: int = TERMS,
                 max_terms: int = TERMS, pad_terms: int = 0, curriculum: Curriculum | None = None):
        check_difficulty(min_terms, max_terms, pad_terms)
        self.heldout_size, self.heldout_seed = heldout_size, heldout_seed
        self.min_terms, self.max_terms, self.pad_terms = min_terms, max_terms, pad_terms
        self.curriculum = curriculum or Curriculum("none", max_terms - min_terms + 1)
        rng, n_levels = random.Random(heldout_seed), max_terms - min_terms + 1
        self._heldout = [self._sample(rng, min_terms + i % n_levels) for i in range(heldout_size)]
        self._heldout_prompts = {s.prompt for s in self._heldout}

    @classmethod
    def from_config(cls, cfg, **_context) -> "WalkTask":
        """TaskConfig -> WalkTask (the difficulty keys and the curriculum; reasonrl.tasks.make_task)."""
        check_difficulty(cfg.min_terms, cfg.max_terms, cfg.pad_terms)
        return cls(cfg.heldout_size, cfg.heldout_seed, cfg.min_terms, cfg.max_terms, cfg.pad_terms,
                   Curriculum.from_config(cfg, cfg.max_terms - cfg.min_terms + 1))

    def _sample(self, rng: random.Random, terms: int) -> Sample:
        prompt, values = make_problem(rng, terms, self.pad_terms)
        return Sample(prompt=prompt, answer=str(values[-1]), verifier="exact",
                      meta={"values": values, "level": f"terms={terms}"})

    def train_batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n training problems of `step`: a pure function of (seed, step) and the curriculum's open
        lengths, so resuming replays nothing and skips nothing. Held-out problems are never drawn
        (re-drawn if hit)."""
        top = self.max_terms if self.curriculum.top is None else self.min_terms + self.curriculum.top
        rng = random.Random(f"walk-train-{seed}-{step}")
        out: list[Sample] = []
        misses = 0
        while len(out) < n:
            s = self._sample(rng, rng.randint(self.min_terms, top) if top > self.min_terms else top)
            if s.prompt not in self._heldout_prompts:
                out.append(s)
                misses = 0
            elif (misses := misses + 1) > MAX_REDRAWS:
                raise ConfigError(f"config key 'task.min_terms': chains of {self.min_terms}..{top} terms are almost "
                                  f"all in the held-out split; raise task.min_terms or lower task.heldout_size")
        return out

    def begin_step(self, step: int) -> dict:
        """reasonrl.tasks.curriculum.CurriculumTask: open the lengths of training step `step`."""
        top = self.curriculum.begin(step)
        return {} if top is None else {"curriculum/max_terms": self.min_terms + top}

    def end_step(self, step: int, metrics: dict) -> None:
        self.curriculum.end(step, metrics)

    def heldout(self) -> list[Sample]:
        return list(self._heldout)

    def style(self, completion: str) -> str:
        return style(completion)

    def first_guess(self, completion: str) -> tuple[str | None, bool]:
        return first_guess(completion)

    def first_pass_answer(self, completion: str) -> str | None:
        """reasonrl.report.telemetry: the guess a re-check ('wait') examined, else None."""
        guess, rechecked = first_guess(completion)
        return guess if rechecked else None

    def scratch_fraction(self, completion: str, sample: Sample) -> float:
        """Share of the problem's running values the scratchpad writes: 0 terse, 1 full, between = partial."""
        return min(1.0, scratch_values(completion) / len(sample.meta["values"]))

    def length_band(self, tokenizer) -> tuple[int, int]:
        """(terse, full) completion lengths in tokens, end token included: the terse answer and the
        full worked answer of the longest chain (6 and 25 with the embedded tokenizer and 10 terms)."""
        def n(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False).input_ids) + 1
        return n(direct_response(0)), n(worked_response([0] * self.max_terms))
