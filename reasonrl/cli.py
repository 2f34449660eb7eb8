"""`reasonrl <command>`: each command is a thin call into the package.

    reasonrl train    [CONFIG.yaml] [key=value ...]   RL (GRPO family); no CONFIG = the embedded tiny default
    reasonrl pretrain [CONFIG.yaml] [key=value ...]   make the tiny base model of the embedded default

Bad input (unknown config key, wrong type, missing model folder, a run directory made by another
config) ends with one line `reasonrl: error: ...` and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_USAGE = 2

# Subcommands that live with the code they run: "module" exposing `add_parser(subparsers)`, which
# adds one subparser and sets `fn` (args -> exit code) with `set_defaults(fn=...)`.
EXTRA_COMMANDS: list[str] = [
    "reasonrl.verifiers.cli",
    "reasonrl.check",
    "reasonrl.eval.cli",
    "reasonrl.report.cli",
    "reasonrl.serve.command",
    "reasonrl.serve.chat",
    "reasonrl.train.sft_cli",
    "reasonrl.train.rejection_cli",
    "reasonrl.train.distill_cli",
    "reasonrl.pipeline_cli",
]


def _split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """First positional that is not key=value is the config file; the rest are overrides."""
    config = None
    overrides = []
    for it in items:
        if "=" in it:
            overrides.append(it)
        elif config is None:
            config = it
        else:
            raise SystemExit(f"reasonrl: error: unexpected argument '{it}' (overrides are key=value)")
    return config, overrides


def _defaults_help(cls) -> str:
    """Every option with its default, for --help."""
    from dataclasses import fields, is_dataclass

    from reasonrl.config import to_dict

    lines = []
    for k, v in to_dict(cls()).items():
        if isinstance(v, dict):
            lines += [f"  {k}.{k2}={v2}" for k2, v2 in v.items()]
        else:
            lines.append(f"  {k}={v}")
    del fields, is_dataclass
    return "options (key=default):\n" + "\n".join(lines)


def cmd_train(args) -> int:
    from reasonrl.config import load_config
    from reasonrl.train.rl import before_after_table, train

    config, overrides = _split_args(args.items)
    cfg = load_config(config, overrides)
    result = train(cfg)
    if not result.get("rank"):            # under torchrun only rank 0 prints the table
        print()
        print(before_after_table(result))
    return result["exit_code"]


def cmd_pretrain(args) -> int:
    from reasonrl.config import load_config
    from reasonrl.train.pretrain import PretrainConfig, pretrain

    config, overrides = _split_args(args.items)
    cfg = load_config(config, overrides, cls=PretrainConfig)
    report = pretrain(cfg)
    return 0 if report["gate_passed"] else 1


def build_parser() -> argparse.ArgumentParser:
    from reasonrl.config import Config
    from reasonrl.train.pretrain import PretrainConfig

    p = argparse.ArgumentParser(prog="reasonrl", description="Train reasoning into language models with RL "
                                "from verifiable rewards.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn, cls, text in (
            ("train", cmd_train, Config, "RL training (GRPO family); no CONFIG = the embedded tiny default"),
            ("pretrain", cmd_pretrain, PretrainConfig, "make the tiny base model of the embedded default")):
        sp = sub.add_parser(name, help=text, description=text, epilog=_defaults_help(cls),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
        sp.set_defaults(fn=fn)
    import importlib
    for module in EXTRA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from reasonrl.errors import UserError

    try:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as e:
        print(f"reasonrl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("reasonrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
