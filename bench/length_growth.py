"""Does the response length grow gradually under RL when longer answers pay more as problems get harder?

Bases (built by the first step, skipped when present), chains of 4 to 10 terms padded to one width:
  partial  (default) the embedded base continued for 600 steps on answers whose scratchpad mostly
           stops early: in 80% of the rows, before each running value, the first included, it stops
           with chance 0.3 and answers (reasonrl.train.pretrain.partial_count); the other 20% are full
           worked answers (without them the base rarely sees a full scratchpad of a long chain end, and
           overruns it). So the base writes 0, 1, 2, ... of its values with falling probability:
             reasonrl pretrain out=OUT/base init=embedded min_terms=4 max_terms=10 pad_terms=10
                 worked_share=1 anneal_share=1 partial_share=0.8 partial_stop=0.3 steps=600 lr=5e-4
                 warmup_steps=50 threads=1
  padded   the embedded default's shape from scratch on terse and full worked answers only (the first
           attempt: the answers switched between the two styles; 3,000 steps with its gate chunks):
             reasonrl pretrain out=OUT/base min_terms=4 max_terms=10 pad_terms=10 threads=1

RL (`reasonrl train`, grpo, one torch thread), two arms with the same base and budget, --seeds each,
at a third of the default learning rate with the partial base (train.lr=3e-5: at 1e-4 the same
change happens within ~20 steps, too fast to watch; --quick keeps 1e-4):
  curriculum  task.curriculum=steps: 4-term chains first, one more term every 15 steps (10 terms from
              step 91), so the worked answer (2n + 5 tokens for n terms) has to grow to stay right;
  control     every length 4..10 from the first step.
Held-out: 200 problems (28 or 29 per length), greedy and sampled, every 10 steps.

Per step it reads the training batch's length percentiles, overall and per chain length
(len/p10, len/p50, len/p90, len/p50/terms=N), the share of completions strictly between the terse
answer (6 tokens) and the full worked answer of a 10-term chain (25 tokens) (len/intermediate), and,
per problem, how much of its own scratchpad each answer writes: the share written (0 terse .. 1
full; its percentiles scratch/p10, p50, p90 and its mean per chain length scratch/fraction/terms=N)
and the share of answers that write some but not all of it (scratch/partial). The length share
counts a full answer of a short chain as intermediate; the per-problem share does not.
Before RL it samples the base on the held-out problems and prints its accuracy by how much of the
scratchpad each answer wrote (does a longer answer pay?).

CPU:  python bench/length_growth.py            (base ~2.5 min; 2 arms x 3 seeds of 120 steps, two at
                                                a time, ~12 min on 2 quiet cores)
      python bench/length_growth.py --base padded --seeds 1 --out runs/bench-length-padded
      python bench/length_growth.py --quick    (one seed, 40 steps, one more term every 5 steps)
      python bench/length_growth.py --plot-only
Writes OUT/results.json and the figure (--img, default OUT/length-growth.png).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from algorithms import build_base, machine, read_rows, run_one, save_figure, write_results

from reasonrl.report.plots import _smooth, series

SMOOTH = 5          # steps in the trailing mean of the per-step curves
WINDOW = 20         # steps per row of the printed table
MIN, MAX, PAD = 4, 10, 10
DIFFICULTY = [f"min_terms={MIN}", f"max_terms={MAX}", f"pad_terms={PAD}", "threads=1"]
RL_LR = {"partial": ["train.lr=3e-5"], "padded": []}
BASES = {"partial": ["init=embedded", *DIFFICULTY, "worked_share=1", "anneal_share=1", "partial_share=0.8",
                     "partial_stop=0.3", "steps=600", "lr=5e-4", "warmup_steps=50"],
         "padded": DIFFICULTY}
MODES = {"full": dict(steps=120, every=10, open_every=15), "quick": dict(steps=40, every=10, open_every=5)}
ARMS = ("curriculum", "control")
TABLE_KEYS = ("len/p10", "len/p50", "len/p90", "scratch/p10", "scratch/p50", "scratch/p90", "scratch/partial",
              "len/intermediate")


def arm_args(base: Path, out: Path, arm: str, seed: int, steps: int, every: int, open_every: int,
             extra: list[str] = ()) -> list[str]:
    """The `reasonrl train` command line of one arm."""
    cmd = [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"model.path={base}", f"seed={seed}",
           f"task.min_terms={MIN}", f"task.max_terms={MAX}", f"task.pad_terms={PAD}", f"train.steps={steps}",
           f"eval.every={every}", "eval.size=200", "train.threads=1", "train.checkpoint_every=100000",
           "train.log_rollouts=0", *extra]
    if arm == "curriculum":
        opens = ",".join(str(1 + open_every * k) for k in range(1, MAX - MIN + 1))
        cmd += ["task.curriculum=steps", f"task.curriculum_steps=[{opens}]"]
    return cmd


def window_means(rows: list[dict], key: str, window: int = WINDOW) -> dict[int, float]:
    """{first step of the window: mean of `key` over the window's steps that log it} (steps 1..window -> 1)."""
    groups: dict[int, list[float]] = {}
    for x, y in zip(*series(rows, key)):
        if x >= 1:
            groups.setdefault(1 + (int(x) - 1) // window * window, []).append(y)
    return {k: statistics.fmean(v) for k, v in sorted(groups.items())}


def seed_mean(per_seed: list[dict[int, float]]) -> dict[int, float]:
    """Mean over seeds of window means, for the windows every seed has."""
    common = set.intersection(*(set(d) for d in per_seed)) if per_seed else set()
    return {k: statistics.fmean(d[k] for d in per_seed) for k in sorted(common)}


def peak(rows: list[dict], key: str) -> tuple[float | None, int | None]:
    xs, ys = series(rows, key)
    return (max(ys), int(xs[ys.index(max(ys))])) if ys else (None, None)


def evals(rows: list[dict], key: str) -> tuple[float | None, float | None]:
    xs, ys = series(rows, key)
    return (ys[0], ys[-1]) if ys else (None, None)


def summary(runs: list[list[dict]]) -> dict:
    """One arm over its seeds: window means of the table keys and of the per-level share written and
    median length, peaks per seed, held-out accuracy first/last per seed."""
    table = {key: seed_mean([window_means(r, key) for r in runs]) for key in TABLE_KEYS}
    levels = {f"terms={n}": {"fraction": seed_mean([window_means(r, f"scratch/fraction/terms={n}") for r in runs]),
                             "p50": seed_mean([window_means(r, f"len/p50/terms={n}") for r in runs])}
              for n in range(MIN, MAX + 1)}
    return {"windows": table, "levels": levels,
            "partial_peak": [peak(r, "scratch/partial") for r in runs],
            "intermediate_peak": [peak(r, "len/intermediate") for r in runs],
            "heldout_sampled": [evals(r, "acc/heldout_sampled") for r in runs],
            "heldout_greedy": [evals(r, "acc/heldout") for r in runs]}


def probe_base(base: Path, reps: int = 2, seed: int = 0) -> dict[str, list[float]]:
    """Sample the base (T=1) `reps` times on the held-out problems; {bin of the share of its own
    scratchpad an answer wrote: [count, accuracy]} with bins terse, under half, half or more (not
    full), full."""
    import torch

    from reasonrl.models import load_model
    from reasonrl.rollout.hf import HFBackend
    from reasonrl.tasks.walk import WalkTask
    from reasonrl.verifiers import answer_reward

    torch.set_num_threads(1)
    model, tok = load_model(base, device="cpu")
    task = WalkTask(200, min_terms=MIN, max_terms=MAX, pad_terms=PAD)
    samples = task.heldout()
    backend, bins = HFBackend(model, tok), {"terse": [], "under half": [], "half or more": [], "full": []}
    torch.manual_seed(seed)
    for _ in range(reps):
        gen = backend.generate([s.prompt for s in samples], temperature=1.0, max_new_tokens=2 * MAX + 20)
        for text, s in zip(gen.texts, samples):
            f = task.scratch_fraction(text, s)
            name = "terse" if f == 0 else "full" if f == 1 else "under half" if f < 0.5 else "half or more"
            bins[name].append(answer_reward(text, s).score)
    total = sum(len(v) for v in bins.values())
    return {k: [len(v) / total, statistics.fmean(v) if v else float("nan")] for k, v in bins.items()}


def plot(runs: dict[str, list[list[dict]]], path: Path) -> None:
    from matplotlib.figure import Figure

    def mean_curve(arm_runs, key, smooth=SMOOTH):
        per = [dict(zip(*series(r, key))) for r in arm_runs]
        xs = sorted(set.intersection(*(set(p) for p in per))) if per else []
        return xs, _smooth([statistics.fmean(p[x] for p in per) for x in xs], smooth)

    fig = Figure(figsize=(11, 6.4))
    axes = fig.subplots(2, 3)
    for (arm, arm_runs), style in zip(sorted(runs.items(), key=lambda kv: ARMS.index(kv[0])), ("-", "--")):
        for q, color in zip((10, 50, 90), ("#9ecae1", "#3182bd", "#08519c")):
            axes[0, 0].plot(*mean_curve(arm_runs, f"len/p{q}"), style, color=color, lw=1.2, label=f"{arm} p{q}")
            axes[0, 1].plot(*mean_curve(arm_runs, f"scratch/p{q}"), style, color=color, lw=1.2, label=f"{arm} p{q}")
        axes[0, 1].plot(*mean_curve(arm_runs, "scratch/partial"), style, color="#31a354", lw=1.2,
                        label=f"{arm}: partial share")
        for key, color in (("acc/heldout_sampled", "#e6550d"), ("acc/heldout", "#756bb1")):
            axes[0, 2].plot(*mean_curve(arm_runs, key, smooth=1), style, marker="o", ms=2, color=color, lw=1,
                            label=f"{arm}: {key.split('/')[-1]}")
    for ax, arm, key, what in ((axes[1, 0], "curriculum", "len/p50/terms={n}", "median length"),
                               (axes[1, 1], "control", "len/p50/terms={n}", "median length"),
                               (axes[1, 2], "control", "scratch/fraction/terms={n}", "share written")):
        for n in range(MIN, MAX + 1):
            if runs.get(arm):
                ax.plot(*mean_curve(runs[arm], key.format(n=n)), lw=1,
                        color=(0.1 + 0.8 * (n - MIN) / (MAX - MIN), 0.3, 0.6), label=f"{n} terms")
        ax.set_title(f"{arm}: training {what} per chain length", fontsize=8)
        ax.legend(fontsize=5, ncol=2)
    axes[0, 0].set_title("training length percentiles (tokens)", fontsize=8)
    axes[0, 1].set_title("share of own scratchpad written; partial share", fontsize=8)
    axes[0, 2].set_title("held-out accuracy (sampled, greedy)", fontsize=8)
    fig.suptitle(f"means over seeds; training curves are {SMOOTH}-step trailing means", fontsize=8)
    for ax in axes.flat:
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    for ax in (axes[0, 1], axes[0, 2], axes[1, 2]):
        ax.set_ylim(0, 1.02)
    axes[0, 0].legend(fontsize=5, ncol=2)
    axes[0, 1].legend(fontsize=5, ncol=2)
    axes[0, 2].legend(fontsize=5)
    save_figure(fig, path)


def table_markdown(result: dict) -> str:
    """Rows of 20-step windows: length p10/p50/p90, share written p10/p50/p90, partial and intermediate
    shares, per arm (means over seeds)."""
    lines = ["| steps | arm | length p10 / p50 / p90 | share written p10 / p50 / p90 | partial | intermediate |",
             "|---|---|---|---|---|---|"]
    for arm in ARMS:
        w = result[arm]["windows"]
        def cell(key, start, fmt):        # '-' where a run did not log the key (runs of older versions)
            return format(w[key][start], fmt) if start in w.get(key, {}) else "-"
        for start in w["len/p50"]:
            lp = " / ".join(cell(f"len/p{q}", start, ".1f") for q in (10, 50, 90))
            sp = " / ".join(cell(f"scratch/p{q}", start, ".2f") for q in (10, 50, 90))
            lines.append(f"| {start}-{start + WINDOW - 1} | {arm} | {lp} | {sp} | "
                         f"{cell('scratch/partial', start, '.2f')} | {cell('len/intermediate', start, '.2f')} |")
    return "\n".join(lines)


def levels_markdown(result: dict, arm: str, what: str = "fraction") -> str:
    lv = result[arm]["levels"]
    starts = sorted({s for v in lv.values() for s in v[what]})
    lines = ["| terms | " + " | ".join(f"{s}-{s + WINDOW - 1}" for s in starts) + " |", "|---" * (len(starts) + 1) + "|"]
    for name, v in lv.items():
        fmt = "{:.2f}" if what == "fraction" else "{:.1f}"
        lines.append(f"| {name.split('=')[1]} | " + " | ".join(fmt.format(v[what][s]) if s in v[what] else "-"
                                                                 for s in starts) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--base", choices=sorted(BASES), default="partial")
    ap.add_argument("--out", default=None, help="default runs/bench-length[-quick]")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per arm (default 3; --quick 1)")
    ap.add_argument("--img", default=None)
    ap.add_argument("--jobs", type=int, default=2, help="runs at once, one torch thread each")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    seeds = range(args.seeds or (1 if args.quick else 3))
    out = Path(args.out or f"runs/bench-length{'-quick' if args.quick else ''}")
    base, t0, before = out / "base", time.time(), machine()
    trained = not args.plot_only and not (base / "model.safetensors").exists()
    if not args.plot_only:
        build_base(base, BASES[args.base])
    probe = probe_base(base)
    print("base, sampled on the held-out problems: share of answers | accuracy, by the share of its own "
          "scratchpad written")
    for name, (share, acc) in probe.items():
        print(f"  {name:13s} {share:.2f} | {acc:.2f}")
    if not args.plot_only:
        with ThreadPoolExecutor(args.jobs) as pool:
            extra = [] if args.quick else RL_LR[args.base]
            futs = {(arm, s): pool.submit(run_one, arm_args(base, out / f"{arm}-s{s}", arm, s, **mode, extra=extra),
                                          out / f"{arm}-s{s}", mode["steps"]) for s in seeds for arm in ARMS}
            for (arm, s), f in futs.items():
                trained |= f.result() > 0
                print(f"  {arm} seed {s}: {f.result():.0f}s", flush=True)
    runs = {arm: [read_rows(out / f"{arm}-s{s}") for s in seeds] for arm in ARMS}
    result = {arm: summary(r) for arm, r in runs.items()}
    info = {"mode": mode, "seeds": len(seeds), "base": args.base, "pretrain": BASES[args.base],
            "rl_extra": [] if args.quick else RL_LR[args.base],
            "wall_s": round(time.time() - t0, 1), "before": before, "after": machine(), "probe": probe,
            "base_report": json.loads((base / "pretrain_report.json").read_text())}
    write_results(out / "results.json", info, {"summary": result}, trained)
    img = Path(args.img or out / "length-growth.png")
    plot(runs, img)
    print(table_markdown(result))
    for arm in ARMS:
        print(f"\n{arm}: mean share written per chain length (rows) and 20-step window (columns)")
        print(levels_markdown(result, arm))
        print(f"{arm}: median length per chain length")
        print(levels_markdown(result, arm, "p50"))
        s = result[arm]
        print(f"{arm}: partial share peak per seed {[(round(v, 3), k) for v, k in s['partial_peak']]}; "
              f"held-out sampled first -> last per seed {[(round(a, 3), round(b, 3)) for a, b in s['heldout_sampled']]}; "
              f"greedy {[(round(a, 3), round(b, 3)) for a, b in s['heldout_greedy']]}")
    print(f"wall {info['wall_s']:.0f}s; load before {before['loadavg']}, after {info['after']['loadavg']}; "
          f"wrote {out / 'results.json'}, {img}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
