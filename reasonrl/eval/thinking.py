"""Thinking probe: does the reasoning buy accuracy? `reasonrl eval --thinking --data walk --model A[,B]`.

For each problem and sample: generate a full completion; where it holds a closed think block, cut the
reasoning at each fraction f of its length (characters, moved back to the last space, comma or line
break), close it with "</think>", let the model write the answer (greedy, answer_tokens new tokens)
and grade it. f = 0 forces an immediate answer, f = 1 re-answers after the whole reasoning.

    accuracy vs fraction   over the samples with a closed think block, with 95% Wilson intervals;
                           'full' is the unforced completions' accuracy (all samples)
    reflective steps       reasonrl.report.telemetry's reading: the answer held before the first reflection
                           marker ("wait", "check", ...) against the final one -- answers changed,
                           fixes (wrong -> right) and breaks (right -> wrong) among the readable ones

Local models, or an endpoint with api=completions (a chat API cannot continue a cut reasoning).
Saved: OUT/eval/thinking.json and OUT/eval/thinking-<n>.jsonl (every forced answer).
"""
from __future__ import annotations

import json
from pathlib import Path

from reasonrl.config import ConfigError
from reasonrl.eval.heldout import verify_all
from reasonrl.eval.refusal import wilson

OPEN, CLOSE = "<think>", "</think>"
BOUNDARY = " ,;\n"


def parse_fractions(text: str) -> list[float]:
    try:
        out = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"config key 'fractions': '{text}' is not a comma-separated list of numbers") from None
    if not out or out[0] < 0 or out[-1] > 1:
        raise ConfigError(f"config key 'fractions': '{text}' needs numbers between 0 and 1")
    return out


def cut(think: str, f: float) -> str:
    """The first f of the reasoning, moved back to just after a boundary (space, comma, ;, newline)
    unless it already ends at one. cut("5,3,3,1", .5) -> "5,3,"."""
    n = round(f * len(think))
    if n >= len(think):
        return think
    head = think[:n]
    if not head or think[n] in BOUNDARY or head[-1] in BOUNDARY:
        return head
    at = max(head.rfind(c) for c in BOUNDARY)
    return head[:at + 1] if at >= 0 else ""


def forced_prefix(text: str, f: float) -> str | None:
    """The completion up to its reasoning cut at f, with the think block closed; None when the text
    has no closed think block. "<think>5,3,3,1</think><answer>1" at .5 -> "<think>5,3,</think>"."""
    start = text.find(OPEN)
    end = text.find(CLOSE, start + len(OPEN)) if start >= 0 else -1
    if end < 0:
        return None
    inner = text[start + len(OPEN):end]
    return text[:start + len(OPEN)] + cut(inner, f) + CLOSE


def reflection(texts: list[str], samples, final_answers: list, final_correct: list[bool]) -> dict:
    """Reflective steps of the full completions, read as reasonrl.report.telemetry reads them."""
    from reasonrl.report.telemetry import first_marker, first_pass_answer, reflection_outcomes

    firsts = [first_pass_answer(t) for t in texts]
    todo = [i for i, a in enumerate(firsts) if a is not None]
    verdicts = verify_all([f"<answer>{firsts[i]}</answer>" for i in todo], [samples[i] for i in todo])
    first_ok, first_ans = [False] * len(texts), [None] * len(texts)
    for i, v in zip(todo, verdicts):
        first_ok[i], first_ans[i] = v.status == "correct", v.answer
    out = reflection_outcomes(firsts, first_ok, final_correct)
    out["reflect/responses"] = sum(first_marker(t) is not None for t in texts)
    out["reflect/changed"] = sum(1 for i in todo if first_ans[i] != final_answers[i])
    return out


