"""The command line's error boundary: no exception escapes `reasonrl <command>` as a traceback unless
asked (--debug, REASONRL_DEBUG=1); one table of commands; --version."""
import subprocess
import sys

import pytest

from reasonrl import __version__, cli
from reasonrl.errors import ConfigError
from reasonrl.train import commands


def _boom(args):
    raise RuntimeError("boom\nsecond line")


def _bad(args):
    raise ConfigError("config key 'x': bad")


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(commands, "cmd_train", _boom)
    monkeypatch.delenv("REASONRL_DEBUG", raising=False)
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["reasonrl: error: `reasonrl train` failed: RuntimeError: boom (run with --debug for the traceback)"]


def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(commands, "cmd_train", _bad)
    monkeypatch.delenv("REASONRL_DEBUG", raising=False)
    assert cli.main(["train"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["reasonrl: error: config key 'x': bad"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(monkeypatch, how):
    monkeypatch.setattr(commands, "cmd_train", _boom)
    if how == "env":
        monkeypatch.setenv("REASONRL_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["train"] + (["--debug"] if how == "flag" else []))


def test_version():
    p = subprocess.run([sys.executable, "-m", "reasonrl", "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == f"reasonrl {__version__}"


def test_every_command_of_the_table_has_help():
    parser = cli.build_parser()
    names = list(parser._subparsers._group_actions[0].choices)
    assert names == list(cli.COMMANDS)
