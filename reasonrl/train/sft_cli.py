"""`reasonrl sft CONFIG.yaml [key=value ...]`: supervised fine-tuning (reasonrl.train.sft).

Also holds `add_config_command`, the shape shared by `sft`, `sample` and `distill`: one optional
config file, then key=value overrides, `--help` listing every key with its default.
"""
from __future__ import annotations

import argparse

HELP = "supervised fine-tuning on prompt/completion or conversation JSONL (cold start, distillation)"


def add_config_command(subparsers, name: str, help_text: str, cls, fn) -> None:
    from reasonrl.cli import _defaults_help

    sp = subparsers.add_parser(name, help=help_text, description=help_text, epilog=_defaults_help(cls),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.set_defaults(fn=fn)


def load(args, cls):
    from reasonrl.cli import _split_args
    from reasonrl.config import load_config

    config, overrides = _split_args(args.items)
    return load_config(config, overrides, cls=cls)


def cmd_sft(args) -> int:
    from reasonrl.train.rl import before_after_table
    from reasonrl.train.sft import SFTConfig, train

    result = train(load(args, SFTConfig))
    print()
    print(before_after_table(result))
    return result["exit_code"]


def add_parser(subparsers) -> None:
    from reasonrl.train.sft import SFTConfig

    add_config_command(subparsers, "sft", HELP, SFTConfig, cmd_sft)
