"""The validation pass: each kind of bad row is reported as FILE:LINE: field 'NAME': problem, and
on_bad_row decides between one summary error (stop) and dropping the rows (skip)."""
import json
from pathlib import Path

import pytest

from reasonrl.config import ConfigError
from reasonrl.data import DataError, RowSpec, load_samples

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _jsonl(tmp_path, rows, name="d.jsonl"):
    f = tmp_path / name
    f.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return f


def _bad(tmp_path, rows, spec=RowSpec(), **kw):
    """Load with on_bad_row=skip; -> (samples, logged lines)."""
    lines = []
    out = load_samples(_jsonl(tmp_path, [{"problem": "ok?", "answer": "1"}] + rows), spec, on_bad_row="skip",
                       log=lines.append, **kw)
    return out, lines


@pytest.mark.parametrize("row, message", [
    ({"answer": "1"}, "d.jsonl:2: field 'problem': missing (row fields: answer)"),
    ({"problem": "p"}, "d.jsonl:2: field 'answer': missing (row fields: problem)"),
    ({"problem": "p", "answer": None}, "d.jsonl:2: field 'answer': missing"),
    ({"problem": "p", "answer": "  "}, "d.jsonl:2: field 'answer': empty answer"),
    ({"problem": "", "answer": "1"}, "d.jsonl:2: field 'problem': empty prompt"),
    ({"problem": 7, "answer": "1"}, "d.jsonl:2: field 'problem': expected a string, got int"),
    ({"problem": "p", "answer": [1, 2]}, "d.jsonl:2: field 'answer': expected a string or number, got list"),
    ({"problem": "p", "answer": True}, "d.jsonl:2: field 'answer': expected a string or number, got bool"),
    ('{"problem": "p", "answer": ', "d.jsonl:2: not valid JSON"),
])
def test_each_bad_row_is_named_by_file_line_and_field(tmp_path, row, message):
    samples, lines = _bad(tmp_path, [row])
    assert len(samples) == 1                      # the good first row survives
    assert len(lines) == 2 and message in lines[0] and str(tmp_path) in lines[0]
    assert "skipped 1 bad row(s) of 2" in lines[1]


def test_numbers_are_gold_text_and_whole_row_is_kept(tmp_path):
    (s,) = load_samples(_jsonl(tmp_path, [{"problem": "p", "answer": 18, "extra": [1]}]), RowSpec())
    assert s.answer == "18" and s.meta["extra"] == [1] and s.meta["where"].endswith("d.jsonl:1")


def test_field_mapping_and_prompt_format(tmp_path):
    f = _jsonl(tmp_path, [{"question": "Sum?", "nums": [3, 4], "final": "7"}])
    spec = RowSpec(prompt_field="question", answer_field="final", prompt_format="{prompt} Use {nums}.")
    (s,) = load_samples(f, spec)
    assert s.prompt == "Sum? Use [3, 4]." and s.answer == "7"
    g = _jsonl(tmp_path, [{"problem": "p", "answer": "1"}], "g.jsonl")
    with pytest.raises(DataError, match="g.jsonl:1: field 'nums': missing \\(named in task.prompt_format\\)"):
        load_samples(g, RowSpec(prompt_format="{prompt} {nums}"), log=lambda _: None)
    with pytest.raises(ConfigError, match="task.prompt_format"):
        load_samples(f, RowSpec(prompt_format="\\frac{1}{prompt}"))


def test_over_long_prompt(tmp_path):
    spec = RowSpec(max_prompt_tokens=10)
    _, lines = _bad(tmp_path, [{"problem": "x" * 11, "answer": "1"}], spec, prompt_len=len)
    # prompt_len=len counts characters: 11 > 10
    assert "d.jsonl:2: field 'problem': prompt is 11 tokens, over task.max_prompt_tokens=10" in lines[0]


