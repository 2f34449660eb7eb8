"""Grading files of existing outputs: gold checked once at load (bad rows reported by file:line and
dropped), verdicts beside each row, the summary, and agreement with human/grader labels."""
import json

import pytest

from _vdata import data_path
from reasonrl.errors import UserError
from reasonrl.verifiers.grading import get_field, grade_file, load_gold_rows, summarize


def _write(tmp_path, rows, name="out.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_unusable_gold_rows_are_reported_and_dropped(tmp_path):
    p = _write(tmp_path, [{"a": "12", "r": "\\boxed{12}"}, {"a": "", "r": "1"}, {"r": "2"}, {"a": "-1./3", "r": "3"}])
    kept, dropped = load_gold_rows(p, gold_field="a", verifier="math")
    assert [n for n, _, _ in kept] == [1]
    assert [why for _, _, why in dropped] == [f"{p}:3: no gold field 'a'", f"{p}:2: gold '' does not parse",
                                              f"{p}:4: gold '-1./3' does not parse"]
    graded = grade_file(p, gold_field="a", response_field="r")
    assert [g.verdict.status if g.verdict else "dropped" for g in graded] == ["correct", "dropped", "dropped", "dropped"]
    assert summarize(graded)["dropped"] == 3 and summarize(graded)["accuracy"] == 1.0


def test_countdown_and_code_golds_are_checked_at_load(tmp_path):
    p = _write(tmp_path, [{"t": 5, "nums": [2, 3]}, {"t": "x", "nums": [1]}, {"t": 4, "nums": "12"}])
    kept, dropped = load_gold_rows(p, gold_field="t", verifier="countdown")
    assert len(kept) == 1 and [w.split(": ", 1)[1] for *_, w in dropped] == [
        "target 'x' is not a number", "'nums' must be a non-empty list of integers (got '12')"]
    p = _write(tmp_path, [{"t": "def check(candidate):\n    assert candidate() == 1\n"}], "code.jsonl")
    _, dropped = load_gold_rows(p, gold_field="t", verifier="code")
    assert "no 'entry_point'" in dropped[0][2]


def test_user_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: not valid JSON"):
        grade_file(bad, gold_field="a", response_field="a")
    good = _write(tmp_path, [{"a": "1", "resp": "1"}])
    with pytest.raises(UserError, match=r"out.jsonl:1: no row has field 'answer' \(gold field\); first row has: a, resp"):
        grade_file(good, gold_field="answer", response_field="resp")
    with pytest.raises(UserError, match="unknown verifier 'nope'"):
        load_gold_rows(good, gold_field="a", verifier="nope")


def test_dotted_fields():
    assert get_field({"original": {"answer": "x #### 5"}}, "original.answer") == "x #### 5"
    assert get_field({"a.b": 1}, "a.b") == 1
    with pytest.raises(KeyError):
        get_field({}, "a.b")


def test_gsm8k_model_solutions_agree_with_openai_labels():
    """5276 GPT-3 GSM8K solutions ("... A: n"), graded by the default rule (explicit markers only: the
    closing "A: n" line is one), against OpenAI's published is_correct labels."""
    graded = grade_file(data_path("labelled_outputs/gsm8k_model_solutions/samples.jsonl"), gold_field="gold_answer",
                        response_field="response", verifier="math", policy="grade")
    lab = summarize(graded, "label")["labels"]
    assert (lab["n"], lab["agree"]) == (5276, 5276)


def test_qwen_math_samples_agree_with_qwen_grader_labels():
    """800 Qwen2.5-Math CoT samples on MATH, default rule: one disagreement, a known error of Qwen's
    grader (gold `10{,}000` vs `10000`, labelled false); the 8 '4:30p..' rows have a garbled gold and
    both say wrong. Two responses end in garbage holding '######' after their box: a run of more than
    four '#' is not a GSM8K answer line, so the box is read."""
    graded = grade_file(data_path("labelled_outputs/qwen25math_math_cot_100/samples.jsonl"), gold_field="gold_answer",
                        response_field="response", verifier="math", policy="grade")
    lab = summarize(graded, "label")["labels"]
    assert (lab["n"], lab["agree"], lab["verifier_yes_label_no"], lab["verifier_no_label_yes"]) == (800, 799, 1, 0)
    odd = [g for g in graded if (g.verdict.status == "correct") != g.row["label"]]
    assert odd[0].row["gold_answer"] == "10{,}000" and odd[0].verdict.answer == "10000"


def test_bad_rows_are_counted_apart_from_scored_rows(tmp_path):
    p = _write(tmp_path, [{"a": "3", "r": "\\boxed{3}"}, {"a": "3", "r": 3}, {"a": "3", "r": None}, {"a": "3"}])
    graded = grade_file(p, gold_field="a", response_field="r")
    s = summarize(graded)
    assert (s["rows"], s["scored"], s["bad"], s["dropped"], s["correct"]) == (4, 1, 3, 0, 1)
    assert graded[1].bad == f"{p}:2: response field 'r' is a int, not a string"
    assert graded[2].bad.endswith("is missing") and graded[1].verdict is None


def test_empty_and_non_utf8_inputs_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match=r"empty.jsonl: no rows to grade \(the file is empty\)"):
        grade_file(empty, gold_field="a", response_field="r")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"a": "1", "r": "1"}\n{"a": "caf\xe9", "r": "1"}\n')
    with pytest.raises(UserError, match=r"latin.jsonl:2: not UTF-8 text \(byte 0xe9 at column 11;"):
        grade_file(latin, gold_field="a", response_field="r")
