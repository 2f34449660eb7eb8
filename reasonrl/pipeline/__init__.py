"""`reasonrl pipeline CONFIG.yaml`: the R1 recipe as named stages, each feeding the next.

    stages: sft | rl | sample | distill | eval        (any number, any order, unique names)
    cold-start SFT -> reasoning RL -> rejection sampling -> SFT from the base -> RL again -> eval

A stage runs the same code as its command (`reasonrl sft|train|sample|distill|eval`) in
OUT/<name>/, with its config built from: the stage's `config` file (optional) < the pipeline's `set`
(only keys the stage's config has) < the stage's `set` < the wiring below.

    model:  "" = the previous stage's output model (the base before any), "base", a stage name, a path
    data:   (sft: JSONL for data.files; distill: trace files) stage names or paths;
            sft with no data = the latest sample/distill stage's traces
    sft/rl -> OUT/<name>/final        sample -> OUT/<name>/traces.jsonl
    distill: teacher = model -> OUT/<name>/sft/final (+ its traces)      eval: reasonrl.eval.runner

Before running anything every stage's config is loaded, so a typo fails at once. Each stage writes
OUT/<name>/inputs.json (model, data, overrides, upstream stages) before it starts and
OUT/<name>/stage.json when it ends; a re-run skips stages with a stage.json made from the same
inputs and resumes the unfinished one at its newest checkpoint (or sampling batch). After every
model-producing stage the pipeline evaluates the model on the task's held-out split (`table.*`, the
same settings for every row) and prints a table of held-out accuracy after each stage.

Departures from the paper: no non-reasoning SFT data and no preference reward in the last RL stage;
the language-consistency reward is used where the reward registry has it (see the configs).

CPU:   reasonrl pipeline configs/pipeline-tiny.yaml                  (a few minutes, embedded model)
       reasonrl pipeline configs/pipeline-tiny.yaml out=runs/p2 reason_rl.train.steps=10
GPUs:  reasonrl pipeline configs/pipeline-qwen2.5-1.5b.yaml          (edit the paths in it first)
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from reasonrl.config import ConfigError, load_config

STAGE_KEYS = ("name", "kind", "model", "data", "config", "set")
TOP_KEYS = ("out", "base", "threads", "set", "table", "stages")
TABLE_KEYS = {"size": 200, "max_new_tokens": 40, "temperature": 1.0, "sampled": True}


def _kinds() -> dict:
    from reasonrl.config import Config
    from reasonrl.eval.presets import EvalRunConfig
    from reasonrl.train.distill import DistillConfig
    from reasonrl.train.rejection import SampleConfig
    from reasonrl.train.sft import SFTConfig
    return {"sft": SFTConfig, "rl": Config, "sample": SampleConfig, "distill": DistillConfig, "eval": EvalRunConfig}


class StageIncomplete(Exception):
    """A stage ended without its product (stopped by a signal or its time budget); re-run to resume."""


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    model: str = ""
    data: tuple[str, ...] = ()
    config: str = ""
    set: tuple[str, ...] = ()
    where: str = ""                   # "file:line" of the stage, for messages


@dataclass(frozen=True)
class Pipeline:
    out: str
    base: str
    threads: int                      # torch CPU threads for every stage (0 = auto, docs/first-hour.md)
    set: tuple[str, ...]
    table: dict
    stages: tuple[Stage, ...]
    source: str


def _as_list(v, where: str, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) for x in v):
        raise ConfigError(f"{where}: key '{key}' must be a string or a list of strings")
    return tuple(str(x) for x in v)


def _stage(item, where: str, names: set, kinds: dict) -> Stage:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: a stage must be a mapping with keys {', '.join(STAGE_KEYS)}")
    unknown = [k for k in item if k not in STAGE_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown stage key '{unknown[0]}' (known: {', '.join(STAGE_KEYS)})")
    name, kind = str(item.get("name", "")), str(item.get("kind", ""))
    if not name or "." in name or "/" in name:
        raise ConfigError(f"{where}: stage key 'name' must be a non-empty name without '.' or '/', got '{name}'")
    if name in names or name == "base":
        raise ConfigError(f"{where}: stage name '{name}' is used twice (or is the reserved 'base')")
    if kind not in kinds:
        raise ConfigError(f"{where}: stage '{name}': unknown kind '{kind}' (choose from {', '.join(kinds)})")
    names.add(name)
    return Stage(name, kind, str(item.get("model") or ""), _as_list(item.get("data"), where, "data"),
                 str(item.get("config") or ""), _as_list(item.get("set"), where, "set"), where)


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> Pipeline:
    """Parse and check a pipeline file. overrides: `out=DIR`, `base=PATH`, `STAGE.key=value` or
    `STAGE.section.key=value` (appended to that stage's `set`)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"pipeline file '{p}' does not exist")
    try:
        text = p.read_text()
        root, data = yaml.compose(text), yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"pipeline file '{p}{f':{mark.line + 1}' if mark else ''}': not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"pipeline file '{p}': top level must be a mapping")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"{p}: unknown pipeline key '{unknown[0]}' (known: {', '.join(TOP_KEYS)})")
    stages_node = next((v for k, v in root.value if k.value == "stages"), None)
    items = data.get("stages") or []
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{p}: key 'stages' must be a non-empty list of stages")
    kinds, names = _kinds(), set()
    stages = [_stage(it, f"{p}:{node.start_mark.line + 1}", names, kinds)
              for it, node in zip(items, stages_node.value)]
    table = dict(TABLE_KEYS, **(data.get("table") or {}))
    if set(table) - set(TABLE_KEYS):
        raise ConfigError(f"{p}: unknown key 'table.{sorted(set(table) - set(TABLE_KEYS))[0]}' "
                          f"(known: {', '.join(TABLE_KEYS)})")
    top = {"out": str(data.get("out") or f"runs/{p.stem}"), "base": str(data.get("base") or "embedded")}
    for item in overrides or []:
        key, eq, value = item.partition("=")
        head, _dot, rest = key.partition(".")
        if eq and key in top:
            top[key] = value
        elif eq and head in names and rest:
            stages = [s if s.name != head else Stage(**{**s.__dict__, "set": s.set + (f"{rest}={value}",)})
                      for s in stages]
        else:
            raise ConfigError(f"override '{item}': expected out=DIR, base=PATH or STAGE.key=value "
                              f"(stages: {', '.join(s.name for s in stages)})")
    threads = data.get("threads", 0)
    if not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"{p}: key 'threads' must be an integer >= 0, got {threads!r}")
    return Pipeline(top["out"], top["base"], threads, _as_list(data.get("set"), str(p), "set"), table,
                    tuple(stages), str(p))


