"""Benchmarks from local files: the JSONL files of `../shared/data/` by name, any JSONL, JSON or
Parquet file with a field mapping, or a task's held-out split (`walk`). Nothing is downloaded.

    load_benchmark("math500")                           # ../shared/data/math500/test.jsonl
    load_benchmark("/data/my.parquet", problem_field="question", answer_field="final")
    load_benchmark("walk")                              # the walk task's held-out problems

The data root holding the named benchmarks is `$REASONRL_DATA_DIR`, else the first `shared/data`
found beside the working directory or the repository (`../shared/data`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from reasonrl.data.read import DataError, read_records
from reasonrl.types import Sample

BOXED_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark lives and how its rows become Samples."""
    name: str
    path: str = ""                    # relative to the data root ("" = a user file or a task)
    kind: str = "fields"              # fields | humaneval | mbpp | task
    id_field: str = "id"
    problem_field: str = "problem"
    answer_field: str = "answer"
    group_field: str = "source"       # per-group rows of the summary table
    verifier: str = "math"            # name in reasonrl.verifiers.VERIFIERS
    prompt_suffix: str = BOXED_SUFFIX  # the R1 README's instruction for maths
    paper_k: int = 0                  # k the R1 paper uses for this benchmark (0 = not reported there)
    row_filter: tuple[str, str] | None = None  # keep only rows whose field (first) equals the value


_MATH = dict(kind="fields")
BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in (
    BenchmarkSpec("math500", "math500/test.jsonl", group_field="subject", paper_k=16, **_MATH),
    BenchmarkSpec("aime24", "aime24/test.jsonl", paper_k=64, **_MATH),
    BenchmarkSpec("aime25", "aime25/test.jsonl", paper_k=64, **_MATH),
    BenchmarkSpec("amc23", "amc23/test.jsonl", **_MATH),
    BenchmarkSpec("gsm8k", "gsm8k/test.jsonl", **_MATH),
    BenchmarkSpec("minerva_math", "minerva_math/test.jsonl", group_field="subject", **_MATH),
    BenchmarkSpec("olympiadbench", "olympiadbench/test.jsonl", group_field="answer_type", **_MATH),
    BenchmarkSpec("math_test_full", "math_test_full/test.jsonl", group_field="subject", **_MATH),
    BenchmarkSpec("humaneval", "humaneval/HumanEval.jsonl", kind="humaneval", verifier="code", prompt_suffix=""),
    BenchmarkSpec("mbpp", "mbpp/mbpp.jsonl", kind="mbpp", verifier="code", prompt_suffix="",
                  row_filter=("split", "test")),
)}


@dataclass
class Benchmark:
    """A loaded benchmark: samples[i] is problem i; ids and groups run parallel to it."""
    name: str
    spec: BenchmarkSpec
    source: str                       # file path or "task:NAME"
    samples: list[Sample]
    ids: list[str]
    groups: list[str] = field(default_factory=list)
    maths: bool = False               # a maths benchmark (graded with 'math' unless verifier= says otherwise)


def data_roots() -> list[Path]:
    """Candidate data roots, in order of preference."""
    env = os.environ.get("REASONRL_DATA_DIR")
    repo = Path(__file__).resolve().parents[2]
    cands = [Path(env)] if env else []
    cands += [Path.cwd().parent / "shared" / "data", repo.parent / "shared" / "data", Path.cwd() / "data"]
    return cands


def find_benchmark_file(spec: BenchmarkSpec) -> Path:
    for root in data_roots():
        if (root / spec.path).is_file():
            return root / spec.path
    looked = ", ".join(str(r) for r in data_roots())
    raise DataError(f"benchmark '{spec.name}': file '{spec.path}' not found under any data root ({looked}); "
                    f"set REASONRL_DATA_DIR or pass --data FILE")


