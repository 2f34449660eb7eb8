"""The real benchmark data for the verifier tests (each test skips cleanly when it is absent)."""
import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_rows(rel: str) -> list[dict]:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"benchmark data not found: {path}")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def data_path(rel: str) -> Path:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"benchmark data not found: {path}")
    return path
