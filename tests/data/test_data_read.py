"""Readers: every format yields rows with the place they came from; unreadable lines become records
with an error (reported later with the other bad rows), never a crash."""
import json

import pytest

from reasonrl.data import DataError, read_records


def _write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_lines_blank_lines_and_broken_json(tmp_path):
    f = _write_jsonl(tmp_path / "d.jsonl", ['{"problem": "1+1", "answer": "2"}', "", '{"problem": ', "[1, 2]"])
    recs = list(read_records(f))
    # line 2 is blank (skipped); line 3 is broken JSON; line 4 is an array, not an object
    assert [r.where for r in recs] == [f"{f}:1", f"{f}:3", f"{f}:4"]
    assert recs[0].row == {"problem": "1+1", "answer": "2"} and recs[0].error == ""
    assert recs[1].row is None and "not valid JSON" in recs[1].error
    assert recs[2].row is None and recs[2].error == "expected a JSON object, got list"


def test_json_array(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps([{"q": "a"}, 3]))
    recs = list(read_records(f))
    assert [r.where for r in recs] == [f"{f}:item 1", f"{f}:item 2"]
    assert recs[0].row == {"q": "a"} and "got int" in recs[1].error


def test_parquet_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["2+2", "3+3"], "final": [4, 6]}), f)
    recs = list(read_records(f))
    assert [r.where for r in recs] == [f"{f}:row 1", f"{f}:row 2"]
    assert recs[1].row == {"question": "3+3", "final": 6}


def test_saved_datasets_folder_and_dict_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"problem": ["a", "b"], "answer": ["1", "2"]})
    ds.save_to_disk(str(tmp_path / "one"))
    one = tmp_path / "one"
    assert [r.where for r in read_records(one)] == [f"{one}:row 1", f"{one}:row 2"]
    datasets.DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dict"))
    recs = list(read_records(tmp_path / "dict", split="test"))
    assert len(recs) == 1 and recs[0].where == f"{tmp_path / 'dict'}[test]:row 1" and recs[0].row["problem"] == "b"
    with pytest.raises(DataError, match=r"no split 'dev' \(splits: train, test; set task.split=NAME\)"):
        list(read_records(tmp_path / "dict", split="dev"))


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        list(read_records(tmp_path / "nope.jsonl"))
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unknown format '.csv'"):
        list(read_records(tmp_path / "d.csv"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="not a Hugging Face dataset written by save_to_disk"):
        list(read_records(tmp_path / "folder"))


def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"problem": "a", "answer": "1"}\n{"problem": "caf\xe9", "answer": "2"}\n\xff\xfe\x00\x01\n')
    recs = list(read_records(f))
    assert [(r.where, r.error) for r in recs] == [
        (f"{f}:1", ""),
        (f"{f}:2", "not UTF-8 text (byte 0xe9 at column 17; save the file as UTF-8)"),
        (f"{f}:3", "not UTF-8 text (byte 0xff at column 1; save the file as UTF-8)")]
    arr = tmp_path / "a.json"
    arr.write_bytes(b'[{"problem": "a"},\n {"problem": "caf\xe9"}]')
    with pytest.raises(DataError, match=r"a\.json:2: not UTF-8 text \(byte 0xe9 at column 18"):
        list(read_records(arr))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"problem": "a", "answer": "1"}\n')
    assert [r.row for r in read_records(bom)] == [{"problem": "a", "answer": "1"}]
