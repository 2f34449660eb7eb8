"""Read rows from local files, each with the place it came from, without judging them.

    for rec in read_records("train.jsonl"):       # Record(where="train.jsonl:3", row={...}, error="")
        ...

Formats, chosen by the path:
  *.jsonl, *.ndjson       one JSON object a line (blank lines skipped); where = "FILE:LINE"
  *.json                  a JSON array of objects (where = "FILE:item N"), or JSON lines
  *.parquet, *.pq         pyarrow (optional extra `data`); where = "FILE:row N"
  a folder                a Hugging Face `datasets` folder written by `save_to_disk` (Dataset or
                          DatasetDict, `split` picks one); optional extra `data`; where = "DIR[split]:row N"

A line that is not valid JSON, not UTF-8 text or not an object is yielded as a record with `error`
set, so the validation pass reports it next to every other bad row instead of stopping at the first.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reasonrl.errors import UserError


class DataError(UserError):
    """A data file or data row problem: the message names the file, the line and the field."""


@dataclass(frozen=True)
class Record:
    where: str                        # "FILE:LINE", "FILE:row N" or "DIR[split]:row N"
    row: dict | None                  # None when the line could not be read as an object
    error: str = ""                   # why the line is unreadable ("" = readable)


JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_records(path: str | Path, split: str = "train") -> Iterator[Record]:
    """Every row of one file or saved dataset folder, in order, with its location."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data path '{path}' does not exist")
    if p.is_dir():
        yield from _read_saved_dataset(p, split)
    elif p.suffix in PARQUET_SUFFIXES:
        yield from _read_parquet(p)
    elif p.suffix == ".json" and _starts_with_bracket(p):
        yield from _read_json_array(p)
    elif p.suffix in JSONL_SUFFIXES + (".json",):
        yield from _read_jsonl(p)
    else:
        raise DataError(f"data path '{path}': unknown format '{p.suffix}' (use .jsonl, .json, .parquet "
                        f"or a folder written by datasets' save_to_disk)")


def _starts_with_bracket(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"[")


def not_utf8(raw: bytes, start: int) -> str:
    """Why a line is unreadable: its first byte that is not UTF-8 and where (1-based byte column)."""
    return f"not UTF-8 text (byte 0x{raw[start]:02x} at column {start + 1}; save the file as UTF-8)"


def _read_jsonl(p: Path) -> Iterator[Record]:
    with open(p, "rb") as f:
        for no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").lstrip("\ufeff")
            except UnicodeDecodeError as e:
                yield Record(f"{p}:{no}", None, not_utf8(raw, e.start))
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as e:
                yield Record(f"{p}:{no}", None, f"not valid JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(row, dict):
                yield Record(f"{p}:{no}", None, f"expected a JSON object, got {type(row).__name__}")
                continue
            yield Record(f"{p}:{no}", row)


def _read_json_array(p: Path) -> Iterator[Record]:
    data = p.read_bytes()
    try:
        items = json.loads(data.decode("utf-8").lstrip("\ufeff"))
    except UnicodeDecodeError as e:
        begin, line = data.rfind(b"\n", 0, e.start) + 1, data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{p}:{line}: {not_utf8(data[begin:], e.start - begin)}") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(items, list):
        raise DataError(f"{p}: expected a JSON array of objects or JSON lines")
    for i, row in enumerate(items, start=1):
        if isinstance(row, dict):
            yield Record(f"{p}:item {i}", row)
        else:
            yield Record(f"{p}:item {i}", None, f"expected a JSON object, got {type(row).__name__}")


def _read_parquet(p: Path) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{p}: reading Parquet needs pyarrow (pip install -e '.[data]')") from None
    try:
        table = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"{p}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    for i, row in enumerate(table.to_pylist(), start=1):
        yield Record(f"{p}:row {i}", row)


def _read_saved_dataset(p: Path, split: str) -> Iterator[Record]:
    is_dict = (p / "dataset_dict.json").is_file()
    if not is_dict and not (p / "dataset_info.json").is_file() and not (p / "state.json").is_file():
        raise DataError(f"data path '{p}' is a folder but not a Hugging Face dataset written by save_to_disk "
                        f"(no dataset_dict.json or dataset_info.json)")
    try:
        from datasets import load_from_disk
    except ImportError:
        raise DataError(f"{p}: reading a saved dataset folder needs `datasets` "
                        f"(pip install -e '.[data]')") from None
    ds = load_from_disk(str(p))
    label = ""
    if is_dict:
        if split not in ds:
            raise DataError(f"data path '{p}': no split '{split}' (splits: {', '.join(ds)}; set task.split=NAME)")
        ds, label = ds[split], f"[{split}]"
    for i, row in enumerate(ds, start=1):
        yield Record(f"{p}{label}:row {i}", dict(row))
