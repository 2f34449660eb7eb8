"""`reasonrl check [CONFIG.yaml] [key=value ...]`: the pre-flight doctor. It takes the same config
and overrides as `reasonrl train`, loads everything, renders a few prompts, runs one small rollout
and the rewards, and stops at the first problem with a readable message:

  config    unknown keys, bad values, batch sizes that do not divide (and prints the batch table)
  model     the folder loads; EOS ids (tokenizer + generation_config.json) exist
  data      the task loads: every bad data row is listed as FILE:LINE: field 'NAME': problem
  template  the chat template is applied on a chat model, its markers are single tokens, prompt
            plus max_new_tokens fit the model's positions
  rollout   completions end with an EOS (never, even in a probe of max(4x budget, 64) tokens: "no EOS
            ever generated"; only in that probe: "truncation rate 100%")
  rewards   at least one group has reward variance (else GRPO's advantages are all zero)

Exit code 0 when every check passes (warnings allowed), 1 at the first failure.

CPU:  reasonrl check                                  # the embedded default, a few seconds
      reasonrl check my.yaml model.path=/models/Qwen2.5-0.5B-Instruct task.name=dataset task.path=train.jsonl
GPUs: reasonrl check my.yaml model.dtype=bfloat16 model.attn_implementation=sdpa   (same checks, on the GPU)
"""
from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, fields, replace

import torch

from reasonrl.config import Config, ConfigError, load_config, resolve
from reasonrl.errors import UserError

HELP = "pre-flight doctor: load everything, try one small rollout, fail fast with a readable message"
_MARKER = re.compile(r"<\|[^|<>\s]+\|>")      # chat-template markers such as <|im_start|>, <|eot_id|>


class _Stop(Exception):
    """Raised after a failing finding has been printed."""


@dataclass(frozen=True)
class Finding:
    stage: str
    status: str                       # ok | warn | fail
    message: str


@dataclass(frozen=True)
class _Unresolved(Config):
    """Config loaded without the cross-field checks, so the batch table can be shown even when they fail."""


