"""Verifier throughput: math verifications per second and sandboxed code runs per second.

    .venv/bin/python bench/verifiers_throughput.py                      # 2 workers, MATH-500 + HumanEval
    .venv/bin/python bench/verifiers_throughput.py --workers 8 --repeat 3   (a bigger machine)

Math: every MATH-500 gold answer against the last \\boxed{} of its own solution, split into the
numeric path (in the caller's process) and the symbolic path (math-verify in --workers worker
processes, pool started before timing). Code: every HumanEval canonical solution against its tests,
--workers sandboxes at a time. Data come from ../shared/data (relative to the repository root).
Not a timed test: numbers depend on the machine and its load; `uptime` is printed beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _rows(rel: str) -> list[dict]:
    with (DATA / rel).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bench_math(workers: int, repeat: int) -> dict:
    from reasonrl.verifiers.answer import last_boxed
    from reasonrl.verifiers.mathcheck import clean, init_worker, math_check_many, numeric_verdict, symbolic_check
    from reasonrl.verifiers.pool import WorkerPool

    rows = _rows("math500/test.jsonl")
    pairs = [(r["answer"], last_boxed(r["solution"])) for r in rows] * repeat
    numeric = [(g, p) for g, p in pairs if numeric_verdict(gold=g, pred=p) is not None]
    symbolic = [(clean(g), clean(p), True) for g, p in pairs if numeric_verdict(gold=g, pred=p) is None]
    t0 = time.perf_counter()
    for g, p in numeric:
        numeric_verdict(gold=g, pred=p)
    t_num = time.perf_counter() - t0
    with WorkerPool(workers=workers, timeout_s=10.0, initializer=init_worker) as pool:
        pool.map(int, [("1",)] * workers)                 # wait until every worker is ready
        t0 = time.perf_counter()
        res = pool.map(symbolic_check, symbolic)
        t_sym = time.perf_counter() - t0
        t0 = time.perf_counter()
        verdicts = math_check_many(golds=[g for g, _ in pairs], preds=[p for _, p in pairs], pool=pool)
        t_all = time.perf_counter() - t0
    assert all(r.status == "ok" for r in res) and all(v.status == "correct" for v in verdicts)
    return {"numeric_n": len(numeric), "numeric_per_s": len(numeric) / t_num,
            "symbolic_n": len(symbolic), "symbolic_per_s": len(symbolic) / t_sym,
            "mixed_n": len(pairs), "mixed_per_s": len(pairs) / t_all}


def bench_code(workers: int, repeat: int) -> dict:
    from reasonrl.verifiers.codecheck import code_check_many
    from reasonrl.verifiers.settings import configure

    configure(code_parallel=workers)
    rows = _rows("humaneval/HumanEval.jsonl") * repeat
    t0 = time.perf_counter()
    verdicts = code_check_many([r["canonical_solution"] for r in rows], [r["test"] for r in rows], rows)
    took = time.perf_counter() - t0
    assert all(v.status == "correct" for v in verdicts), [v.reason for v in verdicts if v.status != "correct"][:3]
    return {"code_n": len(rows), "code_runs_per_s": len(rows) / took, "isolation": verdicts[0].reason.split("; ", 1)[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="math worker processes and parallel sandboxes (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="pass over each data set this many times (default 1)")
    a = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')} | {platform.machine()} | {os.cpu_count()} CPUs | "
          f"load average {os.getloadavg()[0]:.1f} | workers {a.workers}")
    m = bench_math(a.workers, a.repeat)
    print(f"math numeric   {m['numeric_n']:5d} checks  {m['numeric_per_s']:9.0f} /s  (in-process, exact fractions)")
    print(f"math symbolic  {m['symbolic_n']:5d} checks  {m['symbolic_per_s']:9.1f} /s  (math-verify in {a.workers} workers, golds parsed first time)")
    print(f"math mixed     {m['mixed_n']:5d} checks  {m['mixed_per_s']:9.1f} /s  (MATH-500 as it comes, golds already parsed: as in training)")
    c = bench_code(a.workers, a.repeat)
    print(f"code sandboxed {c['code_n']:5d} runs    {c['code_runs_per_s']:9.1f} /s  (HumanEval canonical, {c['isolation']})")


if __name__ == "__main__":
    main()