# ---------------------------------------------------------------- wiring: inputs and outputs of stages

def outputs(kind: str, d: Path) -> dict:
    """Where a finished stage of `kind` in directory `d` leaves its products."""
    return {"sft": {"model": d / "final"}, "rl": {"model": d / "final"}, "sample": {"traces": d / "traces.jsonl"},
            "distill": {"model": d / "sft" / "final", "traces": d / "traces" / "traces.jsonl"},
            "eval": {}}[kind]


def plan(pipe: Pipeline) -> list[dict]:
    """Resolve every stage's inputs and load its config (fails before anything runs).
    -> [{'stage', 'dir', 'inputs': {...}, 'cfg': the stage's config}]"""
    kinds, out = _kinds(), Path(pipe.out)
    made: dict[str, dict] = {}
    last_model, last_traces, steps = pipe.base, None, []
    for s in pipe.stages:
        d = out / s.name
        model = _ref(s.model, made, "model", s, pipe.base) if s.model else last_model
        data = [_ref(x, made, "traces", s, pipe.base) for x in s.data]
        if s.kind == "sft" and not data:
            if last_traces is None:
                raise ConfigError(f"{s.where}: stage '{s.name}' (sft) has no data and no sample stage before it")
            data = [last_traces]
        inputs = {"kind": s.kind, "model": model, "data": data, "config": s.config,
                  "set": list(_shared(pipe.set, kinds[s.kind])) + list(s.set),
                  "from": (["base"] if model == pipe.base else [])
                          + [n for n, o in made.items() if o.get("model") == model or o.get("traces") in data]}
        cfg = _load_stage_cfg(s, inputs, d, pipe, kinds[s.kind])
        steps.append({"stage": s, "dir": d, "inputs": inputs, "cfg": cfg})
        made[s.name] = {k: str(v) for k, v in outputs(s.kind, d).items()}
        last_model = made[s.name].get("model", last_model)
        last_traces = made[s.name].get("traces", last_traces)
    return steps


def _ref(ref: str, made: dict, what: str, s: Stage, base: str) -> str:
    if ref == "base":
        if what != "model":
            raise ConfigError(f"{s.where}: stage '{s.name}': 'base' is a model, not data")
        return base
    if ref in made:
        if what not in made[ref]:
            raise ConfigError(f"{s.where}: stage '{s.name}': stage '{ref}' produces no {what}")
        return made[ref][what]
    return ref                                          # a path


