"""`reasonrl eval`: sample k completions per problem, verify them, and summarize pass@1, pass@k,
maj@k (cons@k), length and truncation, with 95% bootstrap intervals.

    generate -> verify (heldout.generate_rows, the path the training loop's held-out evaluation
    uses; or endpoint.py for --endpoint URL) -> per-sample JSONL -> metrics (reasonrl.eval.metrics)
    -> summary table + OUT/eval/summary.json

Generation: the model loaded here with a rollout backend (backend=hf, the default; fast; vllm, in
process on a GPU), or an OpenAI-compatible server (--endpoint URL; see reasonrl.eval.endpoint).
Nothing is generated past the model's positions: max_new_tokens is capped, and prompts too long to
leave room are scored wrong without generating (LocalGenerator.fit; one line says each). A progress
bar runs on stderr.

The per-sample file `OUT/eval/<benchmark>-<preset>-<hash>.jsonl` is keyed by the model and every
generation setting except k, so re-running with a larger k generates only the missing samples, and
an interrupted run keeps what it wrote. (The reused samples were drawn in other batches, so the set
is not bit-identical to a fresh run with the larger k; it is an equally valid sample.)

Departures from the paper are computed, printed and saved with each result (presets.departures).

CPU:   reasonrl eval --model embedded --data walk --preset quick limit=50
       reasonrl eval --model runs/tiny-walk/final --data ../shared/data/gsm8k/test.jsonl --preset quick limit=20
GPUs:  reasonrl eval --model /models/R1-Distill-Qwen-7B --data math500,aime24 --preset r1 \\
           template=chat prefill_think=true dtype=bfloat16 attn_implementation=sdpa batch_size=256
Server: reasonrl eval --endpoint http://127.0.0.1:8000 --data aime24 --preset r1 concurrency=32
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from reasonrl.errors import UserError
from reasonrl.eval.benchmarks import Benchmark, load_benchmark
from reasonrl.eval.presets import EvalRunConfig, Protocol, departures, resolve
from reasonrl.eval.summary import build_result, format_table, merge_summary
from reasonrl.eval.heldout import (equivalence, generate_rows, heldout_metrics, plan_calls,  # noqa: F401
                                   sampling_of, verify_all, vote_fn)
from reasonrl.eval.progress import Progress


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


def model_stamp(model_dir: Path) -> list:
    """(name, size, mtime) of the weight files: samples of a retrained model are never reused."""
    files = sorted(f for f in model_dir.iterdir() if f.suffix in (".safetensors", ".bin", ".pt"))
    return [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]


def sample_file(eval_dir: Path, bench: Benchmark, proto: Protocol, source: dict) -> Path:
    """eval/<benchmark>-<preset>-<hash of the model (source) and every setting but k>.jsonl"""
    key = {**proto.as_dict(), "k": None, "k_rule": None, **source, "data": bench.source,
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


class LocalGenerator:
    """Generation in this process: a rollout backend (hf, fast, vllm) over a loaded model."""

    def __init__(self, cfg: EvalRunConfig, backend, model, tok, model_dir: Path):
        from reasonrl.templates import Renderer

        self.cfg, self.backend, self.model, self.tok, self.model_dir = cfg, backend, model, tok, model_dir
        self.render = Renderer(tok, cfg.template, cfg.prefill_think)
        self.source = {"model": str(model_dir.resolve()), "stamp": model_stamp(model_dir)}
        self.describe = {"model": str(cfg.model), "model_dir": str(model_dir.resolve())}
        self.too_long: dict[int, int] = {}     # problem -> prompt tokens, of prompts that do not fit (fit)

    def fit(self, bench: Benchmark, proto: Protocol, log) -> Protocol:
        """Never generate past the model's positions (max_position_embeddings), said in one line each:
        a prompt leaving fewer than min(max_new_tokens, positions / 4) tokens is not generated and
        scored wrong (`too_long`); max_new_tokens is capped to what the longest other prompt leaves.
        Nothing fits: a one-line error."""
        from dataclasses import replace

        from reasonrl.rollout.hf import encode_prompts

        ctx = getattr(self.model.config, "max_position_embeddings", None)
        _, mask = encode_prompts(self.tok, [self.render(s.prompt) for s in bench.samples], "cpu")
        lens = mask.sum(dim=1).tolist()
        self.too_long = {}
        if not ctx or max(lens) + proto.max_new_tokens <= ctx:
            return proto
        need = min(proto.max_new_tokens, ctx // 4)
        self.too_long = {p: n for p, n in enumerate(lens) if ctx - n < need}
        if len(self.too_long) == len(lens):
            raise UserError(f"{bench.name}: the longest prompt is {max(lens)} tokens, the model has {ctx} positions "
                            f"(max_position_embeddings): nothing fits; shorten the prompts")
        if self.too_long:
            log(f"note: {len(self.too_long)} of {len(lens)} {bench.name} prompts leave fewer than {need} of the "
                f"model's {ctx} positions: scored wrong without generating")
        longest = max(n for p, n in enumerate(lens) if p not in self.too_long)
        if longest + proto.max_new_tokens <= ctx:
            return proto
        log(f"note: max_new_tokens {proto.max_new_tokens} capped to {ctx - longest}: the longest prompt "
            f"({longest} tokens) leaves that much of the model's {ctx} positions")
        return replace(proto, max_new_tokens=ctx - longest)

    def rows(self, bench: Benchmark, proto: Protocol, missing: dict, write, progress) -> None:
        ctx = getattr(self.model.config, "max_position_embeddings", None)
        for p, n in self.too_long.items():
            if p in missing:
                write([{"id": bench.ids[p], "sample": j, "completion": "", "answer": None,
                        "gold": bench.samples[p].answer, "verdict": "wrong", "score": 0.0,
                        "reason": f"too_long: a {n}-token prompt, the model has {ctx} positions; not generated",
                        "length": 0, "finish_reason": "length"} for j in missing[p]])
                progress(len(missing[p]))
        rest = {p: idx for p, idx in missing.items() if p not in self.too_long}
        generate_rows(self.backend, self.render, bench.samples, bench.ids, sampling_of(proto), rest,
                      batch_size=self.cfg.batch_size, seed=self.cfg.seed, write=write, progress=progress)


def evaluate_benchmark(cfg: EvalRunConfig, bench: Benchmark, gen, eval_dir: Path, log) -> dict:
    """One loaded benchmark end to end: reuse, generate, verify, summarize. `gen`: a LocalGenerator or
    an endpoint.EndpointGenerator. Returns its result dict."""
    proto = resolve(cfg, bench_paper_k=bench.spec.paper_k, n_problems=len(bench.samples),
                    prompt_suffix=bench.spec.prompt_suffix, template=gen.render.resolved())
    proto = gen.fit(bench, proto, log)
    path = sample_file(eval_dir, bench, proto, gen.source)
    have = read_samples(path)
    if reverify_errors(have, bench) or (path.exists() and len(have) != len(path.read_text().splitlines())):
        write_samples(path, have)
    missing = {p: [j for j in range(proto.k) if (pid, j) not in have] for p, pid in enumerate(bench.ids)}
    missing = {p: idx for p, idx in missing.items() if idx}
    todo = sum(len(v) for v in missing.values())
    log(f"{bench.name}: {len(bench.samples)} problems x k={proto.k} ({proto.preset}, T={proto.temperature}, "
        f"top-p={proto.top_p}, max_new_tokens={proto.max_new_tokens}); {len(bench.samples) * proto.k - todo} "
        f"samples reused, {todo} to generate -> {path}")
    t0 = time.time()
    with open(path, "a", encoding="utf-8") as f, Progress(todo, bench.name) as bar:
        def write(rows):
            f.writelines(json.dumps(r) + "\n" for r in rows)
            f.flush()
        gen.rows(bench, proto, missing, write, bar.update)
    rows = read_samples(path)
    _warn_errors(bench.name, [r for r in rows.values() if r["verdict"] == "error"], log)
    verifiers = sorted({s.verifier for s in bench.samples})
    result = build_result(bench, proto, rows, same=vote_fn(bench.samples), n_boot=cfg.bootstrap, seed=cfg.seed,
                          departures=departures(proto, math=bench.maths, verifiers=verifiers))
    result.update({**gen.describe, "verifiers": verifiers, "samples_file": str(path), "generated_samples": todo,
                   "time_s": round(time.time() - t0, 2)})
    return result


def _warn_errors(name: str, errors: list[dict], log) -> None:
    if errors:
        log(f"warning: {name}: {len(errors)} samples have verdict 'error' (a verifier failure, scored wrong; "
            f"retried on the next run), e.g. {errors[0]['reason']}")


def load_benchmarks(cfg: EvalRunConfig) -> list[Benchmark]:
    datas = [d.strip() for d in cfg.data.split(",") if d.strip()]
    if not datas:
        raise UserError("--data is required: a JSONL/Parquet file, a benchmark name or a task name")
    benches = [load_benchmark(d, cfg.limit, id_field=cfg.id_field, problem_field=cfg.problem_field,
                              answer_field=cfg.answer_field, group_field=cfg.group_field, verifier=cfg.verifier,
                              prompt_suffix=cfg.prompt_suffix) for d in datas]
    for bench in benches:
        check_verifiers(bench)
    return benches


def local_backend(cfg: EvalRunConfig, model, tok):
    """The rollout backend cfg.backend (hf, fast, vllm) over the loaded model."""
    from reasonrl.config import ConfigError
    from reasonrl.rollout import make_backend

    if cfg.backend not in ("hf", "fast", "vllm"):
        raise ConfigError(f"config key 'backend': '{cfg.backend}' is not one of hf, fast, vllm "
                          f"(an OpenAI-compatible server: --endpoint URL)")
    return make_backend(cfg.backend, model, tok)


def run_eval(cfg: EvalRunConfig, log=print) -> dict:
    """Evaluate cfg.model (or cfg.endpoint) on each benchmark of cfg.data; print and save the summary
    table. Returns {result name: result} (the entries added to eval/summary.json)."""
    from reasonrl.models import load_model, resolve_model_path, torch_threads

    benches = load_benchmarks(cfg)
    if cfg.endpoint:
        from reasonrl.eval.endpoint import EndpointGenerator

        gen = EndpointGenerator.from_config(cfg)
        eval_dir = Path(cfg.out or "runs/eval") / "eval"
    else:
        model_dir = resolve_model_path(cfg.model)
        eval_dir = (Path(cfg.out) if cfg.out else default_out(cfg.model)) / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    with torch_threads(cfg.threads):
        if not cfg.endpoint:
            model, tok = load_model(model_dir, cfg.dtype, cfg.device, cfg.attn_implementation)
            gen = LocalGenerator(cfg, local_backend(cfg, model, tok), model, tok, model_dir)
        results = {}
        for bench in benches:
            r = evaluate_benchmark(cfg, bench, gen, eval_dir, log)
            results[Path(r["samples_file"]).stem] = r
    merge_summary(eval_dir / "summary.json", results)
    log("")
    log(format_table(list(results.values())))
    log(f"saved: {eval_dir / 'summary.json'}")
    return results
