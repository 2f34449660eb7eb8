"""Code reward throughput and correctness: sandboxed runs per second, HumanEval and MBPP canonical pass rates.

    .venv/bin/python bench/code_judge_rate.py                    # 2 parallel judges, this tree
    .venv/bin/python bench/code_judge_rate.py --mbpp             # also every MBPP reference program
    git archive HEAD reasonrl | tar -x -C /tmp/before            # an older tree, for a before/after pair
    .venv/bin/python bench/code_judge_rate.py --tree /tmp/before

HumanEval: every canonical solution against its tests (runs/s over all 164, the judge's worker
processes started before timing), then the first 20 with a wrong body (`return None`), which must fail.
Data come from ../shared/data (relative to the repository root). Not a timed test: numbers depend on
the machine and its load; the load average is printed beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _rows(rel: str) -> list[dict]:
    with (DATA / rel).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="programs judged at once (default 2)")
    ap.add_argument("--tree", default=str(ROOT), help="repository tree whose reasonrl to measure (default: this one)")
    ap.add_argument("--mbpp", action="store_true", help="also run all 974 MBPP reference programs")
    a = ap.parse_args()
    sys.path.insert(0, a.tree)
    from reasonrl.verifiers.codecheck import code_check_many
    from reasonrl.verifiers.settings import configure

    import reasonrl

    configure(code_parallel=a.workers)
    he = _rows("humaneval/HumanEval.jsonl")
    print(f"{time.strftime('%Y-%m-%d %H:%M')} | {platform.machine()} | {os.cpu_count()} CPUs | load average "
          f"{os.getloadavg()[0]:.1f} | {a.workers} parallel | code from {Path(reasonrl.__file__).parent}")
    code_check_many([he[0]["canonical_solution"]] * a.workers, [he[0]["test"]] * a.workers, [he[0]] * a.workers)
    t0 = time.perf_counter()
    good = code_check_many([r["canonical_solution"] for r in he], [r["test"] for r in he], he)
    took = time.perf_counter() - t0
    ok = sum(v.status == "correct" for v in good)
    print(f"humaneval canonical  {ok}/{len(he)} correct   {len(he) / took:6.1f} runs/s   ({good[0].reason.split('; ')[-1]})")
    bad = code_check_many(["    return None\n"] * 20, [r["test"] for r in he[:20]], he[:20])
    print(f"humaneval wrong body {sum(v.score == 0.0 for v in bad)}/20 scored 0   statuses {dict(Counter(v.status for v in bad))}")
    if a.mbpp:
        mb = _rows("mbpp/mbpp.jsonl")
        t0 = time.perf_counter()
        vs = code_check_many([r["code"] for r in mb], [r["test_list"] for r in mb], mb)
        took = time.perf_counter() - t0
        fails = [r["task_id"] for r, v in zip(mb, vs) if v.status != "correct"]
        print(f"mbpp reference       {len(mb) - len(fails)}/{len(mb)} correct ({100 * (1 - len(fails) / len(mb)):.1f}%)   "
              f"{len(mb) / took:6.1f} runs/s   not correct: task_id {fails}")


if __name__ == "__main__":
    main()
