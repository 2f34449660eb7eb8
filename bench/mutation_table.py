"""Per-file mutation table from the results of `mutmut run` (run by `make mutate`).

Reads mutants/<file>.meta for every file that `[tool.mutmut] only_mutate` in pyproject.toml selects
and prints, per file: mutants, killed (a test failed), timeout (the tests hung: counted as killed),
survived (tests passed), no tests (no selected test reaches the mutated function: counted as
survived), equivalent (survivors listed in EQUIVALENT below) and the score
killed / (mutants - equivalent). `--survivors` also prints the diff of every survivor that is not
listed as equivalent. `--min P` exits 1 when the overall score, or any file's, is below P percent.

An equivalent mutant changes the code but no input the function is given can tell the difference;
each entry names the file, the function and the mutated line (from the diff mutmut shows), so the
list survives the renumbering of mutants when other code in a file changes. Run from the repository
root.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

# (file, function, mutated line without its comment) -> why no input can tell it from the original
DTYPE_MASK = "the mask's dtype only: an integer or bool mask multiplies and sums to the same values"
FLOOR_UNUSED = 'this estimator does not use std_floor'
G1 = 'a group of one has a nan std, and a group of one is all-equal, so it is zeroed anyway'
UNBIASED = "torch's std is unbiased by default"
BZ1 = 'with one sequence its centered reward is 0, and 0 / 1 == 0 / std_floor'
NAN0 = 'nan_to_num replaces nan by 0.0 by default'
DEVICE = 'a device argument: every tensor is on the CPU in the tests, so only a GPU run can tell'
POS_T = 'pos runs over 0..T-1, always < T'
CACHE = 'use_cache only decides whether the model also returns its KV cache; the logits are the same'
KEEP = 'the LM head runs on more positions, and the slice still takes the same T (logits_to_keep = T + 1)'
PRESET_NONE = 'preset is never None here (an unknown preset raised above), so `is None` already excludes it'
KL_NONE = "only reached with kl == 'none' under the mutant: setting kl to 'none' again changes nothing"
WARN_GET = 'warnings() takes a resolved config, whose preset always exists'
A0 = 'at A = 0 both the PPO loss and the cap -c*A are 0'
NAN = "float('NAN') is nan"
INTEGERS = 'numpy reads integers(high, size) as [0, high): the same draws'
DTYPE_NUM = 'dtype: for numeric (0/1, int, float) inputs the means are the same floats'
PASSK = 'when n - c < k the product holds the factor 1 - k/k = 0, so 1.0 comes out either way'
K1 = 'pass@1 is recomputed by the pass@k formula, which equals c/n (up to float rounding)'
MAJN = 'each row holds n answers, so row[:None] == row[:n]'
VOTE = 'every class size is shifted or scaled alike, so the comparison between classes is unchanged'

EQUIVALENT: dict[tuple[str, str, str], str] = {
    ('reasonrl/algo/advantages.py', 'batch_zscore',
     'std = centered.flatten().std(unbiased=True) if centered.numel() > 1 else centered.new_tensor(1.0)'): BZ1,
    ('reasonrl/algo/advantages.py', 'group_mean',
     'def group_mean(rewards: torch.Tensor, std_floor: float = 1.0001) -> torch.Tensor:'): FLOOR_UNUSED,
    ('reasonrl/algo/advantages.py', 'rloo',
     'def rloo(rewards: torch.Tensor, std_floor: float = 1.0001) -> torch.Tensor:'): FLOOR_UNUSED,
    ('reasonrl/algo/advantages.py', 'group_zscore',
     "std = rewards.std(dim=1, keepdim=True, unbiased=True) if (rewards.shape[1] > 1) or True "
     "else torch.zeros_like(mean)"): G1,
    ('reasonrl/algo/advantages.py', 'group_zscore',
     'std = rewards.std(dim=1, keepdim=True, unbiased=True) if rewards.shape[1] >= 1 else torch.zeros_like(mean)'): G1,
    ('reasonrl/algo/advantages.py', 'group_zscore',
     'std = rewards.std(dim=1, keepdim=True, ) if rewards.shape[1] > 1 else torch.zeros_like(mean)'): UNBIASED,
    ('reasonrl/algo/aggregation.py', 'aggregate',
     'm = mask.to(None)'): DTYPE_MASK,
    ('reasonrl/algo/loss.py', 'policy_loss',
     'm = mask.to(None)'): DTYPE_MASK,
    ('reasonrl/algo/surrogates.py', 'gspo',
     'm = mask.to(None)'): DTYPE_MASK,
    ('reasonrl/algo/tis.py', 'tis_weights',
     'm = mask.to(None)'): DTYPE_MASK,
    ('reasonrl/algo/filters.py', 'mixed_groups',
     'a = torch.nan_to_num(accuracy, nan=None)'): NAN0,
    ('reasonrl/algo/filters.py', 'mixed_groups',
     'a = torch.nan_to_num(accuracy, )'): NAN0,
    ('reasonrl/algo/logprobs.py', 'completion_mask',
     'is_eos = torch.isin(completion_ids, torch.tensor(list(eos_ids), device=None))'): DEVICE,
    ('reasonrl/algo/logprobs.py', 'completion_mask',
     'is_eos = torch.isin(completion_ids, torch.tensor(list(eos_ids), ))'): DEVICE,
    ('reasonrl/algo/logprobs.py', 'completion_mask',
     'pos = torch.arange(t, device=None)[None, :]'): DEVICE,
    ('reasonrl/algo/logprobs.py', 'completion_mask',
     'pos = torch.arange(t, )[None, :]'): DEVICE,
    ('reasonrl/algo/logprobs.py', 'completion_mask',
     'mask = (pos <= first[:, None]) & (pos <= t)'): POS_T,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     'out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=None,'): CACHE,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     'out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, logits_to_keep=t + 1)'): CACHE,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     'out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=True,'): CACHE,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     ')'): KEEP,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     'logits_to_keep=t + 2)'): KEEP,
    ('reasonrl/algo/logprobs.py', 'sequence_logprobs',
     'logits = out.logits[:, -(t + 2):-1, :]'): KEEP,
    ('reasonrl/algo/presets.py', 'resolve_algo',
     'if f.name != "XXpresetXX" and getattr(algo, f.name) is None}'): PRESET_NONE,
    ('reasonrl/algo/presets.py', 'resolve_algo',
     'if f.name != "PRESET" and getattr(algo, f.name) is None}'): PRESET_NONE,
    ('reasonrl/algo/presets.py', 'resolve_algo',
     'if algo.beta == 0 and algo.kl != "XXnoneXX":'): KL_NONE,
    ('reasonrl/algo/presets.py', 'resolve_algo',
     'if algo.beta == 0 and algo.kl != "NONE":'): KL_NONE,
    ('reasonrl/algo/presets.py', 'warnings',
     'preset = PRESETS.get(algo.preset, None)'): WARN_GET,
    ('reasonrl/algo/presets.py', 'warnings',
     'preset = PRESETS.get(algo.preset, )'): WARN_GET,
    ('reasonrl/algo/surrogates.py', 'dual_clip',
     'return torch.where(a <= 0, capped, loss), stats'): A0,
    ('reasonrl/eval/metrics.py', 'bootstrap_ci',
     'return (float("NAN"), float("nan"))'): NAN,
    ('reasonrl/eval/metrics.py', 'bootstrap_ci',
     'return (float("nan"), float("NAN"))'): NAN,
    ('reasonrl/eval/metrics.py', 'bootstrap_ci',
     'idx = rng.integers(values.size, size=(n_boot, values.size))'): INTEGERS,
    ('reasonrl/eval/metrics.py', 'bootstrap_ci',
     'values = np.asarray(values, dtype=None)'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'bootstrap_ci',
     'values = np.asarray(values, )'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'mean_rows',
     'return np.asarray(values, dtype=None).mean(axis=1)'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'mean_rows',
     'return np.asarray(values, ).mean(axis=1)'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'pass_at_k_rows',
     'return np.array([pass_at_k(n, int(c), k) for c in correct.sum(axis=1)], dtype=None)'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'pass_at_k_rows',
     'return np.array([pass_at_k(n, int(c), k) for c in correct.sum(axis=1)], )'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'summarize',
     'correct = np.asarray(correct, dtype=None)'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'summarize',
     'correct = np.asarray(correct, )'): DTYPE_NUM,
    ('reasonrl/eval/metrics.py', 'pass_at_k',
     'if n + c < k:'): PASSK,
    ('reasonrl/eval/metrics.py', 'summarize',
     'if 1 <= k <= n:'): K1,
    ('reasonrl/eval/metrics.py', 'summarize',
     'per_problem[f"maj@{n}"] = maj_at_k_rows(answers, correct, None, same)'): MAJN,
    ('reasonrl/eval/metrics.py', 'vote',
     'sizes.append(1)'): VOTE,
    ('reasonrl/eval/metrics.py', 'vote',
     'sizes[cls] += 2'): VOTE,
}

KILLED, TIMEOUT, SURVIVED, NO_TESTS = (1, 3), (36, 24, -24, 152, 255), (0,), (5, 33)


def mutated_files(root: Path) -> list[str]:
    """The source files `[tool.mutmut] only_mutate` selects, that mutmut has results for."""
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    metas = sorted((root / "mutants").rglob("*.py.meta"))
    rels = [str(p.relative_to(root / "mutants"))[:-len(".meta")] for p in metas]
    return [r for r in rels if any(fnmatch.fnmatch(r, pat) for pat in cfg["only_mutate"])]


def _code(line: str) -> str:
    return re.sub(r"\s{2,}# .*$", "", line[1:].strip())


def diff_lines(name: str, path: str) -> tuple[str, str, str]:
    """(function, original line, mutated line) of one mutant from mutmut's own diff, comments dropped."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path).splitlines()
    old = next((_code(ln) for ln in diff[2:] if ln.startswith("-")), "")
    new = next((_code(ln) for ln in diff[2:] if ln.startswith("+")), "")
    return name.rpartition(".")[2].split("__mutmut_")[0].removeprefix("x_"), old, new


