"""Wall time to 90% held-out greedy accuracy on the demo task: synchronous vs asynchronous reasonrl.

Each run is `reasonrl train` with its defaults (embedded tiny model, walk task, 60 steps, grpo) plus
rollout.backend=fast for every mode (the asynchronous worker always samples with it, so the modes
differ only in the overlap), eval.every=--eval-every (greedy held-out accuracy on the 200 held-out
problems; eval.sampled=false) and:

  sync  train.async_staleness=0, train.threads=2
  k1    train.async_staleness=1, train.threads=1, rollout.threads=1   (algo.tis=token: the async default)
  k2    train.async_staleness=2, train.threads=1, rollout.threads=1

Time to accuracy = the training wall time (sum of time/step_s without time/eval_s, i.e. sampling,
waiting and updating, the worker's start-up included) until the first evaluation with acc/heldout >=
--target; "final" = acc/heldout after the last step. Runs go seed by seed, modes alternating
(sync, k1, k2, sync, ...), each a fresh process given the whole machine.

CPU:  python bench/async_time_to_accuracy.py                         (about 12-15 minutes on a quiet 2-core box)
      python bench/async_time_to_accuracy.py --seeds 0 --steps 20   (a smoke run, ~3 minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from async_vs_sync import header  # noqa: E402

MODES = {"sync": ["train.async_staleness=0", "train.threads=2"],
         "k1": ["train.async_staleness=1", "train.threads=1", "rollout.threads=1"],
         "k2": ["train.async_staleness=2", "train.threads=1", "rollout.threads=1"]}


def run(mode: str, seed: int, a, out: Path) -> dict:
    """One `reasonrl train`; -> {seconds to target (None if never), step reached, final accuracy, wall}."""
    cmd = [sys.executable, "-m", "reasonrl", "train", f"out={out}", f"seed={seed}", "rollout.backend=fast",
           f"eval.every={a.eval_every}", "eval.sampled=false", f"train.steps={a.steps}", *MODES[mode]]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if p.returncode:
        sys.exit(f"{mode} seed {seed} failed:\n{p.stderr[-3000:]}")
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    spent, reached, at = 0.0, None, None
    for r in rows:
        if r.get("step", 0) >= 1:
            spent += r["time/step_s"] - r.get("time/eval_s", 0.0)
        if reached is None and r.get("acc/heldout") is not None and r["acc/heldout"] >= a.target:
            reached, at = spent, r["step"]
    final = [r["acc/heldout"] for r in rows if r.get("acc/heldout") is not None][-1]
    return {"seconds": reached, "step": at, "final": final, "wall": wall, "train_s": spent}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2", help="comma list of RL seeds")
    ap.add_argument("--modes", default="sync,k1,k2", help="comma list of sync, k1, k2")
    ap.add_argument("--steps", type=int, default=60, help="train.steps per run")
    ap.add_argument("--eval-every", type=int, default=4, help="eval.every (greedy held-out accuracy)")
    ap.add_argument("--target", type=float, default=0.9, help="held-out greedy accuracy to reach")
    a = ap.parse_args(argv)
    seeds, modes = [int(s) for s in a.seeds.split(",")], a.modes.split(",")
    print(header("async_time_to_accuracy", "one process tree per run"))
    print(f"# reasonrl train defaults + rollout.backend=fast, {a.steps} steps, eval.every={a.eval_every}, "
          f"target acc/heldout >= {a.target}")
    res: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for mode in modes:
                r = run(mode, seed, a, Path(tmp) / f"{mode}-{seed}")
                res[mode].append(r)
                to = f"{r['seconds']:6.1f}s (step {r['step']})" if r["seconds"] is not None else "not reached"
                print(f"seed {seed} {mode:4s} to {a.target:.0%}: {to}  final {r['final']:.1%}  "
                      f"training {r['train_s']:.1f}s  wall {r['wall']:.1f}s")
    print(f"\n{'mode':5s} {'to target (s), per seed':>28s} {'mean':>7s} {'final acc per seed':>22s}")
    for mode in modes:
        secs = [r["seconds"] for r in res[mode]]
        got = [s for s in secs if s is not None]
        mean = f"{statistics.mean(got):7.1f}" if len(got) == len(secs) else "      -"
        print(f"{mode:5s} {' '.join('   -' if s is None else f'{s:6.1f}' for s in secs):>28s} {mean} "
              f"{' '.join(format(r['final'], '.0%') for r in res[mode]):>22s}")
    if "sync" in modes:
        base = [r["seconds"] for r in res["sync"]]
        for mode in modes:
            if mode != "sync" and all(s is not None for s in base + [r["seconds"] for r in res[mode]]):
                ratio = statistics.mean(base) / statistics.mean(r["seconds"] for r in res[mode])
                print(f"sync/{mode} time to target: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