def _shared(overrides: tuple[str, ...], cls) -> tuple[str, ...]:
    """The pipeline-wide overrides that name a key of `cls` ('seed', 'model.template', ...)."""
    import dataclasses
    import typing

    def has(key: str) -> bool:
        head, _, rest = key.partition(".")
        f = {f.name: f for f in fields(cls)}.get(head)
        if f is None:
            return False
        tp = typing.get_type_hints(cls)[head]
        return not rest if not dataclasses.is_dataclass(tp) else bool(rest) and rest in {x.name for x in fields(tp)}
    return tuple(o for o in overrides if has(o.split("=", 1)[0].strip()))


def _wiring(kind: str, inputs: dict, d: Path) -> list[str]:
    files = json.dumps(inputs["data"])
    return {"sft": [f"out={d}", f"model.path={inputs['model']}", f"data.files={files}"],
            "rl": [f"out={d}", f"model.path={inputs['model']}"],
            "sample": [f"out={d}", f"model.path={inputs['model']}"],
            "distill": [f"out={d}", f"teacher.path={inputs['model']}"]
            + ([f"traces={files}"] if inputs["data"] else []),
            "eval": [f"out={d}", f"model={inputs['model']}"]}[kind]


def _load_stage_cfg(s: Stage, inputs: dict, d: Path, pipe: Pipeline, cls):
    cfg_file = None
    if s.config:
        cfg_file = Path(s.config) if Path(s.config).is_file() else Path(pipe.source).parent / s.config
    try:
        cfg = load_config(cfg_file, inputs["set"] + _wiring(s.kind, inputs, d), cls=cls)
    except ConfigError as e:
        raise ConfigError(f"{s.where}: stage '{s.name}': {e}") from None
    if s.kind == "eval" and not cfg.data:
        from dataclasses import replace
        cfg = replace(cfg, data=_table_task(pipe).name)
    return cfg


def _table_task(pipe: Pipeline):
    from reasonrl.train.sft import SFTConfig
    return load_config(None, [o for o in pipe.set if o.startswith("task.")], cls=SFTConfig).task


# ---------------------------------------------------------------- running

def _run_stage(kind: str, cfg, log) -> dict:
    """Run one stage's command code; -> a small JSON-able summary."""
    if kind == "sft":
        from reasonrl.train.sft import train
        r = train(cfg, log)
        return {"steps": r["steps"], "examples": r["examples"]}
    if kind == "rl":
        from reasonrl.train.rl import train
        return {"steps": train(cfg, log)["steps"]}
    if kind == "sample":
        from reasonrl.train.rejection import run_sample
        r = run_sample(cfg, log)
        return {k: r[k] for k in ("samples", "kept", "pass_rate", "dropped")}
    if kind == "distill":
        from reasonrl.train.distill import distill
        r = distill(cfg, log)
        return {"kept": sum(t["kept"] for t in r["traces"].values()), "steps": r["sft"]["steps"]}
    from reasonrl.eval.runner import run_eval
    res = run_eval(cfg, log)
    return {"pass@1": {name: r["metrics"]["pass@1"]["value"] for name, r in res.items()}}


def _model_settings(kind: str, cfg) -> tuple[str, bool]:
    """(template, prefill_think) the stage's model is used with."""
    if kind == "distill":
        return cfg.student.template, cfg.student.prefill_think
    return cfg.model.template, cfg.model.prefill_think


def heldout_row(model_dir: str, template: str, prefill: bool, pipe: Pipeline) -> dict:
    """Held-out metrics of one model with the pipeline's table settings (greedy and sampled)."""
    from reasonrl.eval.heldout import evaluate_heldout
    from reasonrl.models import load_model
    from reasonrl.rollout.hf import HFBackend
    from reasonrl.tasks import make_task
    from reasonrl.templates import Renderer

    t = pipe.table
    model, tok = load_model(model_dir)
    task = make_task(_table_task(pipe))
    return evaluate_heldout(HFBackend(model, tok), task, task.heldout()[:int(t["size"])],
                            max_new_tokens=int(t["max_new_tokens"]), temperature=float(t["temperature"]),
                            sampled=bool(t["sampled"]), render=Renderer(tok, template, prefill))


def run_pipeline(pipe: Pipeline, log=print) -> list[dict]:
    """Run (or resume) every stage; returns the table rows (also OUT/pipeline.json)."""
    from reasonrl.models import torch_threads

    with torch_threads(pipe.threads):
        return _run_all(pipe, plan(pipe), log)