def batch_rows(cfg: Config, prompt_tokens: int | None = None, world: int = 1) -> list[tuple[str, str]]:
    """The resolved batch table of one RL step as (label, value) rows."""
    b, g, t = cfg.train.prompts_per_step, cfg.rollout.num_generations, cfg.rollout.max_new_tokens
    n, mini, epochs, micro = b * g, cfg.algo.mini_batches, cfg.algo.epochs, cfg.train.micro_batch_size
    per_opt = n / mini
    passes = -(-int(per_opt) // micro) if per_opt == int(per_opt) else "-"
    p = "?" if prompt_tokens is None else str(prompt_tokens)
    tokens = f"{n} x ({p} + {t})" + ("" if prompt_tokens is None else f" = {n * (prompt_tokens + t):,}")
    return [("prompts per step (B)", str(b)), ("samples per prompt (G)", str(g)),
            ("sequences per step (N = B*G)", str(n)),
            ("optimizer steps per RL step", f"{mini} mini-batch(es) x {epochs} epoch(s) = {mini * epochs}"),
            ("sequences per optimizer step", f"{per_opt:g}"),
            ("micro-batch size", f"{micro} -> {passes} forward/backward pass(es) per optimizer step"),
            ("prompt tokens (longest rendered)", p), ("completion tokens (max_new_tokens)", str(t)),
            ("tokens per step (at most)", tokens), ("data-parallel ranks (WORLD_SIZE)", str(world))]


def format_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "resolved batch (one RL step):\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def check_batches(cfg: Config, world: int = 1) -> list[Finding]:
    """Batch sizes that must divide: N by mini_batches, B by data-parallel ranks; G >= 2 for group advantages."""
    b, g = cfg.train.prompts_per_step, cfg.rollout.num_generations
    n, mini, micro = b * g, cfg.algo.mini_batches, cfg.train.micro_batch_size
    out = []
    if n % mini:
        out.append(Finding("config", "fail", f"batch sizes do not divide: algo.mini_batches={mini} does not divide "
                           f"N = train.prompts_per_step x rollout.num_generations = {b} x {g} = {n}"))
    if b % world:
        out.append(Finding("config", "fail", f"batch sizes do not divide: train.prompts_per_step={b} does not "
                           f"divide over WORLD_SIZE={world} data-parallel ranks"))
    if g < 2 and cfg.algo.advantage != "batch_zscore":
        out.append(Finding("config", "fail", f"rollout.num_generations={g}: a group of one sample has zero "
                           f"reward variance, so every {cfg.algo.advantage} advantage is 0; use >= 2"))
    if not out and micro < n // mini and (n // mini) % micro:
        out.append(Finding("config", "warn", f"train.micro_batch_size={micro} does not divide the {n // mini} "
                           f"sequences of an optimizer step: the last micro-batch is smaller (same math)"))
    return out


def check_template(render, tok, prompt: str, embedded: bool) -> list[Finding]:
    """The template is applied (chat models get their chat template) and renders to the right tokens."""
    from reasonrl.rollout.hf import encode_prompts

    kind, text = render.resolved(), render(prompt)
    has_chat = bool(getattr(tok, "chat_template", None))
    if has_chat and kind == "raw":
        return [Finding("template", "fail", "template not applied: the tokenizer has a chat template (a chat/"
                        "instruct model) but model.template=raw sends the bare problem text; set "
                        "model.template=chat (or auto), or r1zero for R1-Zero-style training")]
    if kind == "chat" and (prompt not in text or text.strip() == prompt.strip()):
        return [Finding("template", "fail", "template not applied: the chat template's output does not wrap "
                        f"the prompt (rendered {text[:80]!r})")]
    ids = encode_prompts(tok, [text], "cpu")[0][0].tolist()
    split = [m for m in dict.fromkeys(_MARKER.findall(text))
             if tok.convert_tokens_to_ids(m) in (None, tok.unk_token_id) or tok.convert_tokens_to_ids(m) not in ids]
    if split:
        return [Finding("template", "fail", f"template not applied as tokens: {', '.join(split)} "
                        f"are not single tokens of this tokenizer, so the model sees them as plain text")]
    out = [Finding("template", "ok", f"{kind}{' (the tokenizer chat template)' if kind == 'chat' else ''}, "
                   f"prefill <think>: {'yes' if render.prefill_think else 'no'}, prompt 1 is {len(ids)} tokens")]
    if has_chat and kind == "r1zero":
        out.append(Finding("template", "warn", "r1zero plain-text template on a model that has a chat template"))
    if not has_chat and kind == "raw" and not embedded:
        out.append(Finding("template", "warn", "raw template on a base model: it sees only the problem text; "
                           "model.template=r1zero asks for <think>/<answer>"))
    if tok.bos_token_id is not None and ids[:2] == [tok.bos_token_id] * 2:
        out.append(Finding("template", "warn", f"the prompt starts with two BOS tokens ({tok.bos_token}): the chat "
                           f"template writes one and the tokenizer adds another"))
    return out


def check_stops(gen, eos: list[int], tok, budget: int, probe=None, probe_budget: int = 0) -> Finding:
    """EOS is generated; if never within `budget`, a longer probe tells 'too short' from 'never stops'."""
    n, trunc = len(gen.texts), int(gen.truncated.sum())
    lens = gen.completion_mask.sum(dim=1).float()
    if trunc < n:
        status = "warn" if trunc / n >= 0.5 else "ok"
        return Finding("rollout", status, f"{n - trunc}/{n} completions ended with EOS, truncated "
                       f"{trunc / n:.0%}, mean length {lens.mean():.1f} tokens")
    specials = set(getattr(tok, "all_special_ids", [])) | {tok.pad_token_id, tok.bos_token_id}
    specials |= {i for i, t in getattr(tok, "added_tokens_decoder", {}).items() if getattr(t, "special", False)}
    stray = sorted({i for i in gen.completion_ids.flatten().tolist() if i in specials and i not in eos})
    hint = (f"; the model writes {', '.join(f'{tok.convert_ids_to_tokens(i)} ({i})' for i in stray)}, which "
            f"is not an EOS id: add it to eos_token_id in generation_config.json") if stray else ""
    names = ", ".join(f"{tok.convert_ids_to_tokens(i)} ({i})" for i in eos)
    if probe is not None and not bool(probe.truncated.all()):
        plens = probe.completion_mask.sum(dim=1).float()[~probe.truncated]
        return Finding("rollout", "fail", f"truncation rate 100%: none of {n} completions ended within "
                       f"rollout.max_new_tokens={budget}, but with {probe_budget} tokens they end after "
                       f"{plens.mean():.0f} tokens on average; raise rollout.max_new_tokens{hint}")
    longest = max(budget, probe_budget)
    return Finding("rollout", "fail", f"no EOS ever generated: none of {n} completions of {budget} tokens"
                   f"{f' (nor a probe of {probe_budget})' if probe is not None else ''} wrote an EOS id "
                   f"({names}) within {longest} tokens; check eos_token_id in generation_config.json and the "
                   f"template (a chat model ends its turn with its own marker){hint}")


def check_rewards(rewards: torch.Tensor, comps: dict, statuses: dict, g: int,
                  reasons: dict | None = None) -> list[Finding]:
    """Some group has reward variance; no reward function fails on every sample. rewards: (N,);
    reasons: {name: why the first failing call failed}, when known."""
    out = []
    for name, st in statuses.items():
        if st and all(s == "error" for s in st):
            why = f" ({(reasons or {}).get(name)})" if (reasons or {}).get(name) else ""
            out.append(Finding("rewards", "fail", f"reward '{name}' raised an error on every completion{why}"))
    if out:
        return out
    r = rewards.view(-1, g)
    varied = int((~(r == r[:, :1]).all(dim=1)).sum())
    means = ", ".join(f"{k} {torch.nan_to_num(v, nan=0.0).mean():.2f}" for k, v in comps.items())
    counts = "; ".join(f"{k}: " + ", ".join(f"{s} {c}" for s, c in Counter(v).most_common())
                       for k, v in statuses.items())
    if varied == 0:
        vals = sorted({round(x, 4) for x in rewards.tolist()})
        return [Finding("rewards", "fail", f"every group has zero reward variance: all {r.shape[0]} groups of {g} "
                        f"scored alike (rewards {vals[:4]}), so every advantage is 0 and GRPO learns nothing "
                        f"({counts}); make the prompt ask for the answer format, pick easier problems, or check "
                        f"task.verifier against the gold answers")]
    return [Finding("rewards", "ok", f"{varied}/{r.shape[0]} groups have reward variance; mean {means} ({counts})")]


class Report:
    """Prints findings as they come; a failing finding stops the check."""

    def __init__(self, say=print):
        self.say = say
        self.findings: list[Finding] = []

    def add(self, *found: Finding) -> None:
        for f in found:
            self.findings.append(f)
            self.say(f"[{f.status.upper():4s}] {f.stage:8s} {f.message}")
        if any(f.status == "fail" for f in found):
            raise _Stop


def load_checked(config: str | None, overrides: list[str], report: Report, world: int) -> Config:
    """Load the config, print the batch table, and run the batch and cross-field checks."""
    from reasonrl.algo.presets import resolve_algo

    try:
        raw = load_config(config, overrides, cls=_Unresolved)
        cfg = Config(**{f.name: getattr(raw, f.name) for f in fields(Config)})
        cfg = replace(cfg, algo=resolve_algo(cfg.algo))
    except UserError as e:
        report.add(Finding("config", "fail", str(e)))
    found = check_batches(cfg, world)
    if any(f.status == "fail" for f in found):
        report.say(format_table(batch_rows(cfg, None, world)))
    report.add(*found)
    try:
        cfg = resolve(cfg)
    except ConfigError as e:
        report.add(Finding("config", "fail", str(e)))
    given = (config or "built-in defaults") + (" + " + " ".join(overrides) if overrides else "")
    report.add(Finding("config", "ok", f"{given}; task {cfg.task.name}, "
                       f"rewards {', '.join(cfg.reward.functions)}"))
    return cfg


def stage_model(cfg: Config, report: Report):
    from reasonrl.models import eos_ids, load_model, n_params

    m = cfg.model
    try:
        model, tok = load_model(m.path, m.dtype, m.device, m.attn_implementation)
    except (UserError, OSError, ValueError) as e:
        report.add(Finding("model", "fail", f"model.path={m.path}: {str(e).splitlines()[0]}"))
    eos = eos_ids(model, tok)
    if not eos:
        report.add(Finding("model", "fail", "no EOS id: neither the tokenizer nor generation_config.json names an "
                           "eos token, so no completion can ever end"))
    names = ", ".join(f"{tok.convert_ids_to_tokens(i)} ({i})" for i in eos)
    report.add(Finding("model", "ok", f"{m.path}: {type(model).__name__}, {n_params(model):,} params, "
                       f"{m.dtype} on {next(model.parameters()).device}; EOS {names}; "
                       f"chat template: {'yes' if getattr(tok, 'chat_template', None) else 'no'}"))
    return model, tok, eos


def stage_data(cfg: Config, tok, render, report: Report, k: int):
    """Load the task (bad rows listed), render k training prompts, check the template and lengths."""
    from reasonrl.models import EMBEDDED
    from reasonrl.tasks import make_task
    from reasonrl.rollout import prompt_token_counter
    from reasonrl.tasks.dataset import DatasetTask

    count = prompt_token_counter(tok, render)
    try:
        task = make_task(cfg.task, prompt_len=count, log=lambda line: report.say(f"         {line}"))
        samples = task.train_batch(cfg.seed, 1, k)
    except UserError as e:
        report.add(Finding("data", "fail", str(e)))
    size = f"{len(task.mix)} training rows, " if isinstance(task, DatasetTask) else ""
    report.add(Finding("data", "ok", f"task {cfg.task.name}: {size}{len(task.heldout())} held-out problems"))
    for i, s in enumerate(samples[:2]):
        report.say(f"         prompt {i + 1}: {render(s.prompt)[:240]!r}  (gold {s.answer[:40]!r})")
    report.add(*check_template(render, tok, samples[0].prompt, cfg.model.path in EMBEDDED))
    return task, samples, max(count(s.prompt) for s in samples)


def stage_rollout(cfg: Config, model, tok, eos, render, samples, longest: int, report: Report):
    from reasonrl.rollout import make_backend

    r = cfg.rollout
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos and longest + r.max_new_tokens > max_pos:
        report.add(Finding("rollout", "fail", f"prompt ({longest} tokens) + rollout.max_new_tokens "
                           f"({r.max_new_tokens}) exceeds the model's max_position_embeddings ({max_pos})"))
    backend = make_backend(r.backend, model, tok, r)
    prompts = [render(s.prompt) for s in samples]
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    gen = backend.generate(prompts, n=r.num_generations, temperature=r.temperature, top_p=r.top_p,
                           top_k=r.top_k, max_new_tokens=r.max_new_tokens)
    report.say(f"         {len(prompts)} prompts x {r.num_generations} samples in {time.time() - t0:.1f}s; "
               f"completion 1: {gen.texts[0][:160]!r}")
    probe, budget = None, 0
    if bool(gen.truncated.all()):
        budget = min(max(4 * r.max_new_tokens, 64), (max_pos or 10**9) - longest)
        if budget > r.max_new_tokens:
            probe = backend.generate(prompts[:2], n=2, temperature=r.temperature, top_p=r.top_p, top_k=r.top_k,
                                     max_new_tokens=budget)
    report.add(check_stops(gen, eos, tok, r.max_new_tokens, probe, budget))
    return gen


def stage_rewards(cfg: Config, gen, render, samples, report: Report) -> None:
    from reasonrl.verifiers.compose import RewardFn

    g = cfg.rollout.num_generations
    try:
        reward_fn = RewardFn(cfg.reward.functions, cfg.reward.weights, settings=cfg.verify)
    except UserError as e:
        report.add(Finding("rewards", "fail", str(e)))
    per_seq = [s for s in samples for _ in range(g)]
    rewards, comps, statuses = reward_fn([render.prefill + t for t in gen.texts], per_seq, step=1,
                                         truncated=gen.truncated.tolist())
    verdicts = getattr(reward_fn, "last_verdicts", None) or {}
    reasons = {k: next((v.reason for v in vs if v.status == "error"), "") for k, vs in verdicts.items()}
    report.add(*check_rewards(rewards, comps, statuses, g, reasons))


def run_check(config: str | None, overrides: list[str], *, prompts: int = 4, say=print) -> int:
    """All stages in order; returns the exit code (0 = passed, 1 = a check failed)."""
    from reasonrl.templates import Renderer

    report = Report(say)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    threads = torch.get_num_threads()
    try:
        cfg = load_checked(config, overrides, report, world)
        if cfg.train.threads:                      # as `reasonrl train` does (restored below)
            torch.set_num_threads(cfg.train.threads)
        model, tok, eos = stage_model(cfg, report)
        render = Renderer(tok, cfg.model.template, cfg.model.prefill_think)
        _task, samples, longest = stage_data(cfg, tok, render, report, max(1, prompts))
        say(format_table(batch_rows(cfg, longest, world)))
        gen = stage_rollout(cfg, model, tok, eos, render, samples, longest, report)
        stage_rewards(cfg, gen, render, samples, report)
    except _Stop:
        say("reasonrl check: FAILED - fix the problem above before `reasonrl train`")
        return 1
    finally:
        torch.set_num_threads(threads)
    warns = sum(f.status == "warn" for f in report.findings)
    say(f"reasonrl check: passed{f' with {warns} warning(s)' if warns else ''}")
    return 0


def cmd_check(args) -> int:
    from reasonrl.config import split_args

    items, prompts = list(args.items), args.prompts
    if "--prompts" in items:                      # also accepted after the config and overrides
        i = items.index("--prompts")
        if i + 1 >= len(items) or not items[i + 1].isdigit():
            raise ConfigError("--prompts needs a whole number, e.g. --prompts 2")
        prompts = int(items.pop(i + 1))
        items.pop(i)
    config, overrides = split_args(items)
    return run_check(config, overrides, prompts=prompts)


def add_parser(subparsers) -> None:
    from reasonrl.config import defaults_help

    sp = subparsers.add_parser("check", help=HELP, description=HELP, epilog=defaults_help(Config),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("items", nargs=argparse.REMAINDER, metavar="[CONFIG.yaml] [key=value ...]",
                    help="the same config and overrides as `reasonrl train`")
    sp.add_argument("--prompts", type=int, default=4, metavar="K",
                    help="training prompts in the trial rollout, each sampled G times (default: 4)")
    sp.set_defaults(fn=cmd_check)
