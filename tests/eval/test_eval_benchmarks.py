"""reasonrl.eval.benchmarks: the shared data files by name, user files with a field mapping, errors."""
import json
from pathlib import Path

import pytest

from reasonrl.errors import UserError
from reasonrl.eval.benchmarks import BENCHMARKS, BOXED_SUFFIX, load_benchmark

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "math500" / "test.jsonl").is_file(), reason=f"no shared data at {DATA}")


@pytest.fixture(autouse=True)
def _data_root(monkeypatch):
    monkeypatch.setenv("REASONRL_DATA_DIR", str(DATA))


@needs_data
@pytest.mark.parametrize("name,count", [("math500", 500), ("aime24", 30), ("aime25", 30), ("amc23", 40),
                                        ("gsm8k", 1319), ("minerva_math", 272), ("olympiadbench", 675),
                                        ("humaneval", 164), ("mbpp", 500)])
def test_named_benchmarks_load_completely(name, count):
    b = load_benchmark(name)
    assert len(b.samples) == len(b.ids) == len(set(b.ids)) == count
    assert all(s.prompt and s.answer for s in b.samples)


@needs_data
def test_math_rows_get_the_boxed_instruction_and_math_verifier():
    b = load_benchmark("math500", limit=3)
    s = b.samples[0]
    assert b.ids[0] == "test/precalculus/807.json" and b.groups[0] == "Precalculus"
    assert s.prompt.startswith("Convert the point $(0,3)$") and s.prompt.endswith(BOXED_SUFFIX)
    assert s.answer == "\\left( 3, \\frac{\\pi}{2} \\right)" and s.verifier == "math"
    assert BENCHMARKS["aime24"].paper_k == 64 and BENCHMARKS["math500"].paper_k == 16


@needs_data
def test_code_rows_carry_runnable_tests():
    he = load_benchmark("humaneval", limit=1)
    s = he.samples[0]
    assert s.verifier == "code" and "def check(candidate)" in s.answer and "def has_close_elements" in s.prompt
    assert s.meta["entry_point"] == "has_close_elements"              # the code verifier reads the row
    mb = load_benchmark("mbpp", limit=1)
    assert mb.ids[0] == "mbpp-11"                                     # MBPP's test split is tasks 11-510
    assert len(json.loads(mb.samples[0].answer)) == 3 and "Your code should pass these tests" in mb.samples[0].prompt


@needs_data
def test_code_golds_run_in_the_sandbox_with_the_canonical_solutions():
    from reasonrl.verifiers import VERIFIERS, answer_rewards
    if "code" not in VERIFIERS:
        pytest.skip("the code verifier is not registered")
    he, mb = load_benchmark("humaneval", limit=2), load_benchmark("mbpp", limit=2)
    comps = [f"```python\n{s.meta['prompt']}{s.meta['canonical_solution']}```" for s in he.samples]
    comps += [f"```python\n{s.meta['code']}\n```" for s in mb.samples]
    verdicts = answer_rewards(comps + ["```python\ndef nothing(): pass\n```"], he.samples + mb.samples + he.samples[:1])
    assert [v.status for v in verdicts] == ["correct"] * 4 + ["wrong"], [v.reason for v in verdicts]


@needs_data
def test_a_path_to_a_known_benchmark_file_gets_its_spec():
    b = load_benchmark(str(DATA / "gsm8k" / "test.jsonl"), limit=2)
    assert b.name == "gsm8k" and b.samples[0].answer == "18" and b.samples[0].prompt.endswith(BOXED_SUFFIX)


def test_user_jsonl_with_field_mapping(tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text(json.dumps({"q": "1+1?", "final": 2, "topic": "add"}) + "\n\n"
                 + json.dumps({"q": "2+3?", "final": "5", "topic": "add", "verifier": "exact"}) + "\n")
    b = load_benchmark(str(f), problem_field="q", answer_field="final", group_field="topic")
    assert b.ids == ["line-1", "line-3"] and b.groups == ["add", "add"]
    assert [s.prompt for s in b.samples] == ["1+1?", "2+3?"]          # user files get no suffix
    assert [s.answer for s in b.samples] == ["2", "5"]
    assert [s.verifier for s in b.samples] == ["math", "exact"]       # a row's own `verifier` field wins
    b = load_benchmark(str(f), problem_field="q", answer_field="final", prompt_suffix=" Answer:")
    assert b.samples[0].prompt == "1+1? Answer:"


def test_user_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa
    f = tmp_path / "mine.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "a", "problem": "p1", "answer": "1"},
                                         {"id": "b", "problem": "p2", "answer": "2"}]), f)
    b = load_benchmark(str(f))
    assert b.ids == ["a", "b"] and [s.answer for s in b.samples] == ["1", "2"]


def test_task_heldout_split():
    b = load_benchmark("walk", limit=5)
    assert b.source == "task:walk" and len(b.samples) == 5 and b.samples[0].verifier == "exact"
    assert b.samples[0].prompt.endswith("=")


@pytest.mark.parametrize("rows,message", [
    (['{"problem": "x", "answer": "1"}', "{not json"], r"bad.jsonl:2: not valid JSON \(Expecting property name"),
    (['{"problem": "x"}'], r"bad.jsonl:1: no field 'answer' \(fields: problem; set answer_field=NAME\)"),
    (['{"id": 1, "problem": "x", "answer": "1"}', '{"id": 1, "problem": "y", "answer": "2"}'],
     r"bad.jsonl:2: duplicate id '1' in field 'id' \(first at .*bad.jsonl:1\)"),
    (["[1, 2]"], r"bad.jsonl:1: expected a JSON object, got list"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, rows, message):
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(UserError, match=message):
        load_benchmark(str(f))


def test_unknown_name_lists_choices():
    with pytest.raises(UserError, match="not a benchmark name .*math500.* or task .*walk"):
        load_benchmark("nonesuch")


def test_missing_data_root_says_where_it_looked(monkeypatch, tmp_path):
    import reasonrl.eval.benchmarks as bm
    monkeypatch.setattr(bm, "data_roots", lambda: [tmp_path])
    with pytest.raises(UserError, match=f"benchmark 'math500': file 'math500/test.jsonl' not found under any "
                                        f"data root \\({tmp_path}\\); set REASONRL_DATA_DIR"):
        load_benchmark("math500")
