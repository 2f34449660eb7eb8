"""`reasonrl sample`: rejection sampling. k completions per problem from a checkpoint; keep only the
verified-correct, readable ones; write JSONL that `reasonrl sft` reads as is.

    problems (the task's training split) -> k samples each (HFBackend, the training Renderer)
    -> judge: runaway length, missing tags, verifier status, empty reasoning (optional),
       repetition, language mixing -> dedupe -> shortest per problem (optional) -> traces.jsonl

A completion is dropped for the FIRST check it fails, in the order above, and summary.json counts
the drops per reason. Problems are processed in batches (`sample.batch_prompts`); each batch's
judged samples are written atomically to parts/batch-NNNNN.jsonl and its sampling is seeded by
(seed, batch), so a killed run resumes at the next batch and gives the same result.

Departures from the paper (R1 v2 B.3-B.4): no generative-RM judge (only rule verifiers), no
non-reasoning data mix, and no human or DeepSeek-V3 rewrite of the kept traces. Readability is
judged by rules: a span repeated back-to-back, and the share of words outside the target language's
script (reasonrl.verifiers.language, the paper's language-consistency measure).

CPU:   reasonrl sample model.path=runs/tiny-walk/final prompts.count=384 sample.k=4 out=runs/sample
GPUs:  reasonrl sample my.yaml model.path=/ckpt/rl/final model.dtype=bfloat16 sample.k=16 \\
           sample.max_new_tokens=16384 sample.batch_prompts=64 task.name=dataset task.path=[train.jsonl]
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from reasonrl.config import (ConfigError, FilterConfig, PromptsConfig, SampleConfig, SamplingConfig,  # noqa: F401
                             summary_line)
from reasonrl.errors import UserError
from reasonrl.types import Sample
from reasonrl.verifiers import format_reward
from reasonrl.verifiers.language import LANGUAGES, language_share

REASONS = ("runaway_length", "missing_tags", "wrong", "unparseable", "not_applicable", "timeout", "error",
           "no_reasoning", "repetition", "language_mixing", "duplicate", "not_shortest", "over_cap")


# ---------------------------------------------------------------- readability checks (pure functions)

def longest_repeat(text: str, max_unit: int = 64) -> tuple[int, int]:
    """Longest span made of one unit repeated back-to-back: -> (covered chars, copies), maximizing
    covered chars over unit lengths 1..max_unit. 'abcabcabcx' -> (9, 3)."""
    arr = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    best = (0, 0)
    for unit in range(1, min(max_unit, len(arr) // 2) + 1):
        eq = np.concatenate([[0], (arr[unit:] == arr[:-unit]).astype(np.int8), [0]])
        starts, ends = np.flatnonzero(np.diff(eq) == 1), np.flatnonzero(np.diff(eq) == -1)
        if len(starts) == 0:
            continue
        run = int((ends - starts).max())                  # chars that equal the char `unit` earlier
        covered = run + unit
        copies = covered // unit
        if copies >= 2 and covered > best[0]:
            best = (covered, copies)
    return best


def is_repetitive(text: str, min_chars: int, min_copies: int = 3) -> bool:
    covered, copies = longest_repeat(text)
    return min_chars > 0 and covered >= min_chars and copies >= min_copies


_TAGS = re.compile(r"</?(?:think|answer)>")


def _think(completion: str) -> str | None:
    start, end = completion.find("<think>"), completion.find("</think>")
    return completion[start + len("<think>"):end] if 0 <= start < end else None


def judge(completion: str, sample: Sample, *, status: str, truncated: bool, n_tokens: int,
          fcfg: FilterConfig) -> str | None:
    """The first reason to drop one completion, or None to keep it (order: REASONS). `status` is
    the answer verifier's verdict status for this completion."""
    if truncated or (fcfg.max_tokens and n_tokens > fcfg.max_tokens):
        return "runaway_length"
    if fcfg.require_tags and format_reward(completion, sample).score != 1.0:
        return "missing_tags"
    if status != "correct":
        return status if status in REASONS else "wrong"
    if fcfg.require_reasoning and not (_think(completion) or "").strip():
        return "no_reasoning"
    if is_repetitive(completion, fcfg.repeat_chars):
        return "repetition"
    share = language_share(_TAGS.sub(" ", completion), fcfg.language) if fcfg.language else None
    if share is not None and share < fcfg.min_language_share:
        return "language_mixing"
    return None


