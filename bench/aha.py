"""An "aha" in miniature: does RL learn to re-check the guesses that are likely wrong?

Bases (built by the first step, skipped when present). Every one is trained on a corpus where part
of the answers are a guess re-checked, `<think>G wait 5,3,3,...</think><answer>A</answer>`, with the
right answer as the guess G; the model's own guesses are wrong through a real limit (its terse
answers are right 30-45% of the time), never planted:
  embedded  the embedded base continued for 1,500 steps on the default 10-term walk, half the
            batches terse and half re-checked (the one the docs report):
              reasonrl pretrain out=OUT/base init=embedded recheck_share=1 worked_share=0.5
                  anneal_share=0.4 steps=1500 lr=1e-3 warmup_steps=50 threads=1
  small     (the default, the first attempt) bench/algorithms.py's shape (113,792 parameters) from
            scratch, 80% of the worked batches re-checked:
              reasonrl pretrain out=OUT/base hidden=64 layers=2 heads=4 intermediate=192 recheck_share=0.8 threads=1
  levels    the embedded base continued on chains of 4 to 10 terms padded to 10 (so that the guess
            might be right more often on short chains: it was not)

RL (`reasonrl train`, --preset, 100 steps, one torch thread) with a per-token cost: reward = answer +
0.1 x format - COST x tokens (`reasonrl.tasks.walk:completion_tokens`, weight -COST). A terse answer
is 6 tokens, a re-checked one 32 (10 terms), a plain worked one 25; re-checking pays when what it
adds to the accuracy exceeds 26 x COST.

Per step (reasonrl.report.telemetry.guess_telemetry): among completions that commit to a first guess
(a terse answer, or the guess before `wait`), P(re-check | guess wrong) (recheck/given_wrong),
P(re-check | guess right) (recheck/given_right) and their difference (recheck/gap); and from the
reasoning telemetry the fixes (wrong guess, right final answer) and breaks (right guess, wrong final).
Before and after RL it samples the model on the held-out problems: accuracy of terse and of
re-checked answers, and whom the re-checks fixed or broke.

CPU:  python bench/aha.py --base embedded --preset dr_grpo --cost 0.005   (base ~4 min; RL ~2 min)
      python bench/aha.py --base embedded --preset grpo --cost 0.005      (the same base)
      python bench/aha.py                  (the first attempt: small base, grpo, cost 0.015)
      python bench/aha.py --plot-only
Writes OUT/PRESET-sSEED-costCOST/results.json and the figure (--img, default aha.png beside it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from algorithms import build_base, machine, read_rows, run_one, save_figure, write_results

from reasonrl.report.plots import _smooth, series

SMOOTH = 5          # steps in the trailing mean of the per-step curves

LEVELS = ["min_terms=4", "max_terms=10", "pad_terms=10"]
BASES = {"small": dict(pretrain=["hidden=64", "layers=2", "heads=4", "intermediate=192", "recheck_share=0.8",
                                 "threads=1"], task=[]),
         "embedded": dict(pretrain=["init=embedded", "recheck_share=1", "worked_share=0.5", "anneal_share=0.4",
                                    "steps=1500", "lr=1e-3", "warmup_steps=50", "threads=1"], task=[]),
         "guess-first": dict(pretrain=["init=embedded", "recheck_share=1", "guess_first=true", "worked_share=0.5",
                                       "anneal_share=0.4", "steps=1500", "lr=1e-3", "warmup_steps=50", "threads=1"],
                             task=[]),
         "levels": dict(pretrain=["init=embedded", *LEVELS, "recheck_share=1", "worked_share=0.5", "anneal_share=0.4",
                                  "steps=600", "lr=5e-4", "warmup_steps=50", "threads=1"],
                        task=[f"task.{x}" for x in LEVELS])}
COST = 0.015


def rl_args(base: Path, out: Path, seed: int, steps: int, cost: float = COST, task: list[str] = (),
            extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"model.path={base}", f"seed={seed}",
            f"train.steps={steps}", "eval.every=20", "eval.size=200", "train.threads=1",
            "train.checkpoint_every=100000", "train.log_rollouts=0",
            "reward.functions=[answer,format,reasonrl.tasks.walk:completion_tokens]",
            f"reward.weights=[1.0,0.1,-{cost}]", *task, *extra]


def window(rows: list[dict], lo: int, hi: int) -> dict:
    """Pooled over steps lo..hi: mean re-check rates, fixes and breaks (sums)."""
    sel = [r for r in rows if lo <= r.get("step", 0) <= hi and "recheck/rate" in r]

    def mean(key):
        vals = [r[key] for r in sel if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None
    return {"steps": [lo, hi], "given_wrong": mean("recheck/given_wrong"), "given_right": mean("recheck/given_right"),
            "rate": mean("recheck/rate"), "fixes": sum(r.get("reflect/fixes", 0) for r in sel),
            "breaks": sum(r.get("reflect/breaks", 0) for r in sel), "acc_train": mean("acc/train"),
            "len": mean("len/mean"),
            "levels": {k.split("/")[-1]: {"rate": mean(k), "guess_acc": mean(k.replace("/rate/", "/guess_acc/"))}
                       for k in sorted({k for r in sel for k in r if k.startswith("recheck/rate/")},
                                       key=lambda k: int(k.rsplit("=", 1)[-1]))}}


def probe(model_dir: Path, task_args: list[str], guess_first: bool = False, reps: int = 3, seed: int = 0) -> dict:
    """Sample a model (T=1) `reps` times on the held-out problems: share and accuracy of terse answers,
    of re-checked guesses and of other answers, and among the re-checks the wrong guesses fixed and
    the right ones broken. Then whom it works things out for: the model's own guess for a problem is
    its greedy answer when forced to answer tersely (after '<think></think><answer>'; guess_first: its
    greedy first token after '<think>'); 'works' is any sampled answer that writes running values
    (a re-check, a plain scratchpad, a re-check whose 'wait' drifted). P(works | own guess wrong) against P(works | own guess right) measures whether
    the working concentrates on the problems the model would get wrong, whatever the written guess."""
    import torch

    from reasonrl.models import load_model
    from reasonrl.rollout.hf import HFBackend
    from reasonrl.tasks.walk import WalkTask, first_guess, style
    from reasonrl.verifiers import answer_reward

    torch.set_num_threads(1)
    opts = dict(a.removeprefix("task.").split("=") for a in task_args)
    task = WalkTask(200, **{k: int(v) for k, v in opts.items()})
    samples = task.heldout()
    model, tok = load_model(model_dir, device="cpu")
    backend, counts = HFBackend(model, tok), {"terse": [], "recheck": [], "other": []}
    prefix = "<think>" if guess_first else "<think></think><answer>"
    forced = backend.generate([s.prompt + prefix for s in samples], greedy=True, max_new_tokens=1)
    own_right = [t.strip() == s.answer for t, s in zip(forced.texts, samples)]
    works: dict[bool, list[bool]] = {True: [], False: []}
    fixed = broken = wrong = right = 0
    torch.manual_seed(seed)
    for _ in range(reps):
        gen = backend.generate([s.prompt for s in samples], temperature=1.0, max_new_tokens=48)
        for text, s, own in zip(gen.texts, samples, own_right):
            ok = answer_reward(text, s).score == 1.0
            guess, rechecked = first_guess(text)
            counts["recheck" if rechecked else "terse" if guess is not None else "other"].append(ok)
            works[own].append(rechecked or (guess is None and style(text) == "worked"))
            if rechecked:
                wrong, right = wrong + (guess != s.answer), right + (guess == s.answer)
                fixed, broken = fixed + (guess != s.answer and ok), broken + (guess == s.answer and not ok)
    n = sum(map(len, counts.values()))
    return {**{k: {"share": len(v) / n, "accuracy": sum(v) / len(v) if v else None} for k, v in counts.items()},
            "rechecked_wrong": wrong, "fixed": fixed, "rechecked_right": right, "broken": broken,
            "own_guess_accuracy": sum(own_right) / len(own_right),
            "works_given_own_wrong": sum(works[False]) / len(works[False]) if works[False] else None,
            "works_given_own_right": sum(works[True]) / len(works[True]) if works[True] else None}


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    levels = sorted({k for r in rows for k in r if k.startswith("recheck/rate/")}, key=lambda k: int(k.rsplit("=", 1)[-1]))
    fig = Figure(figsize=(12.5 if levels else 8.5, 3))
    a, b, *c = fig.subplots(1, 3 if levels else 2)
    for i, key in enumerate(levels):
        xs, ys = series(rows, key)
        c[0].plot(xs, _smooth(ys, SMOOTH), linewidth=1, color=(0.1 + 0.8 * i / max(1, len(levels) - 1), 0.3, 0.6),
                  label=key.split("/")[-1].replace("terms=", "") + " terms")
    if c:
        c[0].set_title(f"re-check share per chain length (mean of {SMOOTH} steps)", fontsize=8)
        c[0].set_ylim(0, 1)
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
    for ax in (a, b, *c):
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", choices=sorted(BASES), default="small")
    ap.add_argument("--out", default=None, help="default runs/bench-aha (--base small), runs/bench-aha-levels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cost", type=float, default=COST, help="reward per completion token (charged)")
    ap.add_argument("--preset", default="grpo", help="algo.preset of the RL run")
    ap.add_argument("--img", default=None)
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out or ("runs/bench-aha" if args.base == "small" else f"runs/bench-aha-{args.base}"))
    t0, before, recipe = time.time(), machine(), BASES[args.base]
    base, run = out / "base", out / f"{args.preset}-s{args.seed}-cost{args.cost}"
    trained = not args.plot_only and not (base / "model.safetensors").exists()
    if not args.plot_only:
        build_base(base, recipe["pretrain"])
        cmd = rl_args(base, run, args.seed, args.steps, args.cost, recipe["task"], [f"algo.preset={args.preset}"])
        rl_s = run_one(cmd, run, args.steps)
        trained |= rl_s > 0
        print(f"  RL: {rl_s:.0f}s", flush=True)
    guess_first = "guess_first=true" in recipe["pretrain"]
    probes = {name: probe(path, recipe["task"], guess_first) for name, path in (("base", base), ("final", run / "final"))}
    rows = read_rows(run)
    # the first 10 steps, the last 10 of every 50, the last 10, and the whole run
    spans = sorted({(1, 10), *((k - 9, k) for k in range(50, args.steps + 1, 50)),
                    (max(1, args.steps - 9), args.steps)}) + [(1, args.steps)]
    res = {f"{lo}-{hi}": window(rows, lo, hi) for lo, hi in spans}
    info = {"base": args.base, "preset": args.preset, "pretrain": recipe["pretrain"], "task": recipe["task"],
            "cost": args.cost, "steps": args.steps, "seed": args.seed,
            "wall_s": round(time.time() - t0, 1), "before": before, "after": machine(), "probes": probes,
            "base_report": json.loads((base / "pretrain_report.json").read_text())}
    write_results(run / "results.json", info, {"windows": res}, trained)
    img = Path(args.img or run / "aha.png")
    plot(rows, img)

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"
    for name, w in res.items():
        gap = None if None in (w["given_wrong"], w["given_right"]) else w["given_wrong"] - w["given_right"]
        print(f"steps {w['steps'][0]:3d}-{w['steps'][1]:3d}: P(re-check|wrong) {f(w['given_wrong'])}  "
              f"P(re-check|right) {f(w['given_right'])}  gap {f(gap)}  re-check share {f(w['rate'])}  fixes {w['fixes']}  "
              f"breaks {w['breaks']}  train acc {f(w['acc_train'])}  len {f(w['len'])}")
        if w["levels"]:
            print("    per chain length, re-check share (first guesses' accuracy): " + ", ".join(
                f"{k.split('=')[-1]}: {f(v['rate'])} ({f(v['guess_acc'])})" for k, v in w["levels"].items()))
    for name, p in probes.items():
        print(f"{name} model, sampled on the held-out problems: terse {f(p['terse']['share'])} of answers, "
              f"accuracy {f(p['terse']['accuracy'])}; re-checked {f(p['recheck']['share'])}, accuracy "
              f"{f(p['recheck']['accuracy'])}; re-checks fixed {p['fixed']} of {p['rechecked_wrong']} wrong guesses "
              f"and broke {p['broken']} of {p['rechecked_right']} right ones; other answers {f(p['other']['share'])}")
        print(f"    its own guess (greedy, forced terse) is right on {f(p['own_guess_accuracy'])} of the problems; "
              f"P(works it out | own guess wrong) {f(p['works_given_own_wrong'])}, "
              f"P(works it out | own guess right) {f(p['works_given_own_right'])}")
    print(f"wall {info['wall_s']:.0f}s; load before {before['loadavg']}, after {info['after']['loadavg']}; "
          f"wrote {run / 'results.json'}, {img}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
