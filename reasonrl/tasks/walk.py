"""The default task, "walk": a fixed chain of 10 single-digit +/- steps whose running value stays in
0..9, e.g. `5-2+0+0-2+3+3+1+1-6=`; the answer is the final value.

Writing the running values as a scratchpad genuinely helps a small model: step i of
`<think>5,3,3,3,1,4,7,8,9,3</think><answer>3</answer>` reads term i of the prompt at a constant
relative offset (scratchpad stride = prompt stride = 2 characters), while answering directly needs
the whole chain at once. The embedded base model was pretrained on a mix of terse answers
(`<think></think><answer>3</answer>`, often wrong) and worked solutions, so RL has a real choice.
"""
from __future__ import annotations

import random
import re

from reasonrl.types import Sample

TERMS = 10
_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def make_problem(rng: random.Random) -> tuple[str, list[int]]:
    """Draw one walk: returns (prompt text, running values). The first term is the start value."""
    values = [rng.randint(0, 9)]
    text = str(values[0])
    for _ in range(TERMS - 1):
        nxt = rng.randint(0, 9)
        d = nxt - values[-1]
        op = "-" if d < 0 or (d == 0 and rng.random() < 0.5) else "+"
        text += f"{op}{abs(d)}"
        values.append(nxt)
    return text + "=", values


def worked_response(values: list[int]) -> str:
    return f"<think>{','.join(map(str, values))}</think><answer>{values[-1]}</answer>"


def direct_response(answer: int) -> str:
    return f"<think></think><answer>{answer}</answer>"


def style(completion: str) -> str:
    """'worked' if the think block holds steps, 'direct' if it is empty, 'none' if there is none."""
    m = _THINK.search(completion)
    if m is None:
        return "none"
    return "worked" if m.group(1).strip() else "direct"


class WalkTask:
    name = "walk"

    def __init__(self, heldout_size: int = 200, heldout_seed: int = 12345):
        self.heldout_size = heldout_size
        self.heldout_seed = heldout_seed
        self._heldout = self._draw(random.Random(heldout_seed), heldout_size)
        self._heldout_prompts = {s.prompt for s in self._heldout}

    @staticmethod
    def _draw(rng: random.Random, n: int) -> list[Sample]:
        out = []
        for _ in range(n):
            prompt, values = make_problem(rng)
            out.append(Sample(prompt=prompt, answer=str(values[-1]), verifier="exact",
                              meta={"values": values}))
        return out

    def train_batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n training problems of `step`: a pure function of (seed, step), so resuming replays
        nothing and skips nothing. Held-out problems are never drawn (re-drawn if hit)."""
        rng = random.Random(f"walk-train-{seed}-{step}")
        out: list[Sample] = []
        while len(out) < n:
            (s,) = self._draw(rng, 1)
            if s.prompt not in self._heldout_prompts:
                out.append(s)
        return out

    def heldout(self) -> list[Sample]:
        return list(self._heldout)

    def style(self, completion: str) -> str:
        return style(completion)
