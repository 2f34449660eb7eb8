"""An "aha" in miniature: does RL learn to re-check the guesses that are likely wrong?

Base (built by the first step, skipped when present): bench/algorithms.py's shape (113,792
parameters) pretrained on the default 10-term walk, with 80% of the worked batches written as a
guess re-checked: `<think>G wait 5,3,3,...</think><answer>A</answer>`, where the guess G is the right
answer in the corpus. The model's own guesses are wrong through a real limit (its terse answers are
right ~25% of the time), never planted:

    reasonrl pretrain out=OUT/base hidden=64 layers=2 heads=4 intermediate=192 recheck_share=0.8 threads=1

RL (`reasonrl train`, grpo, 100 steps, one torch thread) with a per-token cost: reward = answer +
0.1 x format - COST x tokens (`reasonrl.tasks.walk:completion_tokens`, weight -COST). A terse answer
is 6 tokens, a re-checked one 32, a plain worked one 25; with COST = 0.015 re-checking pays only when
the guess is right with probability below ~0.6.

Per step (reasonrl.report.telemetry.guess_telemetry): among completions that commit to a first guess
(a terse answer, or the guess before `wait`), P(re-check | guess wrong) (recheck/given_wrong),
P(re-check | guess right) (recheck/given_right) and their difference (recheck/gap); and from the
reasoning telemetry the fixes (wrong guess, right final answer) and breaks (right guess, wrong final).

CPU:  python bench/aha.py              (base 3,000 steps with its gate chunks, ~6 min under load;
                                        RL 51-90 s)
      python bench/aha.py --cost 0.005 (the same base, a smaller per-token cost)
      python bench/aha.py --plot-only
Writes OUT/grpo-sSEED-costCOST/results.json and the figure (--img, default aha.png beside it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from algorithms import build_base, machine, read_rows, run_one, save_figure

from reasonrl.report.plots import _smooth, series

SMOOTH = 5          # steps in the trailing mean of the per-step curves

PRETRAIN = ["hidden=64", "layers=2", "heads=4", "intermediate=192", "recheck_share=0.8", "threads=1"]
COST = 0.015


def rl_args(base: Path, out: Path, seed: int, steps: int, cost: float = COST) -> list[str]:
    return [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"model.path={base}", f"seed={seed}",
            f"train.steps={steps}", "eval.every=20", "eval.size=200", "train.threads=1",
            "train.checkpoint_every=100000", "train.log_rollouts=0",
            "reward.functions=[answer,format,reasonrl.tasks.walk:completion_tokens]",
            f"reward.weights=[1.0,0.1,-{cost}]"]


def window(rows: list[dict], lo: int, hi: int) -> dict:
    """Pooled over steps lo..hi: mean re-check rates, fixes and breaks (sums)."""
    sel = [r for r in rows if lo <= r.get("step", 0) <= hi and "recheck/rate" in r]

    def mean(key):
        vals = [r[key] for r in sel if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None
    return {"steps": [lo, hi], "given_wrong": mean("recheck/given_wrong"), "given_right": mean("recheck/given_right"),
            "rate": mean("recheck/rate"), "fixes": sum(r.get("reflect/fixes", 0) for r in sel),
            "breaks": sum(r.get("reflect/breaks", 0) for r in sel), "acc_train": mean("acc/train"),
            "len": mean("len/mean")}


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 3))
    a, b = fig.subplots(1, 2)
    for key, label in (("recheck/given_wrong", "P(re-check | guess wrong)"),
                       ("recheck/given_right", "P(re-check | guess right)"), ("recheck/rate", "re-check share")):
        xs, ys = series(rows, key)
        a.plot(xs, _smooth(ys, SMOOTH), linewidth=1.2, label=label)
    for key, label in (("reflect/fixes", "fixes (wrong -> right)"), ("reflect/breaks", "breaks (right -> wrong)")):
        xs, ys = series(rows, key)
        b.plot(xs, _smooth(ys, SMOOTH), linewidth=1.2, label=label)
    a.set_ylim(bottom=0)
    a.set_title(f"re-checks by first-guess correctness (mean of {SMOOTH} steps)", fontsize=8)
    b.set_title(f"completions per step, of 128 (mean of {SMOOTH} steps)", fontsize=8)
    for ax in (a, b):
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/bench-aha")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cost", type=float, default=COST, help="reward per completion token (charged)")
    ap.add_argument("--img", default=None)
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args(argv)
    out, t0, before = Path(args.out), time.time(), machine()
    base, run = out / "base", out / f"grpo-s{args.seed}-cost{args.cost}"
    if not args.plot_only:
        build_base(base, PRETRAIN)
        print(f"  RL: {run_one(rl_args(base, run, args.seed, args.steps, args.cost), run, args.steps):.0f}s",
              flush=True)
    rows = read_rows(run)
    third = args.steps // 3
    res = {"first": window(rows, 1, 10), "middle": window(rows, third, 2 * third),
           "last": window(rows, args.steps - 9, args.steps), "all": window(rows, 1, args.steps)}
    info = {"pretrain": PRETRAIN, "cost": args.cost, "steps": args.steps, "seed": args.seed,
            "wall_s": round(time.time() - t0, 1), "before": before, "after": machine(),
            "base_report": json.loads((base / "pretrain_report.json").read_text())}
    (run / "results.json").write_text(json.dumps({"info": info, "windows": res}, indent=1) + "\n")
    img = Path(args.img or run / "aha.png")
    plot(rows, img)

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"
    for name, w in res.items():
        print(f"steps {w['steps'][0]:3d}-{w['steps'][1]:3d}: P(re-check|wrong) {f(w['given_wrong'])}  "
              f"P(re-check|right) {f(w['given_right'])}  re-check share {f(w['rate'])}  fixes {w['fixes']}  "
              f"breaks {w['breaks']}  train acc {f(w['acc_train'])}  len {f(w['len'])}")
    print(f"wall {info['wall_s']:.0f}s; load before {before['loadavg']}, after {info['after']['loadavg']}; "
          f"wrote {run / 'results.json'}, {img}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