def test_unparseable_gold_through_the_verifiers_gold_check(tmp_path, monkeypatch):
    from reasonrl import verifiers

    class IntVerifier:                           # a verifier whose golds must be whole numbers
        @staticmethod
        def gold_problems(golds, rows):
            assert rows[0]["where"].endswith("d.jsonl:1")   # it sees the whole row too
            return ["" if g.isdigit() else f"gold {g!r} is not a whole number" for g in golds]
    monkeypatch.setitem(verifiers.VERIFIERS, "int", IntVerifier())
    _, lines = _bad(tmp_path, [{"problem": "p", "answer": "x"}], RowSpec(verifier="int"))
    assert "d.jsonl:2: field 'answer': gold 'x' is not a whole number" in lines[0]


def test_structured_gold_for_verifiers_that_take_it(tmp_path, monkeypatch):
    from reasonrl import verifiers

    class Tests:                                 # like the code verifier: the gold is a list of asserts
        @staticmethod
        def gold_problems(golds, rows):
            return ["" if isinstance(g, list) else "not a list" for g in golds]
    monkeypatch.setitem(verifiers.VERIFIERS, "tests", Tests())
    (s,) = load_samples(_jsonl(tmp_path, [{"problem": "p", "answer": ["assert f(1) == 2"]}]), RowSpec(verifier="tests"))
    assert s.meta["answer"] == ["assert f(1) == 2"] and s.answer == '["assert f(1) == 2"]'


def test_stop_lists_every_bad_row_then_raises_one_line(tmp_path):
    f = _jsonl(tmp_path, [{"problem": "p", "answer": "1"}, {"problem": "p"}, {"answer": "1"},
                          {"problem": "p", "answer": ""}, {"problem": "p", "answer": ""}])
    lines = []
    with pytest.raises(DataError) as e:
        load_samples(f, RowSpec(), log=lines.append)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{f}: 4 bad row(s) of 5: {f}:2: field 'answer': missing")
    assert msg.endswith("; and 1 more (fix them or set task.on_bad_row=skip)")
    assert [ln.split(": field")[0] for ln in lines] == [f"bad row: {f}:{i}" for i in (2, 3, 4, 5)]


def test_bad_settings(tmp_path):
    f = _jsonl(tmp_path, [{"problem": "p", "answer": "1"}])
    with pytest.raises(ConfigError, match="task.on_bad_row': expected one of stop, skip"):
        load_samples(f, RowSpec(), on_bad_row="ignore")
    with pytest.raises(DataError, match="no usable rows"):
        load_samples(_jsonl(tmp_path, [{"answer": "1"}], "e.jsonl"), RowSpec(), on_bad_row="skip", log=lambda _: None)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_real_gsm8k_loads_clean():
    samples = load_samples(SHARED / "gsm8k" / "test.jsonl", RowSpec())
    assert len(samples) == 1319 and samples[0].answer == "18"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_real_math500_golds_all_parse_for_math():
    # about 10 s on 2 cores: every gold goes through the math verifier's parser
    assert len(load_samples(SHARED / "math500" / "test.jsonl", RowSpec(verifier="math"))) == 500


def test_latin1_line_and_binary_file_stop_or_skip(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"problem": "p", "answer": "1"}\n{"problem": "caf\xe9", "answer": "2"}\n')
    with pytest.raises(DataError, match=rf"{f}: 1 bad row\(s\) of 2: {f}:2: not UTF-8 text \(byte 0xe9"):
        load_samples(f, RowSpec(), log=lambda _: None)
    lines = []
    assert [s.prompt for s in load_samples(f, RowSpec(), on_bad_row="skip", log=lines.append)] == ["p"]
    assert lines[-1] == f"{f}: skipped 1 bad row(s) of 2 (task.on_bad_row=skip)"
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match=rf"{binary}: 9 bad row\(s\) of 9: .*{binary}:2: not UTF-8 text \(byte 0x80"):
        load_samples(binary, RowSpec(), log=lambda _: None)
    with pytest.raises(DataError, match=rf"{binary}: no usable rows \(read 9\)"):
        load_samples(binary, RowSpec(), on_bad_row="skip", log=lambda _: None)
