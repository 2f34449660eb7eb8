"""`reasonrl eval backend=vllm` through the in-process vLLM backend, against the FAKE `vllm` module of
tests/rollout/test_vllm_contract.py (vLLM cannot be installed here): the eval path drives the
backend's public interface and, greedy, gives the samples `transformers` generation gives."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from reasonrl.cli import main

_spec = importlib.util.spec_from_file_location(
    "vllm_contract", Path(__file__).resolve().parents[1] / "rollout" / "test_vllm_contract.py")
contract = sys.modules.setdefault("vllm_contract", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(contract)


def _samples(out: Path) -> dict:
    (r,) = json.loads((out / "eval" / "summary.json").read_text())["results"].values()
    return {(x["id"], x["sample"]): x for x in map(json.loads, Path(r["samples_file"]).read_text().splitlines())}


def test_eval_backend_vllm_greedy_equals_hf(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", contract.fake_vllm())
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    args = ["eval", "--data", "walk", "--preset", "greedy", "limit=6", "max_new_tokens=30", "bootstrap=0", "threads=1"]
    assert main(args + [f"out={tmp_path / 'v'}", "backend=vllm"]) == 0
    assert main(args + [f"out={tmp_path / 'h'}"]) == 0
    v, h = _samples(tmp_path / "v"), _samples(tmp_path / "h")
    assert [v[k]["completion"] for k in h] == [h[k]["completion"] for k in h]
    assert contract.FakeLLM.instances[-1].calls[-1].max_tokens == 30


def test_unknown_backend_is_one_line(tmp_path, capsys):
    assert main(["eval", "--data", "walk", "backend=server", f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "config key 'backend': 'server' is not one of hf, fast, vllm" in err and err.count("\n") == 1
