"""Sample completions for the report: the same held-out prompts at the start, middle and end of
training, so a reader sees how one model's answers to one question changed.

During training, `probe` runs at every evaluation and its rows go to RUN_DIR/samples.jsonl; a run
without that file falls back to rollouts.jsonl (whose prompts differ from step to step)."""
from __future__ import annotations

from collections.abc import Sequence


def probe(backend, samples: Sequence, render=None, *, max_new_tokens: int, k: int = 4) -> list[dict]:
    """Greedy completions of the first k problems (no randomness, so the training stream is untouched).
    -> k rows {prompt, answer, completion (with the template's prefill), status}."""
    from reasonrl.verifiers import answer_reward

    chosen = list(samples[:k])
    if not chosen:
        return []
    prompts = [render(s.prompt) if render else s.prompt for s in chosen]
    prefill = render.prefill if render else ""
    gen = backend.generate(prompts, n=1, max_new_tokens=max_new_tokens, greedy=True)
    out = []
    for s, t in zip(chosen, gen.texts):
        text = prefill + t
        out.append({"prompt": s.prompt, "answer": s.answer, "completion": text,
                    "status": answer_reward(text, s).status})
    return out


def pick_steps(steps: Sequence[int]) -> list[int]:
    """First, middle and last of the distinct steps (fewer when there are fewer)."""
    s = sorted(set(steps))
    if len(s) <= 3:
        return s
    return [s[0], s[len(s) // 2], s[-1]]


def same_prompt_table(rows: Sequence[dict], k: int = 4) -> tuple[list[int], list[tuple[str, str, list]]]:
    """From samples.jsonl rows: (steps, [(prompt, gold answer, [row at each step or None])]) for up to
    k prompts seen at the first of the picked steps."""
    steps = pick_steps([r["step"] for r in rows if "step" in r])
    if not steps:
        return [], []
    by = {(r.get("step"), r.get("prompt")): r for r in rows}
    prompts = [r for r in rows if r.get("step") == steps[0]][:k]
    table = [(p.get("prompt", ""), p.get("answer", ""), [by.get((s, p.get("prompt"))) for s in steps])
             for p in prompts]
    return steps, table


def rollout_picks(rows: Sequence[dict], k: int = 3) -> list[tuple[int, list[dict]]]:
    """From rollouts.jsonl rows: [(step, first k rows of that step)] at the first, middle, last step."""
    return [(s, [r for r in rows if r.get("step") == s][:k]) for s in pick_steps([r["step"] for r in rows
                                                                                    if "step" in r])]
