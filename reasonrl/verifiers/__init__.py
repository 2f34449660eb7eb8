"""Verifiers and rewards. A verifier judges one completion against a gold answer and returns a
Verdict; a reward function maps (completion, sample) to a Verdict (or a float, or None for "not
applicable"). Rewards are combined with weights from the config; each component is logged.

Registries: VERIFIERS (answer checkers named by a task's samples) and REWARDS (names usable in
`reward.functions`, besides any "module:function").
"""
from __future__ import annotations

from reasonrl.verifiers.answer import answer_reward, exact_verifier, extract_answer
from reasonrl.verifiers.format import format_reward

VERIFIERS = {"exact": exact_verifier}
REWARDS = {"answer": answer_reward, "format": format_reward}

__all__ = ["VERIFIERS", "REWARDS", "answer_reward", "exact_verifier", "extract_answer", "format_reward"]