def select(rows: list[dict], fcfg: FilterConfig) -> list[dict]:
    """Dedupe, keep the shortest per problem, cap per problem; marks dropped rows' 'reason' in place
    and returns the kept rows (in input order). Rows: {'prompt', 'completion', 'tokens', 'reason'}."""
    seen: set[tuple[str, str]] = set()
    by_prompt: dict[str, list[dict]] = {}
    for r in rows:
        if r["reason"] is not None:
            continue
        key = (r["prompt"], r["completion"].strip())
        if fcfg.dedupe and key in seen:
            r["reason"] = "duplicate"
            continue
        seen.add(key)
        by_prompt.setdefault(r["prompt"], []).append(r)
    for group in by_prompt.values():
        ranked = sorted(group, key=lambda r: (r["tokens"], len(r["completion"]))) if fcfg.keep == "shortest" else group
        cap = 1 if fcfg.keep == "shortest" else fcfg.max_per_prompt or len(group)
        for i, r in enumerate(ranked):
            if i >= cap:
                r["reason"] = "not_shortest" if fcfg.keep == "shortest" else "over_cap"
    return [r for r in rows if r["reason"] is None]


def summarize(rows: list[dict], kept: list[dict]) -> dict:
    """Counts: samples, kept, problems, problems with a kept sample, verified pass rate, drops by reason."""
    dropped = Counter(r["reason"] for r in rows if r["reason"] is not None)
    passed = sum(r.get("status") == "correct" for r in rows)
    return {"samples": len(rows), "kept": len(kept), "problems": len({r["prompt"] for r in rows}),
            "problems_with_kept": len({r["prompt"] for r in kept}),
            "verified_correct": passed, "pass_rate": passed / max(len(rows), 1),
            "dropped": {k: dropped[k] for k in REASONS if dropped[k]}}


def trace_row(r: dict) -> dict:
    """The JSONL row `reasonrl sft` reads (prompt/completion), plus the gold answer for re-verification."""
    return {"prompt": r["prompt"], "completion": r["completion"], "answer": r["answer"],
            "verifier": r["verifier"], "tokens": r["tokens"]}


# ---------------------------------------------------------------- the sampling run

def _write_jsonl(path: Path, rows) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def sample_batch(backend, render, samples: list[Sample], cfg: SampleConfig) -> list[dict]:
    """k completions per problem, each judged: -> one row per completion (reason None = passed)."""
    s = cfg.sample
    gen = backend.generate([render(x.prompt) for x in samples], n=s.k, temperature=s.temperature,
                           top_p=s.top_p, top_k=s.top_k, max_new_tokens=s.max_new_tokens)
    lens = gen.completion_mask.sum(dim=1).tolist()
    per_seq = [x for x in samples for _ in range(s.k)]
    completions = [render.prefill + t for t in gen.texts]
    return judged_rows(per_seq, completions, [int(n) for n in lens], gen.truncated.tolist(), cfg.filter)


def judged_rows(samples: list[Sample], completions: list[str], tokens: list[int], truncated: list[bool],
                fcfg: FilterConfig) -> list[dict]:
    """Verify (as a batch: pooled verifiers run in parallel) and judge each completion -> rows."""
    from reasonrl.eval.runner import verify_all

    statuses = [v.status for v in verify_all(completions, samples)]
    return [{"prompt": x.prompt, "answer": x.answer, "verifier": x.verifier, "completion": c, "tokens": n,
             "truncated": bool(t), "status": st,
             "reason": judge(c, x, status=st, truncated=bool(t), n_tokens=n, fcfg=fcfg)}
            for x, c, n, t, st in zip(samples, completions, tokens, truncated, statuses)]


def check(cfg: SampleConfig) -> None:
    if cfg.filter.keep not in ("all", "shortest"):
        raise ConfigError(f"config key 'filter.keep': expected all or shortest, got '{cfg.filter.keep}'")
    if cfg.filter.language and cfg.filter.language not in LANGUAGES:
        raise ConfigError(f"config key 'filter.language': unknown language '{cfg.filter.language}' "
                          f"(choose from {', '.join(LANGUAGES)}, or '' for off)")
    for key, v in (("sample.k", cfg.sample.k), ("sample.batch_prompts", cfg.sample.batch_prompts),
                   ("prompts.count", cfg.prompts.count), ("sample.max_new_tokens", cfg.sample.max_new_tokens)):
        if v < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {v}")


