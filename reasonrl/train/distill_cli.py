"""`reasonrl distill CONFIG.yaml [key=value ...]`: teacher traces -> student SFT (reasonrl.train.distill)."""
from __future__ import annotations

HELP = "distillation: a teacher's verified traces (or trace files) -> SFT of a student of another size"


def cmd_distill(args) -> int:
    from reasonrl.train.distill import DistillConfig, distill
    from reasonrl.train.rl import before_after_table
    from reasonrl.train.sft_cli import load

    summary = distill(load(args, DistillConfig))
    print()
    print(before_after_table(summary["sft"]))
    print(f"student model: {summary['model']}")
    return summary["sft"]["exit_code"]


def add_parser(subparsers) -> None:
    from reasonrl.train.distill import DistillConfig
    from reasonrl.train.sft_cli import add_config_command

    add_config_command(subparsers, "distill", HELP, DistillConfig, cmd_distill)
