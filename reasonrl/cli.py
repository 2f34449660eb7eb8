"""`reasonrl <command>`: each command is a thin call into the package; COMMANDS is the one table of them.

    reasonrl train    [CONFIG.yaml] [key=value ...]   RL (GRPO family); no CONFIG = the embedded tiny default
    reasonrl --help | --version | <command> --help

The error boundary is `main`: no exception escapes a command as a traceback. Bad input (unknown
config key, wrong type, missing model folder, a run directory made by another config: any UserError)
ends with one line `reasonrl: error: ...` and exit code 2; any other failure with one line naming the
command and the error, and exit code 1. `--debug` (anywhere on the line) or REASONRL_DEBUG=1 lets
the traceback through instead. Nothing in the package imports this module.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

# name -> "module:function"; function(subparsers) adds `reasonrl NAME` and sets fn (args -> exit code)
# with set_defaults(fn=...). The order is the order of `reasonrl --help`.
COMMANDS: dict[str, str] = {
    "train": "reasonrl.train.commands:add_train",
    "check": "reasonrl.train.check:add_parser",
    "pretrain": "reasonrl.train.commands:add_pretrain",
    "sft": "reasonrl.train.commands:add_sft",
    "sample": "reasonrl.train.commands:add_sample",
    "distill": "reasonrl.train.commands:add_distill",
    "pipeline": "reasonrl.pipeline.cli:add_parser",
    "eval": "reasonrl.eval.cli:add_parser",
    "verify": "reasonrl.verifiers.cli:add_parser",
    "report": "reasonrl.report.cli:add_parser",
    "serve": "reasonrl.serve.command:add_parser",
    "chat": "reasonrl.serve.chat:add_parser",
}


def _adder(spec: str):
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def build_parser() -> argparse.ArgumentParser:
    from reasonrl import __version__

    p = argparse.ArgumentParser(prog="reasonrl", description="Train reasoning into language models with RL "
                                "from verifiable rewards.")
    p.add_argument("--version", action="version", version=f"reasonrl {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error "
                   "(also REASONRL_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True)
    for spec in COMMANDS.values():
        _adder(spec)(sub)
    for sp in sub.choices.values():      # quiet by default: the resolved config is saved, not printed
        sp.add_argument("-v", "--verbose", action="store_true", help="print the full resolved config and "
                        "a progress line for every step")
    return p


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("REASONRL_DEBUG", "") not in ("", "0") or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    _quiet_libraries()
    from reasonrl.errors import UserError

    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ["REASONRL_VERBOSE"] = "1"
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("reasonrl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as e:
        if debug:
            raise
        if os.environ.get("RANK", "0") == "0":      # under torchrun every rank fails alike: say it once
            print(f"reasonrl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - the boundary: one line, the traceback only when asked
        if debug:
            raise
        what = str(e).splitlines()[0] if str(e) else ""
        print(f"reasonrl: error: `reasonrl {args.command}` failed: {type(e).__name__}"
              f"{': ' + what if what else ''} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
