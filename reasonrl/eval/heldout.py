"""The one generation -> verification path of every local evaluation: `reasonrl eval` (runner.py),
the training loop's held-out evaluation (reasonrl/train/record.py) and the thinking probe use it, so
the same checkpoint, data and settings give the same numbers wherever they are evaluated.

    plan_calls      missing (problem, sample) pairs -> generate calls of at most batch_size sequences
    generate_rows   each call seeded from (seed, call, first sample), then verified -> per-sample rows
    evaluate_heldout / heldout_metrics   the training loop's summaries of those rows
"""
from __future__ import annotations

import numpy as np
import torch

from reasonrl.tasks.base import StyledTask
from reasonrl.types import Sample, Verdict


def verify_all(completions: list[str], samples: list[Sample]) -> list[Verdict]:
    """Judge each completion against its sample with its verifier, as a batch where the verifiers
    module offers one (pooled maths checks run in parallel). A crash is status 'error' (scored
    wrong), never raised: one bad sample must not end an evaluation."""
    from reasonrl import verifiers

    batch = getattr(verifiers, "answer_rewards", None)
    try:
        if batch is not None:
            return list(batch(completions, samples))
    except Exception:  # noqa: BLE001 - fall back to one at a time to isolate the bad sample
        pass
    out = []
    for c, s in zip(completions, samples):
        try:
            out.append(verifiers.answer_reward(c, s))
        except Exception as e:  # noqa: BLE001
            out.append(Verdict(None, "error", f"{type(e).__name__}: {e}"))
    return out


def equivalence(verifier: str):
    """same(a, b) for majority voting: identical text, or the verifier judges b correct with a as the
    gold. Code answers vote by identical text only."""
    from reasonrl.verifiers import VERIFIERS

    fn = VERIFIERS.get(verifier) if verifier != "code" else None
    cache: dict[tuple[str, str], bool] = {}

    def same(a: str, b: str) -> bool:
        if a.strip() == b.strip():
            return True
        if fn is None:
            return False
        if (a, b) not in cache:
            try:
                cache[(a, b)] = fn.check_many([b], [a], [{"answer": a}])[0].status == "correct"
            except Exception:  # noqa: BLE001 - an answer the checker cannot read is its own vote
                cache[(a, b)] = False
        return cache[(a, b)]
    return same


def vote_fn(samples: list[Sample]):
    names = {s.verifier for s in samples}
    return equivalence(names.pop() if len(names) == 1 else "code")


