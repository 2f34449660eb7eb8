"""Every algorithm preset x several seeds on a base that does not saturate: curves of sampled held-out
accuracy with confidence bands, a final table, and which differences exceed the seed spread.

The base is `reasonrl/assets/tiny-walk-small` (113,792 parameters: hidden 64, 2 layers, 4 heads,
intermediate 192; pretrained on the default 10-term walk with
`reasonrl pretrain out=reasonrl/assets/tiny-walk-small hidden=64 layers=2 heads=4 intermediate=192 threads=1`,
about 90 s on one core). Its terse guesses are right ~25% of the time and its forced-worked answers
~99%, so RL has the same choice as in the demo, but a model this small takes it slowly: accuracy is
still well below 95% after the bench's budget. Every run is one `reasonrl train` subprocess with one
torch thread; `--jobs` runs that many at once (2 fills a 2-core machine). A run whose metrics already
hold its last step is read back, not re-run, so an interrupted bench continues where it was.

Statistics, per preset over seeds: the curve is the mean with a 95% t-interval of the mean (with 3
seeds t = 4.30, so the bands are wide); the table gives the final evaluation's mean, sample standard
deviation and range, and the same for the mean of the last 3 evaluations per seed (less noisy). A
pair "separates" when the two presets' ranges over seeds do not overlap. Two presets that do not differ at
all have disjoint ranges with probability 2 / C(2n, n) for n seeds each (3 seeds: 10%; 4 seeds:
2.9%), so among the 15 pairs of 6 presets about 1.5 (3 seeds) or 0.4 (4 seeds) such separations are
expected by chance alone: treat one isolated separation as weak.

CPU:  python bench/algorithms.py              (6 presets x 4 seeds x 100 steps, 200 held-out problems
                                               every 10 steps; ~15 min on 2 quiet cores)
      python bench/algorithms.py --quick      (6 x 3 x 20 steps, 100 held-out problems; ~3 min)
      python bench/algorithms.py --plot-only  (table and figure from the runs already on disk)
Writes OUT/results.json, OUT/table.md and the figure (--img, default OUT/algorithms.png).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reasonrl.algo.presets import PRESETS  # noqa: E402
from reasonrl.report.plots import _png, series  # noqa: E402

BASE = ROOT / "reasonrl" / "assets" / "tiny-walk-small"
KEY = "acc/heldout_sampled"
# two-sided 95% t quantiles by degrees of freedom (1..9)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
MODES = {"full": dict(steps=100, every=10, size=200, seeds=4), "quick": dict(steps=20, every=10, size=100, seeds=3)}


def run_args(base: Path, out: Path, preset: str, seed: int, steps: int, every: int, size: int,
             extra: list[str]) -> list[str]:
    """The `reasonrl train` command line of one run."""
    return [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"model.path={base}", f"seed={seed}",
            f"algo.preset={preset}", f"train.steps={steps}", f"eval.every={every}", f"eval.size={size}",
            "train.threads=1", "train.checkpoint_every=100000", "train.log_rollouts=0", *extra]


def finished(out: Path, steps: int) -> bool:
    rows = read_rows(out)
    return any(r.get("step") == steps and KEY in r for r in rows)


def read_rows(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_one(cmd: list[str], out: Path, steps: int) -> float:
    """Run (or skip, when finished) one training run; returns its wall seconds (0 when skipped)."""
    if finished(out, steps):
        return 0.0
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(out / "bench.log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode
    if rc != 0:
        raise SystemExit(f"run failed (exit {rc}): {' '.join(cmd)}; see {out / 'bench.log'}")
    return time.time() - t0


def build_base(base: Path, pretrain_args: list[str]) -> None:
    """`reasonrl pretrain out=BASE ARGS` unless BASE holds weights already. A base that misses the
    pretrain gate (forced-worked accuracy below gate_accuracy) is written and used, with a warning."""
    if (base / "model.safetensors").exists():
        return
    print(f"pretraining the base into {base} (load {[round(x, 2) for x in os.getloadavg()]})", flush=True)
    rc = subprocess.run([sys.executable, "-m", "reasonrl", "pretrain", f"out={base}", *pretrain_args],
                        cwd=ROOT).returncode
    if not (base / "model.safetensors").exists():
        raise SystemExit(f"pretraining failed (exit {rc})")
    if rc:
        print(f"warning: the base missed the pretrain gate: {base / 'pretrain_report.json'}", flush=True)


def band(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% t-interval over seeds (low = high = mean for one seed)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, m, m
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return m, m - half, m + half


def curves(runs: dict[str, dict[int, list[dict]]], key: str = KEY) -> dict[str, dict]:
    """Per preset: evaluation steps and the mean/low/high of `key` over seeds at each."""
    out = {}
    for preset, by_seed in runs.items():
        per_seed = [dict(zip(*series(rows, key))) for rows in by_seed.values()]
        steps = sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
        stats = [band([s[x] for s in per_seed]) for x in steps]
        out[preset] = {"steps": steps, "mean": [b[0] for b in stats], "low": [b[1] for b in stats],
                       "high": [b[2] for b in stats]}
    return out


def final_table(runs: dict[str, dict[int, list[dict]]], tail: int = 3) -> dict[str, dict]:
    """Per preset: the last evaluation's sampled and greedy accuracy per seed, and the mean of the
    last `tail` sampled evaluations per seed ('tail'), each summarised over seeds."""
    table = {}
    for preset, by_seed in runs.items():
        evals = {s: [r for r in rows if KEY in r] for s, rows in sorted(by_seed.items())}
        sampled = [ev[-1][KEY] for ev in evals.values()]
        tails = [statistics.fmean(r[KEY] for r in ev[-tail:]) for ev in evals.values()]
        table[preset] = {"seeds": sorted(evals), "sampled": sampled, "tail": tails, **summarise(sampled),
                         "tail_mean": statistics.fmean(tails), "tail_min": min(tails), "tail_max": max(tails),
                         "greedy": [ev[-1]["acc/heldout"] for ev in evals.values()],
                         "len": statistics.fmean(ev[-1].get("len/heldout_sampled", float("nan")) for ev in evals.values()),
                         "start": statistics.fmean(ev[0][KEY] for ev in evals.values())}
        table[preset]["greedy_mean"] = statistics.fmean(table[preset]["greedy"])
    return table


def summarise(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def separations(table: dict[str, dict], key: str = "sampled") -> list[tuple[str, str, float]]:
    """Pairs (better, worse, mean difference) whose per-seed values under `key` ('sampled': the final
    evaluation; 'tail': the mean of the last evaluations) have ranges that do not overlap."""
    mean = {p: statistics.fmean(t[key]) for p, t in table.items()}
    names = sorted(table, key=lambda p: -mean[p])
    return [(a, b, mean[a] - mean[b]) for i, a in enumerate(names) for b in names[i + 1:]
            if min(table[a][key]) > max(table[b][key])]


def chance_disjoint(n: int) -> float:
    """Probability that two sets of n seeds with no real difference have disjoint ranges: 2 of the
    C(2n, n) equally likely ways to split the 2n sorted values (n = 3: 2/20 = 0.1; n = 4: 2/70)."""
    return 2 / math.comb(2 * n, n)


def table_markdown(table: dict[str, dict]) -> str:
    rows = ["| preset | start (sampled) | final sampled: mean ± sd | range | per seed | last 3 evals: mean "
            "| range | final greedy (mean) | sampled length |", "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(table, key=lambda p: -table[p]["mean"]):
        t = table[p]
        rows.append(f"| {p} | {t['start']:.3f} | {t['mean']:.3f} ± {t['sd']:.3f} | {t['min']:.3f}-{t['max']:.3f} "
                    f"| {', '.join(f'{v:.3f}' for v in t['sampled'])} | {t['tail_mean']:.3f} "
                    f"| {t['tail_min']:.3f}-{t['tail_max']:.3f} | {t['greedy_mean']:.3f} | {t['len']:.1f} |")
    n_pairs = len(table) * (len(table) - 1) // 2
    n_seeds = min(len(t["sampled"]) for t in table.values())
    chance = f"about {chance_disjoint(n_seeds) * n_pairs:.1f} expected by chance with {n_seeds} seeds and no real difference"
    said = []
    for key, what in (("sampled", "the final evaluation"), ("tail", "the mean of the last 3 evaluations")):
        seps = separations(table, key)
        said.append(f"Pairs whose ranges over seeds do not overlap, on {what}: "
                    + ("; ".join(f"{a} > {b} (+{d:.3f})" for a, b, d in seps) if seps else "none")
                    + f" ({len(seps)} of {n_pairs} pairs; {chance}).")
    return "\n".join(rows) + "\n\n" + "\n".join(said) + " Every other difference is within the seed spread.\n"


def plot(cur: dict[str, dict], path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for preset, c in sorted(cur.items()):
        line, = ax.plot(c["steps"], c["mean"], marker="o", markersize=3, label=preset)
        ax.fill_between(c["steps"], c["low"], c["high"], color=line.get_color(), alpha=0.12, linewidth=0)
    ax.set_xlabel("RL step")
    ax.set_ylabel("held-out accuracy (sampled, T=1)")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    save_figure(fig, path)


def save_figure(fig, path: Path) -> None:
    """Lay out a matplotlib Figure and write it as a PNG (the report's Agg renderer)."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png(fig))


def write_results(path: Path, info: dict, body: dict, trained: bool) -> None:
    """Write results.json ({"info": info, **body}). A re-run that trained nothing (every run read
    back, or --plot-only) keeps the timing of the run that did (wall_s, before, after), so the file
    still says what the training cost and on how loaded a machine."""
    if not trained and path.exists():
        old = json.loads(path.read_text()).get("info", {})
        info = {**info, **{k: old[k] for k in ("wall_s", "before", "after") if k in old}}
    path.write_text(json.dumps({"info": info, **body}, indent=1) + "\n")


def machine() -> dict:
    import torch

    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "loadavg": [round(x, 2) for x in os.getloadavg()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 steps, 100 held-out problems (a smoke run)")
    ap.add_argument("--out", default=None, help="runs folder (default runs/bench-algorithms[-quick])")
    ap.add_argument("--base", default=str(BASE))
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated (default: all)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per preset (default: 4, --quick 3)")
    ap.add_argument("--steps", type=int, default=None, help="override the mode's RL steps")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once, one torch thread each")
    ap.add_argument("--img", default=None, help="figure path (default OUT/algorithms.png)")
    ap.add_argument("--plot-only", action="store_true", help="read the runs on disk; train nothing")
    ap.add_argument("extra", nargs="*", help="more `reasonrl train` overrides, e.g. task.max_terms=12")
    args = ap.parse_args(argv)
    mode = dict(MODES["quick" if args.quick else "full"])
    mode["steps"] = args.steps or mode["steps"]
    args.seeds = args.seeds or mode["seeds"]
    out = Path(args.out or f"runs/bench-algorithms{'-quick' if args.quick else ''}")
    presets = [p for p in args.presets.split(",") if p]
    jobs = [(p, s) for s in range(args.seeds) for p in presets]
    env_before = machine()
    t0, trained = time.time(), False
    if not args.plot_only:
        print(f"{len(jobs)} runs ({len(presets)} presets x {args.seeds} seeds), {mode['steps']} steps each, "
              f"{args.jobs} at once; base {args.base}; load {env_before['loadavg']}", flush=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(run_one, run_args(Path(args.base), out / f"{p}-s{s}", p, s, mode["steps"],
                                                  mode["every"], mode["size"], args.extra), out / f"{p}-s{s}",
                                mode["steps"]): (p, s) for p, s in jobs}
            for f, (p, s) in futs.items():
                trained |= f.result() > 0
                print(f"  {p} seed {s}: {f.result():.0f}s", flush=True)
    runs = {p: {s: read_rows(out / f"{p}-s{s}") for s in range(args.seeds)} for p in presets}
    missing = [f"{p}-s{s}" for p, by in runs.items() for s, rows in by.items() if not any(KEY in r for r in rows)]
    if missing:
        raise SystemExit(f"no evaluations in {out} for: {', '.join(missing)} (run without --plot-only first)")
    table, cur = final_table(runs), curves(runs)
    seps = {key: separations(table, key) for key in ("sampled", "tail")}
    md = table_markdown(table)
    info = {"mode": mode, "seeds": args.seeds, "base": args.base, "extra": args.extra,
            "wall_s": round(time.time() - t0, 1), "before": env_before, "after": machine()}
    write_results(out / "results.json", info, {"table": table, "curves": cur, "separations": seps}, trained)
    (out / "table.md").write_text(md)
    img = Path(args.img or out / "algorithms.png")
    plot(cur, img, f"{len(presets)} presets x {args.seeds} seeds, {mode['steps']} steps; "
                   f"mean and 95% interval over seeds")
    print(md)
    print(f"wall {info['wall_s']:.0f}s; load before {env_before['loadavg']}, after {info['after']['loadavg']}; "
          f"wrote {out / 'results.json'}, {out / 'table.md'}, {img}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