def file_row(root: Path, path: str, show: bool) -> dict:
    codes = json.loads((root / "mutants" / (path + ".meta")).read_text())["exit_code_by_key"]
    row = dict(file=path, mutants=len(codes), killed=0, timeout=0, survived=0, no_tests=0, equivalent=0,
               other=0)
    for name, code in sorted(codes.items()):
        if code in KILLED or code in TIMEOUT:
            row["killed" if code in KILLED else "timeout"] += 1
            continue
        if code not in SURVIVED + NO_TESTS:
            row["other"] += 1      # not checked, segfault, suspicious: never counted as killed
            continue
        func, old, new = diff_lines(name, path)
        if (path, func, new) in EQUIVALENT:
            row["equivalent"] += 1
            continue
        row["survived" if code in SURVIVED else "no_tests"] += 1
        if show:
            print(f"  {'SURVIVED' if code in SURVIVED else 'NO TESTS'} {name}\n    - {old}\n    + {new}")
    return row


def score(row: dict) -> float:
    live = row["mutants"] - row["equivalent"]
    return 100.0 * (row["killed"] + row["timeout"]) / live if live else 100.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--survivors", action="store_true", help="print the diff of every non-equivalent survivor")
    ap.add_argument("--min", type=float, default=None, help="exit 1 if any score is below this percentage")
    args = ap.parse_args(argv)
    root = Path.cwd()
    if not (root / "mutants").is_dir():
        print("no mutants/ folder: run `make mutate` (mutmut run) first", file=sys.stderr)
        return 2
    rows = [r for r in (file_row(root, p, args.survivors) for p in mutated_files(root)) if r["mutants"]]
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k != "file"} | {"file": "TOTAL"}
    cols = ("mutants", "killed", "timeout", "survived", "no_tests", "equivalent", "other")
    print(f"{'file':34s}" + "".join(f"{c:>11s}" for c in cols) + f"{'score %':>9s}")
    for r in rows + [total]:
        print(f"{r['file']:34s}" + "".join(f"{r[c]:>11d}" for c in cols) + f"{score(r):>9.1f}")
    if args.min is not None and any(score(r) < args.min for r in rows + [total]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
