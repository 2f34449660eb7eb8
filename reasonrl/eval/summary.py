"""Evaluation results: per-sample rows -> a result dict (metrics overall and per group, protocol,
departures from the paper), the printed summary table, and `eval/summary.json`."""
from __future__ import annotations

import datetime
import json
import platform
from collections import Counter
from pathlib import Path

import numpy as np

from reasonrl.eval.metrics import summarize


def matrices(rows: dict[tuple[str, int], dict], ids: list[str], k: int):
    """rows keyed (id, sample) -> correct, lengths, truncated (P, k) arrays and answers P x k."""
    grid = [[rows[(pid, j)] for j in range(k)] for pid in ids]
    correct = np.array([[r["verdict"] == "correct" for r in g] for g in grid], dtype=float)
    lengths = np.array([[r["length"] for r in g] for g in grid], dtype=float)
    truncated = np.array([[r["finish_reason"] == "length" for r in g] for g in grid], dtype=float)
    answers = [[r["answer"] for r in g] for g in grid]
    statuses = Counter(r["verdict"] for g in grid for r in g)
    return correct, lengths, truncated, answers, statuses


def build_result(bench, proto, rows: dict, *, same, n_boot: int, seed: int, departures: list[str]) -> dict:
    """Everything one benchmark evaluation reports (what summary.json stores per result)."""
    correct, lengths, truncated, answers, statuses = matrices(rows, bench.ids, proto.k)
    result = {"benchmark": bench.name, "data": bench.source, "protocol": proto.as_dict(),
              "departures_from_paper": departures,
              "metrics": summarize(correct, answers, lengths, truncated, same, n_boot=n_boot, seed=seed),
              "verdicts": dict(sorted(statuses.items())), "groups": {},
              "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": f"{platform.machine()} {platform.system()}"}
    names = sorted(set(bench.groups)) if bench.groups else []
    if len(names) > 1:
        g = np.array(bench.groups)
        for name in names:
            m = g == name
            result["groups"][name] = summarize(correct[m], [a for a, keep in zip(answers, m) if keep],
                                               lengths[m], truncated[m], same, n_boot=n_boot, seed=seed)
    return result


def _pct(m: dict) -> str:
    return f"{100 * m['value']:5.1f}"


def _ci(m: dict) -> str:
    return f"[{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}]"


def _line(name: str, preset: str, met: dict) -> str:
    k = met["samples_per_problem"]
    passk = met.get(f"pass@{k}", met["pass@1"])
    return (f"{name:24s} {preset:7s} {met['problems']:6d} {k:4d}  {_pct(met['pass@1'])} {_ci(met['pass@1']):>14s}  "
            f"{_pct(passk)}  {_pct(met[f'maj@{k}'])}  {met['len_mean']['value']:8.1f}  "
            f"{_pct(met['truncation_rate'])}")


def format_table(results: list[dict]) -> str:
    """The printed summary: one row per benchmark (and indented rows per group), then each result's
    protocol and its departures from the paper. Percentages; pass@k and maj@k at k = samples per problem."""
    head = (f"{'benchmark':24s} {'preset':7s} {'probs':>6s} {'k':>4s}  {'pass@1':>5s} {'95% CI':>14s}  "
            f"{'pass@k':>5s}  {'maj@k':>5s}  {'mean len':>8s}  {'trunc%':>5s}")
    lines = [head, "-" * len(head)]
    for r in results:
        p = r["protocol"]
        lines.append(_line(r["benchmark"], p["preset"], r["metrics"]))
        for g, met in r["groups"].items():
            lines.append(_line(f"  {g}"[:24], "", met))
    for r in results:
        p = r["protocol"]
        sampling = "greedy" if p["greedy"] else f"T={p['temperature']} top-p={p['top_p']}" + (
            f" top-k={p['top_k']}" if p["top_k"] else "")
        lines.append("")
        lines.append(f"{r['benchmark']}: preset {p['preset']}, {sampling}, max_new_tokens={p['max_new_tokens']}, "
                     f"k={p['k']}, template={p['template']}, truncation rate "
                     f"{100 * r['metrics']['truncation_rate']['value']:.1f}%, verdicts {r['verdicts']}")
        deps = r["departures_from_paper"]
        lines.append("  departs from the paper's protocol:" + (" none" if not deps else ""))
        lines += [f"  - {d}" for d in deps]
    return "\n".join(lines)


def merge_summary(path: Path, results: dict[str, dict]) -> dict:
    """Add (or replace) results in eval/summary.json, keyed by their sample file's stem."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("results", {}).update(results)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data