def run_sample(cfg: SampleConfig, log=print) -> dict:
    """Sample, judge and select; writes OUT/{config.yaml, parts/, traces.jsonl, rejected.jsonl,
    summary.json} and returns the summary (with 'traces': the JSONL path)."""
    from reasonrl.models import load_model, resolve_model_path
    from reasonrl.rollout.hf import HFBackend
    from reasonrl.tasks import make_task
    from reasonrl.rollout import prompt_token_counter
    from reasonrl.templates import Renderer
    from reasonrl.train.rundir import check_or_write_config

    check(cfg)
    resolve_model_path(cfg.model.path)
    out = Path(cfg.out)
    check_or_write_config(cfg, out)
    parts = out / "parts"
    parts.mkdir(exist_ok=True)
    m = cfg.model
    model, tok = load_model(m.path, m.dtype, m.device, m.attn_implementation)
    render, backend = Renderer(tok, m.template, m.prefill_think), HFBackend(model, tok)
    task = make_task(cfg.task, prompt_len=prompt_token_counter(tok, render), log=log)
    log(summary_line(cfg, out / "config.yaml"))
    bp = cfg.sample.batch_prompts
    n_batches = -(-cfg.prompts.count // bp)
    for b in range(n_batches):
        part = parts / f"batch-{b:05d}.jsonl"
        if part.exists():
            continue
        n = min(bp, cfg.prompts.count - b * bp)
        torch.manual_seed(cfg.seed * 1_000_003 + b)
        rows = sample_batch(backend, render, task.train_batch(cfg.prompts.seed, b, n), cfg)
        _write_jsonl(part, rows)
        log(f"batch {b + 1}/{n_batches}: {sum(r['reason'] is None for r in rows)}/{len(rows)} pass the checks")
    rows = [r for b in range(n_batches) for r in read_jsonl(parts / f"batch-{b:05d}.jsonl")]
    return finish(out, rows, cfg.filter, cfg.log_rejected, log)


def finish(out: Path, rows: list[dict], fcfg: FilterConfig, log_rejected: int, log=print) -> dict:
    """Select, write traces.jsonl / rejected.jsonl / summary.json, print the summary."""
    kept = select(rows, fcfg)
    if not kept:
        log("warning: no completion passed the checks; traces.jsonl is empty")
    _write_jsonl(out / "traces.jsonl", [trace_row(r) for r in kept])
    _write_jsonl(out / "rejected.jsonl", [r for r in rows if r["reason"] is not None][:log_rejected])
    summary = {**summarize(rows, kept), "traces": str(out / "traces.jsonl")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(format_summary(summary))
    return summary


def filter_files(files, out: Path, fcfg: FilterConfig, log_rejected: int = 200, log=print) -> dict:
    """Re-judge existing trace files (rows with prompt, completion, answer[, verifier, tokens,
    truncated]) with the same checks; writes the same outputs as run_sample."""
    from reasonrl.train.sft import read_rows

    raw = []
    for where, r in read_rows(files):
        missing = [k for k in ("prompt", "completion", "answer") if not isinstance(r.get(k), (str, int, float))]
        if missing:
            raise UserError(f"{where}: field '{missing[0]}' is missing (trace rows need prompt, completion, answer)")
        raw.append(r)
    samples = [Sample(str(r["prompt"]), str(r["answer"]), r.get("verifier", "exact")) for r in raw]
    completions = [str(r["completion"]) for r in raw]
    rows = judged_rows(samples, completions, [int(r.get("tokens", 0)) or len(c) for r, c in zip(raw, completions)],
                       [bool(r.get("truncated", False)) for r in raw], fcfg)
    out.mkdir(parents=True, exist_ok=True)
    return finish(out, rows, fcfg, log_rejected, log)


def format_summary(s: dict) -> str:
    lines = [f"rejection sampling: kept {s['kept']} of {s['samples']} samples "
             f"({s['problems_with_kept']} of {s['problems']} problems have one); "
             f"verifier pass rate {s['pass_rate']:.1%}"]
    lines += [f"  dropped {n:6d}  {reason}" for reason, n in s["dropped"].items()]
    return "\n".join(lines)
