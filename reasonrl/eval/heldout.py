"""Held-out evaluation used by the training loop: greedy (and optionally one sample per problem)."""
from __future__ import annotations

import torch

from reasonrl.verifiers import answer_reward


def _summary(gen, samples, task, suffix: str, prefill: str = "") -> dict:
    texts = [prefill + t for t in gen.texts]
    scores = [answer_reward(t, s).score for t, s in zip(texts, samples)]
    out = {f"acc/heldout{suffix}": sum(scores) / len(scores),
           f"len/heldout{suffix}": gen.completion_mask.sum(dim=1).float().mean().item(),
           f"truncated/heldout{suffix}": gen.truncated.float().mean().item()}
    if hasattr(task, "style"):
        out[f"worked/heldout{suffix}"] = sum(task.style(t) == "worked" for t in texts) / len(samples)
    return out


def evaluate_heldout(backend, task, samples, *, max_new_tokens: int, temperature: float = 1.0,
                     sampled: bool = True, seed: int = 0, batch_size: int = 256, render=None) -> dict:
    """-> {'acc/heldout', 'len/heldout', 'worked/heldout', and '_sampled' twins}. The sampled pass
    seeds torch itself, so evaluation never shifts the training run's random stream."""
    prompts = [render(s.prompt) if render else s.prompt for s in samples]
    prefill = render.prefill if render else ""

    def run(greedy: bool):
        parts = [backend.generate(prompts[i:i + batch_size], n=1, temperature=temperature,
                                  max_new_tokens=max_new_tokens, greedy=greedy)
                 for i in range(0, len(prompts), batch_size)]
        return _concat(parts)

    out = _summary(run(True), samples, task, "", prefill)
    if sampled:
        state = torch.get_rng_state()
        torch.manual_seed(seed)
        out.update(_summary(run(False), samples, task, "_sampled", prefill))
        torch.set_rng_state(state)
    return out


def _concat(parts):
    if len(parts) == 1:
        return parts[0]

    class _G:  # only the fields _summary reads
        pass
    g = _G()
    g.texts = [t for p in parts for t in p.texts]
    t = max(p.completion_mask.shape[1] for p in parts)
    g.completion_mask = torch.cat([torch.nn.functional.pad(p.completion_mask, (0, t - p.completion_mask.shape[1]))
                                   for p in parts])
    g.truncated = torch.cat([p.truncated for p in parts])
    return g
