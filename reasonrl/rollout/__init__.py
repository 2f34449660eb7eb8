"""Rollout backends behind one protocol (`RolloutBackend`): turn prompts into sampled completions.

`hf` runs `transformers` generate in the trainer's process and shares the policy's weights.
Later backends (a fast static-cache decoder, an OpenAI-compatible server, vLLM) implement the same
two methods.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from reasonrl.rollout.fast import FastBackend
from reasonrl.rollout.hf import HFBackend
from reasonrl.rollout.server import ServerBackend
from reasonrl.errors import ConfigError
from reasonrl.types import Generations


class RolloutBackend(Protocol):
    """What the trainer, evaluation and serving use of a backend. `generate` stamps the temperature it
    sampled at on the Generations it returns (the trainer's logprobs read it from there)."""
    tokenizer: object                  # the policy's tokenizer (pad id for merging batches, decoding)

    def generate(self, prompts: list[str], *, n: int, temperature: float, top_p: float, top_k: int,
                 max_new_tokens: int, greedy: bool = False) -> Generations: ...

    def sync_weights(self, model) -> None: ...


def _vllm_backend(model, tokenizer, rollout=None):
    """vLLM is an optional extra: imported only when this backend is selected."""
    from reasonrl.rollout.vllm import VLLMBackend

    return VLLMBackend(model, tokenizer, rollout=rollout)


BACKENDS = {"hf": HFBackend, "fast": FastBackend, "server": ServerBackend, "vllm": _vllm_backend}


TAKES_ROLLOUT = {"server", "vllm"}   # backends whose settings come from the rollout config (rollout.server_*, vllm_*)
RECORDS_ROUTING = {"hf", "fast"}     # backends that can record each token's MoE experts (rollout.routing_replay)


def make_backend(name: str, model, tokenizer, rollout=None):
    """The backend `name` for this policy; rollout (a RolloutConfig, None = defaults) goes to the backends
    in TAKES_ROLLOUT, the others need no settings but rollout.routing_replay (RECORDS_ROUTING only)."""
    if name not in BACKENDS:
        raise ConfigError(f"config key 'rollout.backend': unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    replay = bool(getattr(rollout, "routing_replay", False))
    if replay and name not in RECORDS_ROUTING:
        raise ConfigError(f"config key 'rollout.routing_replay': backend '{name}' does not return the experts it "
                          f"routed each token to (backends that do: {', '.join(sorted(RECORDS_ROUTING))})")
    if name in TAKES_ROLLOUT:
        return BACKENDS[name](model, tokenizer, rollout=rollout)
    return BACKENDS[name](model, tokenizer, routing_replay=True) if replay else BACKENDS[name](model, tokenizer)


def prompt_token_counter(tokenizer, render) -> Callable[[str], int]:
    """prompt text -> tokens the rollout feeds the model (template applied, BOS included); the
    dataset task's task.max_prompt_tokens check counts with it."""
    from reasonrl.rollout.hf import encode_prompts

    return lambda prompt: int(encode_prompts(tokenizer, [render(prompt)], "cpu")[0].shape[1])


def cat_generations(parts: list[Generations], pad_id: int) -> Generations:
    """Stack several Generations: prompts left-padded to the widest, completions right-padded (routing
    likewise: its prompt columns left-padded, its completion columns right-padded, with -1)."""
    import torch

    if len(parts) == 1:
        return parts[0]
    p = max(g.prompt_ids.shape[1] for g in parts)
    t = max(g.completion_ids.shape[1] for g in parts)
    lpad = lambda x, v: torch.nn.functional.pad(x, (p - x.shape[1], 0), value=v)  # noqa: E731
    rpad = lambda x, v: torch.nn.functional.pad(x, (0, t - x.shape[1]), value=v)  # noqa: E731
    logp = versions = None
    if all(g.sampler_logp is not None for g in parts):
        logp = torch.cat([rpad(g.sampler_logp, 0.0) for g in parts])
    if all(g.versions is not None for g in parts):
        versions = torch.cat([g.versions for g in parts])
    routing = None
    if all(g.routing is not None for g in parts):
        pad4 = lambda x, left, right: torch.nn.functional.pad(x, (0, 0, 0, 0, left, right), value=-1)  # noqa: E731
        routing = torch.cat([pad4(g.routing, p - g.prompt_ids.shape[1], t - g.completion_ids.shape[1])
                             for g in parts])
    return Generations(prompt_ids=torch.cat([lpad(g.prompt_ids, pad_id) for g in parts]),
                       prompt_mask=torch.cat([lpad(g.prompt_mask, 0) for g in parts]),
                       completion_ids=torch.cat([rpad(g.completion_ids, pad_id) for g in parts]),
                       completion_mask=torch.cat([rpad(g.completion_mask, 0) for g in parts]),
                       truncated=torch.cat([g.truncated for g in parts]),
                       texts=[t_ for g in parts for t_ in g.texts], sampler_logp=logp,
                       temperature=parts[0].temperature, versions=versions, routing=routing)


def select_rows(gen: Generations, rows) -> Generations:
    """The Generations of the given row indices (a 1-D LongTensor)."""
    return Generations(prompt_ids=gen.prompt_ids[rows], prompt_mask=gen.prompt_mask[rows],
                       completion_ids=gen.completion_ids[rows], completion_mask=gen.completion_mask[rows],
                       truncated=gen.truncated[rows], texts=[gen.texts[i] for i in rows.tolist()],
                       sampler_logp=None if gen.sampler_logp is None else gen.sampler_logp[rows],
                       temperature=gen.temperature, versions=None if gen.versions is None else gen.versions[rows],
                       routing=None if gen.routing is None else gen.routing[rows])
