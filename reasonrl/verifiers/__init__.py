"""Verifiers and rewards. A verifier judges one extracted answer against a gold answer and returns a
Verdict (score, status, reason, answer); a reward maps one RewardContext (or a whole batch) to a
score, a Verdict, or None for "not applicable". Rewards are combined with weights from the config and
each component is logged beside the total.

Registries: VERIFIERS (named by a task's samples, see registry.py) and REWARDS (names usable in
`reward.functions`, besides any "module:function"):

    answer       the sample's verifier on the extracted answer (1 correct, 0 wrong or unparseable)
    format       <think>...</think><answer>...</answer>, each exactly once        (format.py)
    tag_count    0.25 per tag present exactly once                               (format.py)
    language     share of chain-of-thought words in the row's language (en)      (language.py)
    language_en, language_zh   the same with a fixed target

Model-written code runs only in the sandbox (sandbox.py); math checks run in worker processes with a
wall-clock limit (pool.py). `reasonrl verify` grades a JSONL file of existing outputs (cli.py).
Names are loaded on first use, so a worker that imports one submodule does not import the others.
"""
from __future__ import annotations

import importlib

_NAMES = {
    "answer_reward": "answer", "answer_rewards": "answer", "exact_verifier": "answer", "extract_answer": "answer",
    "RewardContext": "context", "batched": "context", "format_reward": "format", "tag_count_reward": "format",
    "language_reward": "language", "Verifier": "registry",
}
__all__ = ["VERIFIERS", "REWARDS", *_NAMES]


def __getattr__(name: str):
    if name in ("VERIFIERS", "REWARDS"):
        from reasonrl.verifiers.registry import build_rewards, build_verifiers

        globals().setdefault("VERIFIERS", build_verifiers())
        globals().setdefault("REWARDS", build_rewards())
        return globals()[name]
    if name in _NAMES:
        value = getattr(importlib.import_module(f"reasonrl.verifiers.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reasonrl.verifiers' has no attribute '{name}'")
