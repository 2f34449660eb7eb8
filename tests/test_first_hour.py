"""A new user's first hour, command by command: every bad value is one line on stderr and exit code 2
(never a traceback), and a failed start leaves nothing that blocks the corrected rerun."""
import socket
import subprocess
import sys

import pytest
import torch

from reasonrl.cli import main
from reasonrl.config import load_config
from reasonrl.train.rundir import check_or_write_config

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
# (command line, text the one line must contain); `OUT` is replaced by a fresh run directory
BAD = [
    (["train", "train.lr=-1"], "'train.lr' must be > 0"),
    (["train", "eval.size=0"], "'eval.size' must be >= 1"),
    (["train", "task.heldout_size=0"], "'task.heldout_size' must be >= 1"),
    (["train", "train.steps=-1"], "'train.steps' must be >= 1"),
    (["train", "rollout.num_generations=1"], "'rollout.num_generations' must be >= 2"),
    (["train", "algo.beta=-1"], "'algo.beta' must be >= 0"),
    (["train", "algo.clip_low=-1"], "'algo.clip_low' must be in [0, 1)"),
    (["train", "out="], "'out' must name a run directory"),
    (["train", "model.template=chat"], "template 'chat'"),
    pytest.param(["train", "model.device=cuda"], "model.device=cuda", marks=NO_CUDA),
    (["train", "train.log_to=[wandb]"], "wandb did not start"),
    (["train", "rollout.backend=server", "rollout.server_url=http://127.0.0.1:1", "rollout.server_retries=1",
      "rollout.server_timeout_s=2"], "127.0.0.1:1"),
    (["check", "model.template=chat"], "template 'chat'"),
    (["sft", "train.batch_size=0"], "'train.batch_size' must be >= 1"),
    (["sample", "sample.k=0"], "'sample.k' must be >= 1"),
    (["distill", "student.layers=0"], "'student.layers' must be >= 1"),
    (["pretrain", "steps=0"], "'steps' must be >= 1"),
    (["eval", "limit=-5"], "'limit' must be >= 0"),
    (["serve", "embedded", "--port", "99999"], "--port must be in 0..65535"),
    (["serve", "embedded", "--port", "0", "--template", "chat"], "template 'chat'"),
    (["chat", "embedded", "--template", "chat"], "template 'chat'"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_bad_value_is_one_line_and_exit_2(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))                # no ~/.netrc: wandb has no login
    out = tmp_path / "run"
    config_cmd = argv[0] not in ("serve", "chat", "eval")
    extra = [f"out={out}"] if config_cmd and not any(a.startswith("out=") for a in argv) else []
    if argv[0] == "train":                                     # small, so a late failure comes quickly
        extra += ["eval.size=4", "train.prompts_per_step=2", "rollout.num_generations=2"] \
            if "rollout.num_generations=1" not in argv and "eval.size=0" not in argv else []
    assert main(argv + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reasonrl: error: ") and needle in err[0], err
    if argv[0] == "train" and out.exists():                    # the corrected command may use the directory
        assert check_or_write_config(load_config(None, [f"out={out}"]), out) is False


@NO_CUDA
def test_check_reports_a_missing_gpu_as_a_failed_finding(tmp_path, capsys):
    assert main(["check", "model.device=cuda", f"out={tmp_path}"]) == 1       # a failed check, no traceback
    got = capsys.readouterr()
    assert got.err == "" and "[FAIL] model    model.path=embedded: model.device=cuda: this torch build sees no " \
        "CUDA GPU" in got.out


def test_busy_port_is_one_line_before_any_banner(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "embedded", "--port", str(port)]) == 2
    got = capsys.readouterr()
    assert got.out == "" and got.err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in got.err


def test_as_a_process_the_whole_stderr_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "reasonrl.cli", "train", "train.lr=-1", f"out={tmp_path}/r"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr == "reasonrl: error: config key 'train.lr' must be > 0, got -1.0\n"
    assert not (tmp_path / "r").exists()                       # refused before anything was written


def test_under_torchrun_only_rank_0_prints_the_error(tmp_path, capsys, monkeypatch):
    for rank, lines in (("1", 0), ("0", 1)):
        monkeypatch.setenv("RANK", rank)
        assert main(["train", "train.lr=-1", f"out={tmp_path}"]) == 2
        assert len(capsys.readouterr().err.splitlines()) == lines


def test_every_command_takes_verbose():
    from reasonrl.cli import COMMANDS, build_parser

    p = build_parser()
    assert p.parse_args(["train", "-v", "train.steps=1"]).verbose and not p.parse_args(["train"]).verbose
    for name in COMMANDS:
        assert "--verbose" in p._subparsers._group_actions[0].choices[name].format_help(), name
