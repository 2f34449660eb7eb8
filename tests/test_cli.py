"""Bad input at the command line: one line on stderr, exit code 2, no traceback."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("args,needle", [
    (["train", "foo=1"], "unknown config key 'foo'"),
    (["train", "model.path=/no/such/model"], "model path '/no/such/model' does not exist"),
    (["train", "train.steps=abc"], "config key 'train.steps': expected int"),
])
def test_bad_input_one_line(args, needle, tmp_path):
    p = subprocess.run([sys.executable, "-m", "reasonrl.cli", *args, f"out={tmp_path}/r"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reasonrl: error: ") and needle in lines[0]
    assert "Traceback" not in p.stderr


def test_other_config_run_dir(tmp_path):
    from reasonrl.cli import main

    assert main(["train", f"out={tmp_path}", "train.steps=1", "eval.every=0", "eval.size=4",
                 "train.prompts_per_step=2", "rollout.num_generations=2"]) == 0
    p = subprocess.run([sys.executable, "-m", "reasonrl.cli", "train", f"out={tmp_path}", "train.lr=0.1",
                        "train.steps=1", "eval.every=0", "eval.size=4", "train.prompts_per_step=2",
                        "rollout.num_generations=2"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "different config" in p.stderr and len(p.stderr.strip().splitlines()) == 1