def read_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) pairs of a JSONL / JSON / Parquet file (reasonrl.data.read_records); where is
    "FILE:LINE" (or "FILE:row N"). An unreadable line is an error naming it."""
    out = []
    for rec in read_records(path):
        if rec.row is None:
            raise DataError(f"{rec.where}: {rec.error}")
        out.append((rec.where, rec.row))
    return out


def _field(row: dict, name: str, where: str, key: str):
    if name not in row or row[name] is None:
        raise DataError(f"{where}: no field '{name}' (fields: {', '.join(row)}; set {key}=NAME)")
    return row[name]


def _humaneval(row: dict, where: str) -> tuple[str, str]:
    """-> (prompt, gold). The gold is the row's `test` code defining check(candidate); the code
    verifier reads `entry_point` and `prompt` from the row (a completion that only continues the
    function is appended to the prompt)."""
    prompt = _field(row, "prompt", where, "problem_field")
    _field(row, "entry_point", where, "answer_field")
    text = f"Complete the following Python function.\n```python\n{prompt}```"
    return text, str(_field(row, "test", where, "answer_field"))


def _mbpp(row: dict, where: str) -> tuple[str, str]:
    """-> (prompt, gold): the task text showing its asserts (MBPP's standard prompt); the gold is the
    assert list as JSON (the code verifier runs the row's `test_setup_code` first)."""
    tests = _field(row, "test_list", where, "answer_field")
    text = f"{_field(row, 'text', where, 'problem_field')}\nYour code should pass these tests:\n" + "\n".join(tests)
    return text, json.dumps(list(tests))


def _to_sample(spec: BenchmarkSpec, row: dict, where: str) -> Sample:
    if spec.kind == "humaneval":
        text, gold = _humaneval(row, where)
    elif spec.kind == "mbpp":
        text, gold = _mbpp(row, where)
    else:
        text = str(_field(row, spec.problem_field, where, "problem_field"))
        gold = str(_field(row, spec.answer_field, where, "answer_field"))
    verifier = spec.verifier or str(row.get("verifier") or "math")
    # meta is the dataset row (what verifiers see as the row), with the gold answer under "answer"
    return Sample(prompt=text + spec.prompt_suffix, answer=gold, verifier=verifier, meta={**row, "answer": gold})


def load_file(spec: BenchmarkSpec, path: Path, limit: int = 0) -> Benchmark:
    """Rows of `path` -> Benchmark; ids must be unique (without an id field a row's id is its place,
    e.g. 'line-12')."""
    rows = read_rows(path)
    if spec.row_filter:
        name, value = spec.row_filter
        rows = [(w, r) for w, r in rows if str(r.get(name)) == value]
    rows = rows[:limit] if limit else rows
    if not rows:
        raise DataError(f"{path}: no rows to evaluate")
    samples, ids, groups, seen = [], [], [], {}
    for where, row in rows:
        place = where.rsplit(":", 1)[1]
        pid = str(row.get(spec.id_field, "line-" + place.replace("row ", "")))
        if pid in seen:
            raise DataError(f"{where}: duplicate id '{pid}' in field '{spec.id_field}' (first at {seen[pid]})")
        seen[pid] = where
        samples.append(_to_sample(spec, row, where))
        ids.append(pid)
        groups.append(str(row.get(spec.group_field, spec.name)))
    return Benchmark(spec.name, spec, str(path), samples, ids, groups)


def load_task(name: str, limit: int = 0) -> Benchmark:
    """A registered task's held-out split (prompts as the task renders them, the task's verifier)."""
    from reasonrl.config import TaskConfig
    from reasonrl.tasks import make_task

    samples = make_task(TaskConfig(name=name)).heldout()
    samples = samples[:limit] if limit else samples
    spec = BenchmarkSpec(name, kind="task", verifier="", prompt_suffix="", group_field="")
    return Benchmark(name, spec, f"task:{name}", samples, [f"{name}-{i}" for i in range(len(samples))],
                     [name] * len(samples))


def resolve_spec(data: str, overrides: dict[str, str]) -> tuple[BenchmarkSpec, Path | None]:
    """--data FILE|NAME -> (spec with the user's field overrides, file or None for a task).
    A file whose path ends like a known benchmark's (e.g. .../gsm8k/test.jsonl) gets that benchmark's spec."""
    from reasonrl.tasks import TASKS

    p = Path(data).expanduser()
    if p.is_file():
        known = [s for s in BENCHMARKS.values() if p.resolve().as_posix().endswith("/" + s.path)]
        spec = known[0] if known else BenchmarkSpec(p.stem, verifier="", prompt_suffix="")
    elif data in BENCHMARKS:
        spec = BENCHMARKS[data]
        p = find_benchmark_file(spec)
    elif data in TASKS:
        return BenchmarkSpec(data, kind="task"), None
    else:
        raise DataError(f"--data '{data}': no such file, and not a benchmark name "
                        f"({', '.join(BENCHMARKS)}) or task ({', '.join(TASKS)})")
    keep = {k: v for k, v in overrides.items() if v is not None and (v != "" or k == "prompt_suffix")}
    return replace(spec, **keep), p


def load_benchmark(data: str, limit: int = 0, **overrides: str) -> Benchmark:
    """Load --data (file, benchmark name or task name). overrides: id_field, problem_field,
    answer_field, group_field, verifier ("" or None = the benchmark's own), prompt_suffix (None = the
    benchmark's own; "" = none)."""
    spec, path = resolve_spec(data, overrides)
    if path is None:
        bench = load_task(data, limit)
        if overrides.get("verifier"):
            bench.samples = [replace(s, verifier=overrides["verifier"]) for s in bench.samples]
        return bench
    bench = load_file(spec, path, limit)
    base = spec if not overrides.get("verifier") else resolve_spec(data, {})[0]
    bench.maths = base.verifier == "math" or any(s.verifier == "math" for s in bench.samples)
    return bench
