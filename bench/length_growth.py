"""Does the response length grow gradually under RL when longer answers pay more as problems get harder?

Base (built by the first step, skipped when present): the embedded default's shape (867,840
parameters: hidden 128, 4 layers) pretrained on chains of 4 to 10 terms padded to one width:

    reasonrl pretrain out=OUT/base min_terms=4 max_terms=10 pad_terms=10 threads=1

Two corpora that did not give a usable base in one try each (seed 1; forced-worked accuracy is the
pretrain gate's measure): the hidden-64, 2-layer shape on 3 to 12 terms padded to 12 with
partial_share=0.25 (0.09 after 2,400 steps), and the default shape on the same corpus (0.18 after
1,800 steps).

RL (`reasonrl train`, grpo, one torch thread), two arms with the same base and budget:
  curriculum  task.curriculum=steps: 4-term chains first, one more term every 15 steps (10 terms from
              step 91), so the worked answer (2n + 5 tokens for n terms) has to grow to stay right;
  control     every length 4..10 from the first step.
Held-out: 200 problems (28 or 29 per length), greedy and sampled, every 10 steps.

Per step it reads the training batch's length percentiles (len/p10, len/p50, len/p90), the mean
length per chain length (len/terms=N), the share of completions strictly between the terse answer
(6 tokens) and the full worked answer of a 10-term chain (25 tokens) (len/intermediate), and the share
whose scratchpad holds some but not all of its problem's running values (scratch/partial). The two
shares answer different questions: a full worked answer of a 6-term chain (17 tokens) is
intermediate by length but not partial.

CPU:  python bench/length_growth.py            (base: 3,000 steps with its gate chunks, 16 min under
                                                load; then the two arms in parallel, 120 steps each,
                                                3-7 min; with the base on disk ~5 min on 2 quiet cores)
      python bench/length_growth.py --quick    (40 steps, one more term every 5 steps; ~4 min)
      python bench/length_growth.py --plot-only
Writes OUT/results.json and the figure (--img, default OUT/length-growth.png).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from algorithms import build_base, machine, read_rows, run_one, save_figure

from reasonrl.report.plots import _smooth, series

SMOOTH = 5          # steps in the trailing mean of the per-step curves

MIN, MAX, PAD = 4, 10, 10
PRETRAIN = [f"min_terms={MIN}", f"max_terms={MAX}", f"pad_terms={PAD}", "threads=1"]
MODES = {"full": dict(steps=120, every=10, open_every=15), "quick": dict(steps=40, every=10, open_every=5)}


def arm_args(base: Path, out: Path, arm: str, seed: int, steps: int, every: int, open_every: int) -> list[str]:
    """The `reasonrl train` command line of one arm."""
    cmd = [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"model.path={base}", f"seed={seed}",
           f"task.min_terms={MIN}", f"task.max_terms={MAX}", f"task.pad_terms={PAD}", f"train.steps={steps}",
           f"eval.every={every}", "eval.size=200", "train.threads=1", "train.checkpoint_every=100000",
           "train.log_rollouts=0"]
    if arm == "curriculum":
        opens = ",".join(str(1 + open_every * k) for k in range(1, MAX - MIN + 1))
        cmd += ["task.curriculum=steps", f"task.curriculum_steps=[{opens}]"]
    return cmd


def summary(rows: list[dict]) -> dict:
    """Peaks and end points of the length metrics of one run."""
    def peak(key):
        xs, ys = series(rows, key)
        return (max(ys), int(xs[ys.index(max(ys))])) if ys else (None, None)
    steps = [r for r in rows if "len/p50" in r]
    first, last = steps[0], steps[-1]
    return {"intermediate_peak": peak("len/intermediate"), "partial_peak": peak("scratch/partial"),
            "p50_first": first["len/p50"], "p50_last": last["len/p50"],
            "p10_p50_p90_last": [last["len/p10"], last["len/p50"], last["len/p90"]],
            "acc_sampled_first_last": [rows[0].get("acc/heldout_sampled"),
                                       next(r for r in reversed(rows) if "acc/heldout_sampled" in r)["acc/heldout_sampled"]]}


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 3.2))
    axes = fig.subplots(1, 3)
    for (arm, rows), style in zip(sorted(runs.items()), ("-", "--")):
        for q, color in zip((10, 50, 90), ("#9ecae1", "#3182bd", "#08519c")):
            xs, ys = series(rows, f"len/p{q}")
            axes[0].plot(xs, _smooth(ys, SMOOTH), style, color=color, linewidth=1.2, label=f"{arm} p{q}")
        for key, color in (("len/intermediate", "#e6550d"), ("scratch/partial", "#31a354")):
            xs, ys = series(rows, key)
            axes[1].plot(xs, _smooth(ys, SMOOTH), style, color=color, linewidth=1.2, label=f"{arm}: {key}")
    rows = runs.get("curriculum") or next(iter(runs.values()))
    for n in range(MIN, MAX + 1):
        xs, ys = series(rows, f"len/heldout_sampled/terms={n}")
        axes[2].plot(xs, ys, marker="o", markersize=2, linewidth=1,
                     color=(0.1 + 0.8 * (n - MIN) / (MAX - MIN), 0.3, 0.6), label=f"{n} terms")
    axes[0].set_title(f"training length percentiles (tokens, mean of {SMOOTH} steps)", fontsize=8)
    axes[1].set_title(f"share intermediate / partial (mean of {SMOOTH} steps)", fontsize=8)
    axes[2].set_title("held-out sampled length per level (curriculum)", fontsize=8)
    for ax in axes:
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[1].set_ylim(0, 1)
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].legend(fontsize=6)
    axes[2].legend(fontsize=5, ncol=2)
    save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="default runs/bench-length[-quick]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--img", default=None)
    ap.add_argument("--jobs", type=int, default=2, help="arms at once, one torch thread each")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    out = Path(args.out or f"runs/bench-length{'-quick' if args.quick else ''}")
    base, t0, before = out / "base", time.time(), machine()
    arms = ("curriculum", "control")
    if not args.plot_only:
        build_base(base, PRETRAIN)
        with ThreadPoolExecutor(args.jobs) as pool:
            futs = {arm: pool.submit(run_one, arm_args(base, out / arm, arm, args.seed, **mode), out / arm,
                                     mode["steps"]) for arm in arms}
            for arm, f in futs.items():
                print(f"  {arm}: {f.result():.0f}s", flush=True)
    runs = {arm: read_rows(out / arm) for arm in arms}
    result = {arm: summary(rows) for arm, rows in runs.items()}
    info = {"mode": mode, "seed": args.seed, "pretrain": PRETRAIN, "wall_s": round(time.time() - t0, 1),
            "before": before, "after": machine(),
            "base_report": json.loads((base / "pretrain_report.json").read_text())}
    (out / "results.json").write_text(json.dumps({"info": info, "summary": result}, indent=1) + "\n")
    img = Path(args.img or out / "length-growth.png")
    plot(runs, img)
    for arm, s in result.items():
        print(f"{arm:10s}  len p50 {s['p50_first']:.0f} -> {s['p50_last']:.0f} (last p10/p50/p90 "
              f"{'/'.join(f'{v:.0f}' for v in s['p10_p50_p90_last'])}); intermediate share peak "
              f"{s['intermediate_peak'][0]:.2f} at step {s['intermediate_peak'][1]}; partial share peak "
              f"{s['partial_peak'][0]:.3f} at step {s['partial_peak'][1]}; sampled acc "
              f"{s['acc_sampled_first_last'][0]:.3f} -> {s['acc_sampled_first_last'][1]:.3f}")
    print(f"wall {info['wall_s']:.0f}s; load before {before['loadavg']}, after {info['after']['loadavg']}; "
          f"wrote {out / 'results.json'}, {img}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
