"""Rollout backends behind one protocol (`RolloutBackend`): turn prompts into sampled completions.

`hf` runs `transformers` generate in the trainer's process and shares the policy's weights.
Later backends (a fast static-cache decoder, an OpenAI-compatible server, vLLM) implement the same
two methods.
"""
from __future__ import annotations

from typing import Protocol

from reasonrl.rollout.hf import HFBackend
from reasonrl.types import Generations


class RolloutBackend(Protocol):
    def generate(self, prompts: list[str], *, n: int, temperature: float, top_p: float, top_k: int,
                 max_new_tokens: int, greedy: bool = False) -> Generations: ...

    def sync_weights(self, model) -> None: ...


BACKENDS = {"hf": HFBackend}


def make_backend(name: str, model, tokenizer):
    from reasonrl.config import ConfigError

    if name not in BACKENDS:
        raise ConfigError(f"config key 'rollout.backend': unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    return BACKENDS[name](model, tokenizer)