def probe_one(completer, bench, *, k: int, sampling: dict, fractions: list[float], seed: int,
              answer_tokens: int) -> tuple[dict, list[dict]]:
    """(summary, forced rows) of one model on one benchmark."""
    from reasonrl.eval.endpoint import sample_seed

    keys = [(p, j) for p in range(len(bench.samples)) for j in range(k)]
    seeds = [sample_seed(seed, bench.ids[p], j) for p, j in keys]
    samples = [bench.samples[p] for p, _ in keys]
    full = completer.complete([s.prompt for s in samples], seeds, sampling)
    texts = [r.text for r in full]
    verdicts = verify_all(texts, samples)
    final_ok = [v.status == "correct" for v in verdicts]
    summary = {"samples": len(keys), "full": _rate(sum(final_ok), len(keys)), "fractions": {},
               **reflection(texts, samples, [v.answer for v in verdicts], final_ok)}
    has = [i for i, t in enumerate(texts) if forced_prefix(t, 1.0) is not None]
    summary["with_thinking"] = len(has)
    prefill = completer.render.prefill
    greedy = dict(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=answer_tokens, greedy=True)
    rows = []
    for f in fractions:
        heads = [forced_prefix(texts[i], f) for i in has]
        prompts = [completer.render(samples[i].prompt) + h[len(prefill):] for i, h in zip(has, heads)]
        got = completer.complete(prompts, [seeds[i] for i in has], greedy, rendered=True) if has else []
        graded = [h + r.text for h, r in zip(heads, got)]
        vs = verify_all(graded, [samples[i] for i in has])
        ok = sum(v.status == "correct" for v in vs)
        summary["fractions"][f"{f:g}"] = _rate(ok, len(has))
        rows += [{"id": bench.ids[keys[i][0]], "sample": keys[i][1], "fraction": f, "forced": g, "answer": v.answer,
                  "verdict": v.status, "full_verdict": verdicts[i].status} for i, g, v in zip(has, graded, vs)]
    return summary, rows


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"correct": k, "n": n, "acc": k / n if n else 0.0, "ci_low": lo, "ci_high": hi}


def format_probe(results: list[dict]) -> str:
    cell = lambda r: f"{100 * r['acc']:5.1f}% [{100 * r['ci_low']:5.1f},{100 * r['ci_high']:5.1f}]"  # noqa: E731
    head = f"{'reasoning kept':16s}" + "".join(f"  {'model ' + str(i + 1):>22s}" for i in range(len(results)))
    lines = [head, "-" * len(head)]
    for f in results[0]["fractions"]:
        lines.append(f"{float(f):>15.0%} " + "".join(f"  {cell(r['fractions'][f]):>22s}" for r in results))
    lines.append(f"{'full (unforced)':16s}" + "".join(f"  {cell(r['full']):>22s}" for r in results))
    lines.append("")
    for i, r in enumerate(results):
        lines.append(f"model {i + 1}: {r['name']} on {r['benchmark']}: {r['samples']} samples ({r['sampling']}), "
                     f"{r['with_thinking']} with a closed think block; reflective steps in {r['reflect/responses']}, "
                     f"answer readable before the step in {r['reflect/readable']}: changed {r['reflect/changed']} "
                     f"(fixes {r['reflect/fixes']}, breaks {r['reflect/breaks']})")
    lines.append("forced answers: greedy after the cut reasoning; 95% Wilson intervals over samples")
    return "\n".join(lines)


def run_thinking_probe(cfg, models: list[str], log=print) -> list[dict]:
    """Probe every target (cfg.endpoint URLs with api=completions, then `models`) on each benchmark of
    cfg.data; print the table and save OUT/eval/thinking.json."""
    from reasonrl.eval.progress import Progress
    from reasonrl.eval.refusal import audit_sampling
    from reasonrl.eval.runner import load_benchmarks
    from reasonrl.eval.textgen import completers
    from reasonrl.models import torch_threads

    if cfg.endpoint and cfg.api != "completions":
        raise ConfigError("--thinking with --endpoint needs api=completions (a chat API cannot continue a cut "
                          "reasoning)")
    fractions = parse_fractions(cfg.fractions)
    benches = load_benchmarks(cfg)
    k, sampling = audit_sampling(cfg)
    eval_dir = Path(cfg.out or "runs/eval") / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with torch_threads(cfg.threads):
        targets = completers(cfg, models)
        with Progress(len(targets) * len(benches), "thinking probe", unit="models x benchmarks") as bar:
            for t in targets:
                for bench in benches:
                    summary, rows = probe_one(t, bench, k=k, sampling=sampling, fractions=fractions, seed=cfg.seed,
                                              answer_tokens=min(sampling["max_new_tokens"], 1024))
                    path = eval_dir / f"thinking-{len(results) + 1}.jsonl"
                    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
                    samp = "greedy" if sampling["greedy"] else f"T={sampling['temperature']} top-p={sampling['top_p']}"
                    results.append({"name": t.name, "benchmark": bench.name, "file": str(path),
                                    "sampling": f"k={k}, {samp}, max_new_tokens={sampling['max_new_tokens']}",
                                    **summary})
                    bar.update(1)
    (eval_dir / "thinking.json").write_text(json.dumps({"results": results}, indent=2) + "\n")
    log(format_probe(results))
    log(f"saved: {eval_dir / 'thinking.json'}")
    return results
