"""The training commands: `reasonrl train | pretrain | sft | sample | distill [CONFIG.yaml] [key=value ...]`.

Each takes one optional config file, then key=value overrides; `--help` lists every key with its
default (`add_config_command`). The table of all commands is reasonrl.cli.COMMANDS.
"""
from __future__ import annotations

import argparse

HELP = {
    "train": "RL training (GRPO family); no CONFIG = the embedded tiny default",
    "pretrain": "make the tiny base model of the embedded default",
    "sft": "supervised fine-tuning on prompt/completion or conversation JSONL (cold start, distillation)",
    "sample": "rejection sampling: k samples per problem, keep the verified-correct readable ones -> JSONL for sft",
    "distill": "distillation: a teacher's verified traces (or trace files) -> SFT of a student of another size",
}


def add_config_command(subparsers, name: str, help_text: str, cls, fn) -> None:
    """`reasonrl NAME [CONFIG.yaml] [key=value ...]` running fn(args), --help listing cls's keys."""
    from reasonrl.config import defaults_help

    sp = subparsers.add_parser(name, help=help_text, description=help_text, epilog=defaults_help(cls),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.set_defaults(fn=fn)


def load(args, cls):
    """The config of class cls from the command's [CONFIG.yaml] [key=value ...]."""
    from reasonrl.config import load_config, split_args

    config, overrides = split_args(args.items)
    return load_config(config, overrides, cls=cls)


def cmd_train(args) -> int:
    from reasonrl.config import Config
    from reasonrl.train.hooks import from_env
    from reasonrl.train.rl import before_after_table, train

    result = train(load(args, Config), hooks=from_env())     # fault injection (bench/faults.py) is read here, once
    if not result.get("rank"):            # under torchrun only rank 0 prints the table
        print()
        print(before_after_table(result))
    return result["exit_code"]


def cmd_pretrain(args) -> int:
    from reasonrl.train.pretrain import PretrainConfig, pretrain

    report = pretrain(load(args, PretrainConfig))
    return 0 if report["gate_passed"] else 1


def cmd_sft(args) -> int:
    from reasonrl.train.rl import before_after_table
    from reasonrl.train.sft import SFTConfig, train

    result = train(load(args, SFTConfig))
    print()
    print(before_after_table(result))
    return result["exit_code"]


def cmd_sample(args) -> int:
    from reasonrl.models import torch_threads
    from reasonrl.train.rejection import SampleConfig, run_sample

    cfg = load(args, SampleConfig)
    with torch_threads(cfg.threads):
        summary = run_sample(cfg)
    print(f"traces: {summary['traces']}")
    return 0


def cmd_distill(args) -> int:
    from reasonrl.train.distill import DistillConfig, distill
    from reasonrl.train.rl import before_after_table

    summary = distill(load(args, DistillConfig))
    print()
    print(before_after_table(summary["sft"]))
    print(f"student model: {summary['model']}")
    return summary["sft"]["exit_code"]


def add_train(subparsers) -> None:
    from reasonrl.config import Config
    add_config_command(subparsers, "train", HELP["train"], Config, cmd_train)


def add_pretrain(subparsers) -> None:
    from reasonrl.train.pretrain import PretrainConfig
    add_config_command(subparsers, "pretrain", HELP["pretrain"], PretrainConfig, cmd_pretrain)


def add_sft(subparsers) -> None:
    from reasonrl.train.sft import SFTConfig
    add_config_command(subparsers, "sft", HELP["sft"], SFTConfig, cmd_sft)


def add_sample(subparsers) -> None:
    from reasonrl.train.rejection import SampleConfig
    add_config_command(subparsers, "sample", HELP["sample"], SampleConfig, cmd_sample)


def add_distill(subparsers) -> None:
    from reasonrl.train.distill import DistillConfig
    add_config_command(subparsers, "distill", HELP["distill"], DistillConfig, cmd_distill)
