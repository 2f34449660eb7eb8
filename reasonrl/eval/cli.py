"""`reasonrl eval --model DIR --data FILE|NAME [--preset r1|quick|greedy] [key=value ...]`

Evaluates a local Hugging Face model on benchmark files the way the R1 paper does (see
reasonrl.eval.runner for the pipeline and reasonrl.eval.presets for the protocol and how a run
departs from it). `--data` takes a JSONL or Parquet file, a benchmark name under the data root
(math500, aime24, gsm8k, humaneval, ...), a task name (walk), or several, comma-separated.

CPU:   reasonrl eval --model embedded --data walk --preset quick limit=50
GPUs:  reasonrl eval --model /models/R1-Distill-Qwen-7B --data math500,aime24 --preset r1 template=chat \\
           prefill_think=true dtype=bfloat16 attn_implementation=sdpa batch_size=256
Server: reasonrl eval --endpoint http://127.0.0.1:8000/v1 --data aime24 --preset r1 concurrency=32
Audits: reasonrl eval --refusals --endpoint URL_A,URL_B            (per-topic refusal rates, side by side)
        reasonrl eval --thinking --model DIR_A,DIR_B --data walk     (accuracy vs share of the reasoning)
"""
from __future__ import annotations

import argparse

HELP = "evaluate a model: pass@1 over k samples, unbiased pass@k, maj@k (cons@k), truncation"


def cmd_eval(args) -> int:
    from dataclasses import replace

    from reasonrl.config import ConfigError, load_config
    from reasonrl.eval.presets import EvalRunConfig
    from reasonrl.eval.runner import run_eval

    bad = [it for it in args.items if "=" not in it]
    if bad:
        raise ConfigError(f"unexpected argument '{bad[0]}' (settings are key=value; see reasonrl eval --help)")
    cfg = load_config(None, args.items, cls=EvalRunConfig)
    flags = {k: v for k, v in (("model", args.model), ("data", args.data), ("preset", args.preset),
                               ("endpoint", args.endpoint)) if v is not None}
    cfg = replace(cfg, **flags)
    if args.refusals or args.thinking:
        if args.refusals and args.thinking:
            raise ConfigError("--refusals and --thinking are separate audits: run one at a time")
        models = [m.strip() for m in cfg.model.split(",") if m.strip()]
        models = models if args.model is not None or not cfg.endpoint else []
        if args.refusals:
            from reasonrl.eval.refusal import run_refusal_audit

            run_refusal_audit(cfg, models)
        else:
            from reasonrl.eval.thinking import run_thinking_probe

            run_thinking_probe(cfg, models)
        return 0
    if "," in cfg.model or "," in cfg.endpoint:
        raise ConfigError("several models (comma-separated --model/--endpoint) are compared by --refusals and "
                          "--thinking; evaluate one at a time")
    run_eval(cfg)
    return 0


def _epilog() -> str:
    from reasonrl.config import defaults_help
    from reasonrl.eval.benchmarks import BENCHMARKS
    from reasonrl.eval.presets import PRESETS, EvalRunConfig
    from reasonrl.tasks import TASKS

    presets = "\n".join(f"  {name}: T={p.temperature} top-p={p.top_p} max_new_tokens={p.max_new_tokens} "
                        f"k={p.k or 'per benchmark'}{' greedy' if p.greedy else ''}" for name, p in PRESETS.items())
    generators = ", ".join(t for t in TASKS if t != "dataset")   # `dataset` reads a file: --data FILE
    return (f"presets:\n{presets}\nbenchmark names: {', '.join(BENCHMARKS)}; task names: {generators}; "
            f"or a data file: --data FILE.jsonl\n"
            + defaults_help(EvalRunConfig))


def add_parser(subparsers) -> None:
    sp = subparsers.add_parser("eval", help=HELP, description=HELP, epilog=_epilog(),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("--model", default=None, metavar="DIR",
                    help="local HF model folder, 'embedded' or 'embedded-moe' (default: model= setting, 'embedded')")
    sp.add_argument("--data", default=None, metavar="FILE|NAME",
                    help="JSONL/Parquet file, benchmark or task name; comma-separated for several (required)")
    sp.add_argument("--endpoint", default=None, metavar="URL",
                    help="an OpenAI-compatible server instead of a local model (api=chat|completions; "
                         "key from $REASONRL_API_KEY or $OPENAI_API_KEY)")
    sp.add_argument("--preset", default=None, choices=["r1", "quick", "greedy"],
                    help="evaluation protocol (default: r1, the paper's)")
    sp.add_argument("--refusals", action="store_true",
                    help="refusal audit per topic (reasonrl.eval.refusal); --data: a prompt file (default: "
                         "the shipped set); several models side by side")
    sp.add_argument("--thinking", action="store_true",
                    help="thinking probe (reasonrl.eval.thinking): accuracy when the reasoning is cut at "
                         "fractions=0,0.25,0.5,0.75,1 and the answer forced")
    sp.add_argument("items", nargs="*", metavar="key=value", help="settings listed below")
    sp.set_defaults(fn=cmd_eval)
