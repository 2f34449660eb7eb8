"""`reasonrl pipeline CONFIG.yaml [out=DIR] [STAGE.key=value ...]`: named stages, resumable (reasonrl.pipeline)."""
from __future__ import annotations

import argparse

HELP = "the R1 recipe as named stages (sft, rl, sample, distill, eval); re-running resumes"

EPILOG = """pipeline file keys (key=default):
  out=runs/<file name>      pipeline directory; stage NAME runs in OUT/NAME
  base=embedded             the model stages with `model: base` (and the first stage) start from
  threads=0                 torch CPU threads for every stage (0 = auto, docs/first-hour.md)
  set=[]                    key=value overrides for every stage whose config has the key (e.g. task.name=walk)
  table.size=200            held-out problems evaluated after each model-producing stage
  table.max_new_tokens=40
  table.temperature=1.0     the sampled column's temperature (the other column is greedy)
  table.sampled=True
  stages=[...]              each: name, kind (sft|rl|sample|distill|eval), model, data, config, set
    model=""                "" = previous stage's model; base; a stage name; a path
    data=[]                 sft: JSONL files / sample stages (default: the latest sample stage);
                            distill: trace files / sample stages
    config=""               YAML file of the stage's command (reasonrl sft|train|sample|distill|eval --help)
    set=[]                  key=value overrides of that config
command-line overrides: out=DIR, base=PATH, STAGE.key=value (e.g. reason_rl.train.steps=10)"""


def cmd_pipeline(args) -> int:
    """0 when every stage finished; 75 (as `reasonrl train`) when a stage stopped early with a
    checkpoint (signal or time budget): re-run the same command to resume it."""
    import sys

    from reasonrl.pipeline import StageIncomplete, load_pipeline, run_pipeline
    from reasonrl.train.guards import EXIT_STOPPED

    try:
        run_pipeline(load_pipeline(args.config, args.overrides))
    except StageIncomplete as e:
        print(f"reasonrl: {e}", file=sys.stderr)
        return EXIT_STOPPED
    return 0


def add_parser(subparsers) -> None:
    sp = subparsers.add_parser("pipeline", help=HELP, description=HELP, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("config", metavar="CONFIG.yaml")
    sp.add_argument("overrides", nargs="*", metavar="key=value")
    sp.set_defaults(fn=cmd_pipeline)