def _run_all(pipe: Pipeline, steps: list[dict], log) -> list[dict]:
    out = Path(pipe.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.yaml").write_text(Path(pipe.source).read_text())
    rows = [_base_row(pipe, steps)]
    for i, st in enumerate(steps, 1):
        s, d, inputs = st["stage"], st["dir"], st["inputs"]
        done = d / "stage.json"
        if done.exists():
            record = json.loads(done.read_text())
            if record["inputs"] != inputs:
                raise ConfigError(f"{s.where}: stage '{s.name}' finished in {d} with other inputs; "
                                  f"remove {d} to run it again, or use a new out=DIR")
            log(f"== stage {i}/{len(steps)}: {s.name} ({s.kind}) finished earlier: skipped")
        else:
            log(f"== stage {i}/{len(steps)}: {s.name} ({s.kind}) model={inputs['model']} -> {d}")
            record = _run_one(st, pipe, log)
            done.write_text(json.dumps(record, indent=2) + "\n")
        rows.append(record)
    (out / "pipeline.json").write_text(json.dumps(rows, indent=2) + "\n")
    log("")
    log(format_table(rows, pipe))
    return rows


def _run_one(st: dict, pipe: Pipeline, log) -> dict:
    """Run one stage to its end (resuming it if it ran before), then evaluate its model.
    Stage time adds up over invocations in OUT/<name>/time.json."""
    s, d, inputs = st["stage"], st["dir"], st["inputs"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "inputs.json").write_text(json.dumps(inputs, indent=2) + "\n")
    clock = d / "time.json"
    spent = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
    t0 = time.time()
    try:
        summary = _run_stage(s.kind, st["cfg"], log)
    finally:
        spent += time.time() - t0
        clock.write_text(json.dumps({"seconds": round(spent, 1)}) + "\n")
    products = {k: str(v) for k, v in outputs(s.kind, d).items()}
    missing = [p for p in products.values() if not Path(p).exists()]
    if missing:
        raise StageIncomplete(f"stage '{s.name}' stopped before it finished ({missing[0]} was not written); "
                              f"re-run the same command to resume it")
    heldout = heldout_row(products["model"], *_model_settings(s.kind, st["cfg"]), pipe) if "model" in products else {}
    return {"name": s.name, "inputs": inputs, "outputs": products, "summary": summary, "heldout": heldout,
            "seconds": round(spent, 1)}


def _base_row(pipe: Pipeline, steps: list[dict]) -> dict:
    """The base model's held-out row (cached in OUT/base.json), evaluated with the first stage's template."""
    f = Path(pipe.out) / "base.json"
    if f.exists():
        return json.loads(f.read_text())
    first = next((st for st in steps if st["stage"].kind != "eval"), steps[0])
    settings = _model_settings(first["stage"].kind, first["cfg"]) if first["stage"].kind != "eval" else ("auto", False)
    row = {"name": "base", "inputs": {"kind": "-", "model": pipe.base}, "outputs": {"model": pipe.base},
           "summary": {}, "heldout": heldout_row(pipe.base, *settings, pipe), "seconds": 0.0}
    f.write_text(json.dumps(row, indent=2) + "\n")
    return row


def format_table(rows: list[dict], pipe: Pipeline) -> str:
    """Held-out accuracy after each stage (greedy and sampled), length, reasoning share, time."""
    t = pipe.table
    sampled = f"acc T={float(t['temperature']):g}"
    head = (f"{'stage':16s} {'kind':8s} {'acc greedy':>10s} {sampled:>10s} "
            f"{'len':>6s} {'worked':>7s} {'seconds':>8s}  notes")
    lines = [f"held-out accuracy after each stage ({t['size']} problems, same settings for every row)", head,
             "-" * len(head)]
    for r in rows:
        h, sm = r.get("heldout") or {}, r.get("summary") or {}

        def f(key, fmt="{:.1%}"):
            return fmt.format(h[key]) if h.get(key) is not None else "-"
        notes = (f"kept {sm['kept']} traces" if "kept" in sm else "") + \
                (f"; {sm['steps']} steps" if "steps" in sm else "") + \
                (f"pass@1 {', '.join(f'{v:.1%}' for v in sm['pass@1'].values())}" if "pass@1" in sm else "")
        lines.append(f"{r['name'][:16]:16s} {r['inputs']['kind']:8s} {f('acc/heldout'):>10s} "
                     f"{f('acc/heldout_sampled'):>10s} {f('len/heldout', '{:.1f}'):>6s} "
                     f"{f('worked/heldout_sampled', '{:.0%}'):>7s} {r['seconds']:8.0f}  {notes.lstrip('; ')}")
    lines.append(f"pipeline directory: {pipe.out}")
    return "\n".join(lines)
