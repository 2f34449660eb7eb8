"""`reasonrl eval`: sample k completions per problem, verify them, and summarize pass@1, pass@k,
maj@k (cons@k), length and truncation, with 95% bootstrap intervals.

    generate (HFBackend, the training Renderer) -> verify (reasonrl.verifiers) -> per-sample JSONL
    -> metrics (reasonrl.eval.metrics) -> summary table + OUT/eval/summary.json

The per-sample file `OUT/eval/<benchmark>-<preset>-<hash>.jsonl` is keyed by the model and every
generation setting except k, so re-running with a larger k generates only the missing samples, and
an interrupted run keeps what it wrote. (The reused samples were drawn in other batches, so the set
is not bit-identical to a fresh run with the larger k; it is an equally valid sample.)

Departures from the paper are computed, printed and saved with each result (presets.departures).

CPU:   reasonrl eval --model embedded --data walk --preset quick limit=50
       reasonrl eval --model runs/tiny-walk/final --data ../shared/data/gsm8k/test.jsonl --preset quick limit=20
GPUs:  reasonrl eval --model /models/R1-Distill-Qwen-7B --data math500,aime24 --preset r1 \\
           template=chat prefill_think=true dtype=bfloat16 attn_implementation=sdpa batch_size=256
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from reasonrl.errors import UserError
from reasonrl.eval.benchmarks import Benchmark, load_benchmark
from reasonrl.eval.presets import EvalRunConfig, Protocol, departures, resolve
from reasonrl.eval.summary import build_result, format_table, merge_summary
from reasonrl.types import Sample, Verdict


class VerifierMissing(UserError):
    """A benchmark names a verifier that reasonrl.verifiers.VERIFIERS does not register."""


def check_verifiers(bench: Benchmark) -> None:
    from reasonrl.verifiers import VERIFIERS

    missing = sorted({s.verifier for s in bench.samples} - set(VERIFIERS))
    if missing:
        raise VerifierMissing(
            f"benchmark '{bench.name}' ({bench.source}) needs verifier '{missing[0]}', which is not registered "
            f"in reasonrl.verifiers.VERIFIERS (registered: {', '.join(sorted(VERIFIERS))}); "
            f"pick one with verifier=NAME")


def verify_all(completions: list[str], samples: list[Sample]) -> list[Verdict]:
    """Judge each completion against its sample with its verifier, as a batch where the verifiers
    module offers one (pooled maths checks run in parallel). A crash is status 'error' (scored
    wrong), never raised: one bad sample must not end an evaluation."""
    from reasonrl import verifiers

    batch = getattr(verifiers, "answer_rewards", None)
    try:
        if batch is not None:
            return list(batch(completions, samples))
    except Exception:  # noqa: BLE001 - fall back to one at a time to isolate the bad sample
        pass
    out = []
    for c, s in zip(completions, samples):
        try:
            out.append(verifiers.answer_reward(c, s))
        except Exception as e:  # noqa: BLE001
            out.append(Verdict(None, "error", f"{type(e).__name__}: {e}"))
    return out


def equivalence(verifier: str):
    """same(a, b) for majority voting: identical text, or the verifier judges b correct with a as the
    gold. Code answers vote by identical text only."""
    from reasonrl.verifiers import VERIFIERS

    fn = VERIFIERS.get(verifier) if verifier != "code" else None
    cache: dict[tuple[str, str], bool] = {}

    def same(a: str, b: str) -> bool:
        if a.strip() == b.strip():
            return True
        if fn is None:
            return False
        if (a, b) not in cache:
            try:
                cache[(a, b)] = fn.check_many([b], [a], [{"answer": a}])[0].status == "correct"
            except Exception:  # noqa: BLE001 - an answer the checker cannot read is its own vote
                cache[(a, b)] = False
        return cache[(a, b)]
    return same


def plan_calls(missing: dict[int, list[int]], batch_size: int) -> list[tuple[int, list[tuple[int, list[int]]]]]:
    """missing {problem: [sample indices]} -> calls [(n, [(problem, indices of length n), ...])] with at most
    `batch_size` sequences per call (a problem needing more than batch_size is split)."""
    items: dict[int, list[tuple[int, list[int]]]] = {}
    for p, idx in sorted(missing.items()):
        for i in range(0, len(idx), batch_size):
            chunk = idx[i:i + batch_size]
            items.setdefault(len(chunk), []).append((p, chunk))
    calls = []
    for n, group in sorted(items.items(), reverse=True):
        per_call = max(1, batch_size // n)
        calls += [(n, group[i:i + per_call]) for i in range(0, len(group), per_call)]
    return calls


def generate_rows(backend, render, bench: Benchmark, proto: Protocol, missing: dict[int, list[int]], *,
                  batch_size: int, seed: int, write) -> int:
    """Generate and verify the missing samples; `write(rows)` after each call. Returns the count."""
    done = 0
    for c, (n, group) in enumerate(plan_calls(missing, batch_size)):
        torch.manual_seed(seed * 1_000_003 + c * 7919 + group[0][1][0])
        prompts = [render(bench.samples[p].prompt) for p, _ in group]
        gen = backend.generate(prompts, n=n, temperature=proto.temperature, top_p=proto.top_p, top_k=proto.top_k,
                               max_new_tokens=proto.max_new_tokens, greedy=proto.greedy)
        lengths = gen.completion_mask.sum(dim=1).tolist()
        texts = [render.prefill + t for t in gen.texts]
        keys = [(p, sample_index) for p, idx in group for sample_index in idx]
        verdicts = verify_all(texts, [bench.samples[p] for p, _ in keys])
        rows = [{"id": bench.ids[p], "sample": j, "completion": t, "answer": v.answer,
                 "gold": bench.samples[p].answer, "verdict": v.status, "score": v.score, "reason": v.reason,
                 "length": int(n_tok), "finish_reason": "length" if bool(cut) else "stop"}
                for (p, j), t, v, n_tok, cut in zip(keys, texts, verdicts, lengths, gen.truncated.tolist())]
        write(rows)
        done += len(rows)
    return done


def model_stamp(model_dir: Path) -> list:
    """(name, size, mtime) of the weight files: samples of a retrained model are never reused."""
    files = sorted(f for f in model_dir.iterdir() if f.suffix in (".safetensors", ".bin", ".pt"))
    return [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]


def sample_file(eval_dir: Path, bench: Benchmark, proto: Protocol, model_dir: Path) -> Path:
    """eval/<benchmark>-<preset>-<hash of model and every setting but k>.jsonl"""
    key = {**proto.as_dict(), "k": None, "k_rule": None, "model": str(model_dir.resolve()),
           "stamp": model_stamp(model_dir), "data": bench.source,
           "verifiers": sorted({s.verifier for s in bench.samples})}
    h = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return eval_dir / f"{bench.name}-{proto.preset}-{h}.jsonl"


def read_samples(path: Path) -> dict[tuple[str, int], dict]:
    """Rows already generated, keyed by (problem id, sample index). A line torn by a kill is ignored."""
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[(row["id"], row["sample"])] = row
    return out


def write_samples(path: Path, rows: dict[tuple[str, int], dict]) -> None:
    """Rewrite the per-sample file whole (atomically): drops torn lines, keeps every row once."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for _, r in sorted(rows.items())), encoding="utf-8")
    tmp.replace(path)


