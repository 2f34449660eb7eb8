"""`make demo` installs only the demo's extra; `make clean` never deletes trained models."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _dry(target: str) -> str:
    return subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_demo_installs_the_demo_extra_not_the_dev_extra():
    plan = _dry("demo")
    assert 'pip install -q -e ".[demo]"' in plan and ".[dev]" not in plan
    assert plan.strip().splitlines()[-1].endswith("reasonrl train")


def test_clean_keeps_runs_and_clean_runs_removes_them():
    clean = _dry("clean")
    assert "rm -rf .venv" in clean and "-path ./runs -prune" in clean
    assert not any(w.rstrip("/") == "runs" for line in clean.splitlines() for w in line.split())
    assert _dry("clean-runs").strip() == "rm -rf runs"
