"""`reasonrl sample CONFIG.yaml [key=value ...]`: rejection sampling (reasonrl.train.rejection)."""
from __future__ import annotations

HELP = "rejection sampling: k samples per problem, keep the verified-correct readable ones -> JSONL for sft"


def cmd_sample(args) -> int:
    from reasonrl.train.rejection import SampleConfig, run_sample
    from reasonrl.train.sft_cli import load

    summary = run_sample(load(args, SampleConfig))
    print(f"traces: {summary['traces']}")
    return 0


def add_parser(subparsers) -> None:
    from reasonrl.train.rejection import SampleConfig
    from reasonrl.train.sft_cli import add_config_command

    add_config_command(subparsers, "sample", HELP, SampleConfig, cmd_sample)
