"""bench/gpu_check.sh, the prepared script for a GPU machine, in its CPU form: a tiny random Qwen2,
2 gloo processes, the fast decode path, each mode (replicated data parallel, FSDP2, LoRA) for 2 steps."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_script_runs_every_mode_on_cpu(tmp_path):
    pytest.importorskip("peft")
    env = dict(os.environ, SHAPE="tiny", NPROC="2", DTYPE="float32", DEVICE="cpu", BACKEND="fast", STEPS="2",
               B="2", G="2", T="8", OUT=str(tmp_path / "check"), PY=sys.executable, PYTHONPATH=str(ROOT))
    res = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = res.stdout
    assert re.findall(r"== mode (\w+) \| device: cpu x2 \| dtype float32 \| backend fast", out) == ["ddp", "fsdp", "lora"]
    for key in ("rollout tokens/s \\(generated\\)", "training tokens/s \\(trained\\)"):
        rates = [float(x.replace(",", "")) for x in re.findall(key + r":\s+([\d,]+)", out)]
        assert len(rates) == 3 and all(r > 0 for r in rates), (key, out)
    assert "FSDP2: parameters, gradients and optimizer state sharded over 2 processes" in \
        (tmp_path / "check" / "fsdp.log").read_text()
    assert "trainable parameters" in (tmp_path / "check" / "lora.log").read_text()