def reverify_errors(rows: dict[tuple[str, int], dict], bench: Benchmark) -> int:
    """Judge again the stored samples whose verdict was 'error' (a verifier crash, not the model's
    fault), in place. Returns how many changed."""
    index = {pid: i for i, pid in enumerate(bench.ids)}
    keys = [k for k, r in rows.items() if r["verdict"] == "error" and k[0] in index]
    verdicts = verify_all([rows[k]["completion"] for k in keys], [bench.samples[index[k[0]]] for k in keys])
    changed = 0
    for k, v in zip(keys, verdicts):
        if v.status != "error":
            rows[k].update(answer=v.answer, verdict=v.status, score=v.score,
                           reason=v.reason)
            changed += 1
    return changed


def default_out(model: str) -> Path:
    """The run directory holding the model (…/RUN/final, …/RUN/checkpoints/step-N), else runs/eval."""
    from reasonrl.models import resolve_model_path

    p = resolve_model_path(model).resolve()
    for up in (p.parent, p.parent.parent):
        if (up / "config.yaml").is_file() and (up / "metrics.jsonl").is_file():
            return up
    return Path("runs/eval")


def evaluate_benchmark(cfg: EvalRunConfig, bench: Benchmark, backend, tok, model_dir: Path, eval_dir: Path,
                       log) -> dict:
    """One loaded benchmark end to end: reuse, generate, verify, summarize. Returns its result dict."""
    from reasonrl.templates import Renderer

    render = Renderer(tok, cfg.template, cfg.prefill_think)
    proto = resolve(cfg, bench_paper_k=bench.spec.paper_k, n_problems=len(bench.samples),
                    prompt_suffix=bench.spec.prompt_suffix, template=render.resolved())
    path = sample_file(eval_dir, bench, proto, model_dir)
    have = read_samples(path)
    if reverify_errors(have, bench) or (path.exists() and len(have) != len(path.read_text().splitlines())):
        write_samples(path, have)
    missing = {p: [j for j in range(proto.k) if (pid, j) not in have] for p, pid in enumerate(bench.ids)}
    missing = {p: idx for p, idx in missing.items() if idx}
    todo = sum(len(v) for v in missing.values())
    log(f"{bench.name}: {len(bench.samples)} problems x k={proto.k} ({proto.preset}, T={proto.temperature}, "
        f"top-p={proto.top_p}, max_new_tokens={proto.max_new_tokens}); {len(bench.samples) * proto.k - todo} "
        f"samples reused, {todo} to generate -> {path}")
    _warn_budget(backend.model, tok, render, bench, proto, log)
    t0 = time.time()
    with open(path, "a", encoding="utf-8") as f:
        def write(rows):
            f.writelines(json.dumps(r) + "\n" for r in rows)
            f.flush()
        generate_rows(backend, render, bench, proto, missing, batch_size=cfg.batch_size, seed=cfg.seed, write=write)
    rows = read_samples(path)
    _warn_errors(bench.name, [r for r in rows.values() if r["verdict"] == "error"], log)
    verifiers = sorted({s.verifier for s in bench.samples})
    result = build_result(bench, proto, rows, same=_vote_fn(bench), n_boot=cfg.bootstrap, seed=cfg.seed,
                          departures=departures(proto, math=bench.maths, verifiers=verifiers))
    result.update({"model": str(cfg.model), "model_dir": str(model_dir.resolve()), "verifiers": verifiers,
                   "samples_file": str(path), "generated_samples": todo,
                   "time_s": round(time.time() - t0, 2)})
    return result


