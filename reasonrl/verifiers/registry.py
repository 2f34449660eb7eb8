"""The verifiers a task can name (Sample.verifier): how each extracts an answer, judges it, and checks
a gold answer once when the data is loaded.

    exact       last <answer> block anywhere, string equality (the walk task; unchanged behaviour)
    math        <answer> block / last \\boxed{} group / final-answer phrase / #### (after </think>),
                math-verify in workers
    countdown   <answer> block (after </think>), each number once, value = target
    arithmetic  <answer> / \\boxed{} / ####, exact value of an arithmetic expression
    code        ```python block / <answer> / whole text, run against the tests in the sandbox
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reasonrl.types import Verdict
from reasonrl.verifiers.answer import GRADE_SOURCES, exact_verifier, extract_answer
from reasonrl.verifiers.codecheck import code_check_many, code_check_one, code_gold_problem, extract_code
from reasonrl.verifiers.countdown import (arithmetic_gold_problem, arithmetic_verifier, countdown_gold_problem,
                                          countdown_verifier)
from reasonrl.verifiers.mathcheck import gold_problems, math_check_many
from reasonrl.verifiers.settings import current

POLICIES = {  # extraction policy name -> (sources, search only after </think>)
    "tag": (("answer",), False),
    "math": (("answer", "boxed", "final", "hash"), True),
    "grade": (GRADE_SOURCES, True),                # `reasonrl verify`: explicit markers only
    "lenient": (GRADE_SOURCES + ("number",), True),  # opt-in last-number fallback
    "countdown": (("answer",), True),
}


@dataclass(frozen=True)
class Verifier:
    """check(prediction, gold, row) -> Verdict for one answer; many (optional) does a batch in
    parallel; gold_check(golds, rows) -> ['' or why the gold is unusable, ...]."""
    name: str
    check: Callable[..., Verdict]
    policy: str = "math"
    extractor: Callable[[str], tuple[str | None, str]] | None = None
    many: Callable[[list, list, list], list[Verdict]] | None = None
    gold_check: Callable[[list, list], list[str]] | None = None

    def __call__(self, prediction: str, gold, row: Mapping | None = None) -> Verdict:
        return self.check(prediction, gold, row or {})

    def extract(self, completion: str, policy: str | None = None) -> tuple[str | None, str]:
        if self.extractor is not None and policy is None:
            return self.extractor(completion)
        sources, think = POLICIES[policy or self.policy]
        return extract_answer(completion, sources, think=think)

    def check_many(self, preds: list[str], golds: list, rows: list[Mapping]) -> list[Verdict]:
        if self.many is not None:
            return self.many(preds, golds, rows)
        return [self.check(p, g, r) for p, g, r in zip(preds, golds, rows)]

    def gold_problems(self, golds: list, rows: list[Mapping]) -> list[str]:
        if self.gold_check is None:
            return ["" if str(g).strip() else "empty gold answer" for g in golds]
        return self.gold_check(golds, rows)


def _math_one(pred: str, gold, row) -> Verdict:
    return math_check_many(golds=[str(gold)], preds=[pred], strict=current().math_strict)[0]


def _math_many(preds, golds, rows) -> list[Verdict]:
    return math_check_many(golds=[str(g) for g in golds], preds=preds, strict=current().math_strict)


def _per_row(fn: Callable[[object, Mapping], str]) -> Callable[[list, list], list[str]]:
    return lambda golds, rows: [fn(g, r) for g, r in zip(golds, rows)]


def build_verifiers() -> dict[str, Verifier]:
    return {
        "exact": Verifier("exact", exact_verifier, policy="tag"),
        "math": Verifier("math", _math_one, policy="math", many=_math_many,
                         gold_check=lambda golds, rows: gold_problems([str(g) for g in golds],
                                                                      strict=current().math_strict)),
        "countdown": Verifier("countdown", countdown_verifier, policy="countdown",
                              gold_check=_per_row(countdown_gold_problem)),
        "arithmetic": Verifier("arithmetic", arithmetic_verifier, policy="math",
                               gold_check=_per_row(arithmetic_gold_problem)),
        "code": Verifier("code", code_check_one, extractor=extract_code, many=code_check_many,
                         gold_check=_per_row(code_gold_problem)),
    }


def build_rewards() -> dict[str, Callable]:
    from reasonrl.verifiers.answer import answer_rewards
    from reasonrl.verifiers.context import batched
    from reasonrl.verifiers.format import format_reward, tag_count_reward
    from reasonrl.verifiers.language import language_reward, language_reward_en, language_reward_zh

    @batched
    def answer(ctxs):
        """The `answer` reward: a whole step at once, so math and code checks run in parallel."""
        return answer_rewards([c.completion for c in ctxs], [c.sample for c in ctxs])

    return {"answer": answer, "format": format_reward, "tag_count": tag_count_reward,
            "language": language_reward, "language_en": language_reward_en, "language_zh": language_reward_zh}
