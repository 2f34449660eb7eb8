"""Asynchronous vs synchronous reasonrl (and TRL's GRPOTrainer) on the workload of bench/grpo_vs_trl.py.

Workload (built by grpo_vs_trl.build_workload, no download): the random-init 3.46M-parameter Qwen2 with
the character tokenizer; per step 8 arithmetic prompts ('12+7=') x 8 samples, up to 64 new tokens
(stop at EOS: grpo_vs_trl's `natural` mode), temperature 1.0, beta 0.04 with a frozen reference, one
AdamW update (lr 1e-6), fp32. reasonrl runs its real loop (`reasonrl.train.rl.train`) on a dataset task
holding grpo_vs_trl's problems, with rollout.backend=fast, algo.skip_zero_variance=false (every row
trains, as in TRL) and no evaluation between steps:

  sync   train.async_staleness=0, train.threads=2 (rollout and update take turns on both cores)
  async  train.async_staleness=1, train.threads=1 + rollout.threads=1 (the worker samples step s+1
         while the trainer updates on step s; token-level TIS corrects the one-step staleness)
  trl    GRPOTrainer.train() with 2 torch threads (grpo_vs_trl.run_trl; needs pip install -e '.[bench]')
  sync1  (only with --kinds) train.async_staleness=0, train.threads=1: how much of sync's time is the
         second thread's (on a busy machine two threads can be slower than one)

Every run is a fresh subprocess given the whole machine (no pinning), one warm-up step (the worker's
start-up lands there), then --steps measured steps; s/step = their mean wall time (time/step_s, which
includes the trainer's waits). Runs alternate sync, async, trl, sync, async, trl (--pairs rounds).

CPU:  python bench/async_vs_sync.py                       (about 8-10 minutes on a quiet 2-core box)
      python bench/async_vs_sync.py --pairs 1 --steps 3 --kinds sync,async   (a smoke run, ~2 minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grpo_vs_trl as g  # noqa: E402

MODES = {"sync": ["train.async_staleness=0", "train.threads=2"],
         "sync1": ["train.async_staleness=0", "train.threads=1"],
         "async": ["train.async_staleness=1", "train.threads=1", "rollout.threads=1"]}


def header(name: str, what: str) -> str:
    """`# NAME  date  machine, cores, WHAT, load average at start` (the first line of a bench's output)."""
    load = os.getloadavg()
    return (f"# {name}  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.machine()} "
            f"{os.cpu_count()} cores, {what}  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def write_problems(path: Path, steps: int) -> None:
    """grpo_vs_trl's problems of steps 1..steps as a JSONL dataset (problem, answer)."""
    rows = [{"problem": p, "answer": a} for s in range(1, steps + 1) for p, a in g.problems(s)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_reasonrl(folder: Path, data: Path, mode: str, steps: int, beta: float, workdir: Path) -> list[float]:
    """One run of the real loop; -> the measured steps' wall seconds (evaluation time left out)."""
    from reasonrl.config import load_config
    from reasonrl.train import rl

    cfg = load_config(None, [
        f"out={workdir / 'run'}", f"model.path={folder}", "model.template=raw", "model.attn_implementation=sdpa",
        "task.name=dataset", f"task.path=[{data}]", "task.heldout_size=8", "eval.size=8", "eval.every=0",
        "eval.sampled=false", "reward.functions=[answer]", "reward.weights=[1.0]", f"algo.beta={beta}",
        "algo.skip_zero_variance=false", "rollout.backend=fast", f"rollout.max_new_tokens={g.NEW_TOKENS}",
        f"rollout.num_generations={g.G}", f"train.prompts_per_step={g.PROMPTS}", "train.micro_batch_size=16",
        "train.lr=1e-6", f"train.steps={steps + 1}", "train.checkpoint_every=100000", "train.log_rollouts=0",
        *MODES[mode]])
    rl.train(cfg, log=lambda *_: None)
    rows = [json.loads(x) for x in (workdir / "run" / "metrics.jsonl").read_text().splitlines()]
    return [r["time/step_s"] - r.get("time/eval_s", 0.0) for r in rows if r.get("step", 0) >= 2]


def worker(a) -> None:
    import torch

    with tempfile.TemporaryDirectory() as work:
        if a.worker == "trl":
            torch.set_num_threads(2)
            times = [s["step_s"] for s in g.run_trl(Path(a.folder), "natural", a.beta, a.steps, work)]
        else:
            times = run_reasonrl(Path(a.folder), Path(a.data), a.worker, a.steps, a.beta, Path(work))
    print("RESULT " + json.dumps({"steps": times}))


def launch(kind: str, folder: Path, data: Path, a) -> list[float]:
    cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--data", str(data),
           "--steps", str(a.steps), "--beta", str(a.beta)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("OMP_NUM_THREADS", None)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        sys.exit(f"{kind} run failed:\n{p.stderr[-3000:]}")
    return json.loads(line[-1][7:])["steps"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2, help="rounds of sync, async, trl")
    ap.add_argument("--steps", type=int, default=8, help="measured steps per run, after one warm-up step")
    ap.add_argument("--beta", type=float, default=0.04, help="KL coefficient (0 = no reference model)")
    ap.add_argument("--kinds", default="sync,async,trl", help="comma list of sync, async, trl, sync1 (run in this order)")
    ap.add_argument("--worker", choices=["sync", "sync1", "async", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    kinds = a.kinds.split(",")
    try:
        import trl  # noqa: F401
    except ImportError:
        if "trl" in kinds:
            print("# trl not installed (pip install -e '.[bench]'): TRL left out")
            kinds.remove("trl")
    print(header("async_vs_sync", "whole machine per run"))
    print(f"# workload: grpo_vs_trl natural mode, {g.PROMPTS} prompts x {g.G} samples x <= {g.NEW_TOKENS} tokens, "
          f"beta {a.beta}; {a.pairs} rounds x {a.steps} measured steps (1 warm-up step each)")
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    per_round = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, data = Path(tmp) / "model", Path(tmp) / "problems.jsonl"
        g.build_workload(folder)
        write_problems(data, 4 * (a.steps + 1) + 50)
        for i in range(a.pairs):
            means = {}
            for kind in kinds:
                times = launch(kind, folder, data, a)
                runs[kind] += times
                means[kind] = statistics.mean(times)
                print(f"round {i + 1} {kind:5s} {means[kind]:6.2f} s/step  ({' '.join(f'{t:.2f}' for t in times)})")
            per_round.append(means)
    print(f"\n{'run':6s} {'s/step':>7s} {'min':>6s} {'max':>6s}")
    for kind in kinds:
        print(f"{kind:6s} {statistics.mean(runs[kind]):7.2f} {min(runs[kind]):6.2f} {max(runs[kind]):6.2f}")
    for slow, fast in (("sync", "async"), ("trl", "async"), ("trl", "sync"), ("sync1", "async"), ("sync1", "sync")):
        if slow in kinds and fast in kinds:
            ratio = [r[slow] / r[fast] for r in per_round]
            print(f"{slow}/{fast} per round: {' '.join(f'{x:.2f}' for x in ratio)}  mean {statistics.mean(ratio):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