def _warn_errors(name: str, errors: list[dict], log) -> None:
    if errors:
        log(f"warning: {name}: {len(errors)} samples have verdict 'error' (a verifier failure, scored wrong; "
            f"retried on the next run), e.g. {errors[0]['reason']}")


def _vote_fn(bench: Benchmark):
    names = {s.verifier for s in bench.samples}
    return equivalence(names.pop() if len(names) == 1 else "code")


def _warn_budget(model, tok, render, bench: Benchmark, proto: Protocol, log) -> None:
    """Say so when prompt + budget exceed the model's trained context (output there is unreliable)."""
    ctx = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(tok(render(s.prompt)).input_ids) for s in bench.samples[:200])
    if ctx and longest + proto.max_new_tokens > ctx:
        log(f"note: longest prompt ({longest} tokens) + max_new_tokens ({proto.max_new_tokens}) exceeds the "
            f"model's max_position_embeddings ({ctx})")


def run_eval(cfg: EvalRunConfig, log=print) -> dict:
    """Evaluate cfg.model on each benchmark of cfg.data; print and save the summary table. Returns
    {result name: result} (the entries added to eval/summary.json)."""
    from reasonrl.models import load_model, resolve_model_path, torch_threads
    from reasonrl.rollout.hf import HFBackend

    datas = [d.strip() for d in cfg.data.split(",") if d.strip()]
    if not datas:
        raise UserError("--data is required: a JSONL/Parquet file, a benchmark name or a task name")
    model_dir = resolve_model_path(cfg.model)
    benches = [load_benchmark(d, cfg.limit, id_field=cfg.id_field, problem_field=cfg.problem_field,
                              answer_field=cfg.answer_field, group_field=cfg.group_field, verifier=cfg.verifier,
                              prompt_suffix=cfg.prompt_suffix) for d in datas]
    for bench in benches:
        check_verifiers(bench)
    eval_dir = (Path(cfg.out) if cfg.out else default_out(cfg.model)) / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    with torch_threads(cfg.threads):
        model, tok = load_model(model_dir, cfg.dtype, cfg.device, cfg.attn_implementation)
        results = {}
        for bench in benches:
            r = evaluate_benchmark(cfg, bench, HFBackend(model, tok), tok, model_dir, eval_dir, log)
            results[Path(r["samples_file"]).stem] = r
    merge_summary(eval_dir / "summary.json", results)
    log("")
    log(format_table(list(results.values())))
    log(f"saved: {eval_dir / 'summary.json'}")
    return results


