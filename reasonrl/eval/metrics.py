"""Evaluation metrics as pure functions over a correctness matrix.

Shapes: P problems, n samples per problem. `correct` is a (P, n) 0/1 array (sample j of problem i
verified correct), `answers` a P-list of n-lists of extracted answers (None = nothing extracted).

    pass@1   mean correctness over the n samples (the paper's pass@1, DeepSeek-R1 §3)
    pass@k   the unbiased estimator of Chen et al. 2021 (Codex), 1 - C(n-c, k) / C(n, k),
             computed as a product so it never overflows
    maj@k    majority vote over the first k samples (the paper's cons@k); answers are grouped by
             *equivalence* through a `same(a, b)` function (the math verifier: 0.5 and 1/2 are one vote)

Every per-problem value comes with a bootstrap confidence interval over problems.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples of which c are correct: the probability that a
    random k-subset of the n samples holds at least one correct one. 1 - prod_{i=n-c+1}^{n} (1 - k/i)
    equals 1 - C(n-c, k)/C(n, k) without big binomials."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_rows(correct: np.ndarray, k: int) -> np.ndarray:
    """correct (P, n) 0/1 -> (P,) unbiased pass@k of each problem."""
    correct = np.asarray(correct)
    n = correct.shape[1]
    return np.array([pass_at_k(n, int(c), k) for c in correct.sum(axis=1)], dtype=float)


def mean_rows(values: np.ndarray) -> np.ndarray:
    """(P, n) -> (P,) mean over samples; pass@1 when `values` is the correctness matrix."""
    return np.asarray(values, dtype=float).mean(axis=1)


def vote(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> int | None:
    """Index of the sample whose answer wins the majority vote, or None if no sample has an answer.

    Answers are grouped into classes: an answer joins the first class whose representative (its first
    member) it is `same` as; identical strings join without a call. The largest class wins; a tie goes
    to the class whose first member came first. The winner's index is that first member's."""
    reps: list[int] = []            # sample index of each class's representative
    sizes: list[int] = []
    by_text: dict[str, int] = {}    # exact text -> class id
    for i, a in enumerate(answers):
        if a is None:
            continue
        cls = by_text.get(a)
        if cls is None:
            cls = next((c for c, r in enumerate(reps) if same(answers[r], a)), None)
            if cls is None:
                reps.append(i)
                sizes.append(0)
                cls = len(reps) - 1
            by_text[a] = cls
        sizes[cls] += 1
    if not reps:
        return None
    best = max(range(len(reps)), key=lambda c: (sizes[c], -reps[c]))
    return reps[best]


def maj_at_k_rows(answers: Sequence[Sequence[str | None]], correct: np.ndarray, k: int,
                  same: Callable[[str, str], bool]) -> np.ndarray:
    """(P,) maj@k: 1 if the majority answer of a problem's first k samples is correct, else 0. A
    problem where no sample produced an answer scores 0. The verdict of the winning class is its
    representative's verdict."""
    correct = np.asarray(correct)
    out = np.zeros(len(answers))
    for i, row in enumerate(answers):
        w = vote(list(row[:k]), same)
        out[i] = 0.0 if w is None else float(correct[i, w])
    return out


def bootstrap_ci(values: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (P,), resampling problems with
    replacement. n_boot = 0 or a single problem gives (mean, mean)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    if n_boot <= 0 or values.size == 1:
        m = float(values.mean())
        return (m, m)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def default_ks(n: int) -> list[int]:
    """The k reported for pass@k: 1, 2, 4, ... below n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n] if n >= 1 else []


def summarize(correct: np.ndarray, answers: Sequence[Sequence[str | None]], lengths: np.ndarray,
              truncated: np.ndarray, same: Callable[[str, str], bool], *, ks: Sequence[int] | None = None,
              n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one set of problems. correct, lengths, truncated: (P, n). Returns
    {'problems', 'samples_per_problem', 'pass@1', 'pass@k' ..., 'maj@n', 'len_mean', 'truncation_rate'},
    each metric as {'value', 'ci_low', 'ci_high'}."""
    correct = np.asarray(correct, dtype=float)
    n = correct.shape[1]
    per_problem: dict[str, np.ndarray] = {"pass@1": mean_rows(correct)}
    for k in ks if ks is not None else default_ks(n):
        if 1 < k <= n:
            per_problem[f"pass@{k}"] = pass_at_k_rows(correct, k)
    per_problem[f"maj@{n}"] = maj_at_k_rows(answers, correct, n, same)
    per_problem["len_mean"] = mean_rows(lengths)
    per_problem["truncation_rate"] = mean_rows(truncated)
    out: dict = {"problems": int(correct.shape[0]), "samples_per_problem": int(n)}
    for name, v in per_problem.items():
        lo, hi = bootstrap_ci(v, n_boot=n_boot, seed=seed)
        out[name] = {"value": float(v.mean()), "ci_low": lo, "ci_high": hi}
    return out