def plan_calls(missing: dict[int, list[int]], batch_size: int) -> list[tuple[int, list[tuple[int, list[int]]]]]:
    """missing {problem: [sample indices]} -> calls [(n, [(problem, indices of length n), ...])] with at most
    `batch_size` sequences per call (a problem needing more than batch_size is split)."""
    items: dict[int, list[tuple[int, list[int]]]] = {}
    for p, idx in sorted(missing.items()):
        for i in range(0, len(idx), batch_size):
            chunk = idx[i:i + batch_size]
            items.setdefault(len(chunk), []).append((p, chunk))
    calls = []
    for n, group in sorted(items.items(), reverse=True):
        per_call = max(1, batch_size // n)
        calls += [(n, group[i:i + per_call]) for i in range(0, len(group), per_call)]
    return calls


def make_rows(keys: list[tuple[int, int]], texts: list[str], lengths: list[int], cut: list[bool], ids: list[str],
              samples: list[Sample], extra: list[dict] | None = None) -> list[dict]:
    """Verify completions and write them as per-sample rows. keys[i] = (problem index, sample index);
    texts[i] is the graded text (prefill included); extra[i] is merged into row i (e.g. reasoning)."""
    verdicts = verify_all(texts, [samples[p] for p, _ in keys])
    rows = []
    for i, ((p, j), t, v) in enumerate(zip(keys, texts, verdicts)):
        rows.append({"id": ids[p], "sample": j, "completion": t, "answer": v.answer, "gold": samples[p].answer,
                     "verdict": v.status, "score": v.score, "reason": v.reason, "length": int(lengths[i]),
                     "finish_reason": "length" if cut[i] else "stop", **(extra[i] if extra else {})})
    return rows


def generate_rows(backend, render, samples: list[Sample], ids: list[str], sampling: dict,
                  missing: dict[int, list[int]], *, batch_size: int, seed: int, write, progress=None) -> int:
    """Generate and verify the missing samples with a rollout backend (hf, fast, vllm); `write(rows)`
    and `progress(count)` after each call. sampling: temperature, top_p, top_k, max_new_tokens, greedy.
    Each call seeds torch from (seed, call index, first sample index). Returns the count."""
    done = 0
    for c, (n, group) in enumerate(plan_calls(missing, batch_size)):
        torch.manual_seed(seed * 1_000_003 + c * 7919 + group[0][1][0])
        gen = backend.generate([render(samples[p].prompt) for p, _ in group], n=n, **sampling)
        keys = [(p, j) for p, idx in group for j in idx]
        rows = make_rows(keys, [render.prefill + t for t in gen.texts], gen.completion_mask.sum(dim=1).tolist(),
                         gen.truncated.tolist(), ids, samples)
        write(rows)
        done += len(rows)
        if progress is not None:
            progress(len(rows))
    return done


def sampling_of(proto) -> dict:
    """A Protocol (presets.py) -> the backend's generate keywords."""
    return dict(temperature=proto.temperature, top_p=proto.top_p, top_k=proto.top_k,
                max_new_tokens=proto.max_new_tokens, greedy=proto.greedy)


def _all_rows(backend, render, samples, sampling: dict, k: int, seed: int, batch_size: int) -> list[list[dict]]:
    """k rows per problem ([problem][sample]); torch's RNG state is restored afterwards."""
    from reasonrl.templates import Renderer

    render = render or Renderer(None, "raw")
    ids = [str(i) for i in range(len(samples))]
    found: dict[tuple[str, int], dict] = {}
    state = torch.get_rng_state()
    try:
        generate_rows(backend, render, samples, ids, sampling, {p: list(range(k)) for p in range(len(samples))},
                      batch_size=batch_size, seed=seed,
                      write=lambda rows: found.update(((r["id"], r["sample"]), r) for r in rows))
    finally:
        torch.set_rng_state(state)
    return [[found[(pid, j)] for j in range(k)] for pid in ids]


def _summary(grid: list[list[dict]], task, suffix: str) -> dict:
    rows = [r for g in grid for r in g]
    out = {f"acc/heldout{suffix}": float(np.mean([r["verdict"] == "correct" for r in rows])),
           f"len/heldout{suffix}": float(np.mean([r["length"] for r in rows])),
           f"truncated/heldout{suffix}": float(np.mean([r["finish_reason"] == "length" for r in rows]))}
    if isinstance(task, StyledTask):
        out[f"worked/heldout{suffix}"] = sum(task.style(r["completion"]) == "worked" for r in rows) / len(rows)
    return out


def _by_level(grid: list[list[dict]], samples: list[Sample], task, suffix: str) -> dict:
    """The _summary keys per difficulty level (Sample.meta['level'], e.g. 'terms=6'), as
    'acc/heldout{suffix}/{level}', when the held-out problems have more than one level; else {}."""
    levels: dict[str, list[list[dict]]] = {}
    for g, s in zip(grid, samples):
        if (s.meta or {}).get("level") is not None:
            levels.setdefault(str(s.meta["level"]), []).append(g)
    if len(levels) < 2:
        return {}
    return {k: v for level, sub in levels.items() for k, v in _summary(sub, task, f"{suffix}/{level}").items()}


def evaluate_heldout(backend, task, samples, *, max_new_tokens: int, temperature: float = 1.0,
                     sampled: bool = True, seed: int = 0, batch_size: int = 256, render=None) -> dict:
    """-> {'acc/heldout', 'len/heldout', 'truncated/heldout', 'worked/heldout', and '_sampled' twins}.
    Greedy equals `reasonrl eval --preset greedy`; the sampled twin equals `--preset quick k=1
    temperature=T top_p=1` at the same seed and batch_size. With several difficulty levels, also each
    key per level ('acc/heldout/terms=6', _by_level). Never shifts the caller's torch RNG."""
    greedy = dict(temperature=temperature, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens, greedy=True)
    grid = _all_rows(backend, render, samples, greedy, 1, seed, batch_size)
    out = {**_summary(grid, task, ""), **_by_level(grid, samples, task, "")}
    if sampled:
        grid = _all_rows(backend, render, samples, {**greedy, "greedy": False}, 1, seed, batch_size)
        out.update({**_summary(grid, task, "_sampled"), **_by_level(grid, samples, task, "_sampled")})
    return out


def heldout_metrics(backend, render, samples: list[Sample], *, k: int, temperature: float, max_new_tokens: int,
                    top_p: float = 1.0, seed: int = 0, batch_size: int = 256, suffix: str = "heldout") -> dict:
    """For the training loop: k samples per held-out problem -> {'pass@1/S', 'pass@k/S' (k > 1),
    'maj@k/S', 'truncated@k/S', 'len@k/S'} (S = suffix). Never shifts the caller's torch RNG."""
    from reasonrl.eval.metrics import maj_at_k_rows, pass_at_k_rows

    sampling = dict(temperature=temperature, top_p=top_p, top_k=0, max_new_tokens=max_new_tokens, greedy=False)
    grid = _all_rows(backend, render, samples, sampling, k, seed, batch_size)
    correct = np.array([[r["verdict"] == "correct" for r in g] for g in grid], dtype=float)
    out = {f"pass@1/{suffix}": float(correct.mean()),
           f"maj@{k}/{suffix}": float(maj_at_k_rows([[r["answer"] for r in g] for g in grid], correct, k,
                                                    vote_fn(samples)).mean()),
           f"truncated@{k}/{suffix}": float(np.mean([[r["finish_reason"] == "length" for r in g] for g in grid])),
           f"len@{k}/{suffix}": float(np.mean([[r["length"] for r in g] for g in grid]))}
    if k > 1:
        out[f"pass@{k}/{suffix}"] = float(pass_at_k_rows(correct, k).mean())
    return out