def heldout_metrics(backend, render, samples: list[Sample], *, k: int, temperature: float, max_new_tokens: int,
                    top_p: float = 1.0, seed: int = 0, batch_size: int = 256, suffix: str = "heldout") -> dict:
    """For the training loop: k samples per held-out problem -> {'pass@1/S', 'pass@k/S' (k > 1),
    'maj@k/S', 'truncated@k/S', 'len@k/S'} (S = suffix). Seeds torch itself and restores its RNG
    state afterwards, so evaluating never shifts the training run's random stream."""
    import numpy as np

    from reasonrl.eval.benchmarks import BenchmarkSpec
    from reasonrl.eval.metrics import maj_at_k_rows, pass_at_k_rows

    bench = Benchmark("heldout", BenchmarkSpec("heldout"), "heldout", samples, [str(i) for i in range(len(samples))])
    proto = Protocol("train", k, temperature, top_p, 0, max_new_tokens, False, "", False, "", 0, "")
    found: dict[tuple[str, int], dict] = {}
    state = torch.get_rng_state()
    generate_rows(backend, render, bench, proto, {p: list(range(k)) for p in range(len(samples))},
                  batch_size=batch_size, seed=seed, write=lambda rows: found.update(((r["id"], r["sample"]), r)
                                                                                  for r in rows))
    torch.set_rng_state(state)
    grid = [[found[(pid, j)] for j in range(k)] for pid in bench.ids]
    correct = np.array([[r["verdict"] == "correct" for r in g] for g in grid], dtype=float)
    out = {f"pass@1/{suffix}": float(correct.mean()),
           f"maj@{k}/{suffix}": float(maj_at_k_rows([[r["answer"] for r in g] for g in grid], correct, k,
                                                    _vote_fn(bench)).mean()),
           f"truncated@{k}/{suffix}": float(np.mean([[r["finish_reason"] == "length" for r in g] for g in grid])),
           f"len@{k}/{suffix}": float(np.mean([[r["length"] for r in g] for g in grid]))}
    if k > 1:
        out[f"pass@{k}/{suffix}"] = float(pass_at_k_rows(correct, k).mean())
    return out
