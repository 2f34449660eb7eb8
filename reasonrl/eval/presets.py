"""Evaluation config and presets: the paper's protocol (`r1`), a CPU-sized one (`quick`), and `greedy`.

The R1 paper (v1 §3, v2 D.1, R1 README): sampling at temperature 0.6, top-p 0.95, a 32,768-token
budget, k samples per problem (64 for AIME and GPQA, 16 for MATH-500; "typically between 4 and 64,
depending on the test set size" elsewhere), pass@1 = mean correctness over the k samples, cons@64 =
majority vote; no system prompt; for maths the instruction "Please reason step by step, and put your
final answer within \\boxed{}."; R1-family chat models are forced to start with "<think>\\n".

`Protocol` is what one evaluation actually ran with; `departures()` lists every way it differs from
that protocol, and both are written into every result.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from reasonrl.config import ConfigError

PAPER = dict(temperature=0.6, top_p=0.95, top_k=0, max_new_tokens=32768, greedy=False)


@dataclass(frozen=True)
class EvalRunConfig:
    """`reasonrl eval` settings; None/0/"" fields take the preset's or the benchmark's value."""
    model: str = "embedded"           # local HF model folder, or "embedded" / "embedded-moe"
    data: str = ""                    # FILE (.jsonl/.parquet), benchmark name(s) or task name, comma-separated
    preset: str = "r1"                # r1 | quick | greedy
    out: str = ""                     # results go to OUT/eval/; "" = the run dir holding --model, else runs/eval
    k: int = 0                        # samples per problem; 0 = the preset's (r1: the paper's k for the benchmark)
    temperature: float | None = None  # None = the preset's
    top_p: float | None = None
    top_k: int | None = None
    max_new_tokens: int = 0           # generation budget per sample; 0 = the preset's
    limit: int = 0                    # evaluate only the first N problems (0 = all)
    template: str = "auto"            # auto | raw | r1zero | chat (reasonrl.templates, as in training)
    prefill_think: bool = False       # start every completion inside "<think>\n"
    prompt_suffix: str | None = None  # appended to each problem; None = the benchmark's ("" = none)
    verifier: str = ""                # answer checker name; "" = the benchmark's (math: "math")
    id_field: str = ""                # field mapping; "" = the benchmark's (id, problem, answer, source)
    problem_field: str = ""
    answer_field: str = ""
    group_field: str = ""
    batch_size: int = 64              # sequences per generate call (speed only)
    bootstrap: int = 1000             # bootstrap resamples for the 95% intervals (0 = none)
    seed: int = 0
    dtype: str = "float32"            # float32 | bfloat16 | float16
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    attn_implementation: str = "eager"
    threads: int = 0                  # torch CPU threads; 0 = auto: the cores not busy elsewhere (docs/first-hour.md)
    backend: str = "hf"               # local generation: hf | fast | vllm (in process, GPU)
    endpoint: str = ""                # an OpenAI-compatible server URL instead of a local model
    api: str = "chat"                 # endpoint API: chat (reasoning_content kept apart) | completions
    model_name: str = ""              # the endpoint's model; "" = the first of GET /v1/models
    api_key_env: str = ""             # variable holding the key; "" = REASONRL_API_KEY, else OPENAI_API_KEY
    concurrency: int = 8              # endpoint requests in flight
    retries: int = 4                  # tries per endpoint request (backoff doubles from backoff_s)
    backoff_s: float = 1.0
    timeout_s: float = 600.0          # deadline of one endpoint request
    judge: str = ""                   # --refusals: an endpoint URL whose model labels the replies ("" = rules)
    fractions: str = "0,0.25,0.5,0.75,1"   # --thinking: where the reasoning is cut, as shares of its length


@dataclass(frozen=True)
class Preset:
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    k: int                            # 0 = per benchmark (paper_k, else by test-set size)
    greedy: bool


PRESETS = {
    "r1": Preset(temperature=0.6, top_p=0.95, top_k=0, max_new_tokens=32768, k=0, greedy=False),
    "quick": Preset(temperature=0.6, top_p=0.95, top_k=0, max_new_tokens=512, k=4, greedy=False),
    "greedy": Preset(temperature=0.0, top_p=1.0, top_k=0, max_new_tokens=32768, k=1, greedy=True),
}


@dataclass(frozen=True)
class Protocol:
    """The settings one benchmark was evaluated with (saved with every result)."""
    preset: str
    k: int
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    greedy: bool
    template: str
    prefill_think: bool
    prompt_suffix: str
    paper_k: int                      # 0 when the paper reports no k for this benchmark
    k_rule: str                       # where k came from

    def as_dict(self) -> dict:
        return asdict(self)


def paper_k(bench_paper_k: int, n_problems: int) -> tuple[int, str]:
    """The paper's k for a benchmark, or the size rule (4-64 by test-set size) where it gives none."""
    if bench_paper_k:
        return bench_paper_k, "paper (R1 v2 D.1)"
    k = 64 if n_problems <= 100 else 16 if n_problems <= 1000 else 4
    return k, "size rule: <=100 problems 64, <=1000 16, else 4 (paper: 'between 4 and 64 by test-set size')"


def resolve(cfg: EvalRunConfig, *, bench_paper_k: int, n_problems: int, prompt_suffix: str,
            template: str) -> Protocol:
    """EvalRunConfig + preset + benchmark -> the Protocol that runs."""
    if cfg.preset not in PRESETS:
        raise ConfigError(f"--preset '{cfg.preset}': unknown preset (choose from {', '.join(PRESETS)})")
    p = PRESETS[cfg.preset]
    if cfg.k:
        k, rule = cfg.k, "set by k="
    elif p.k:
        k, rule = p.k, f"preset {cfg.preset}"
    else:
        k, rule = paper_k(bench_paper_k, n_problems)
    proto = Protocol(
        preset=cfg.preset, k=k, greedy=p.greedy,
        temperature=p.temperature if cfg.temperature is None else cfg.temperature,
        top_p=p.top_p if cfg.top_p is None else cfg.top_p,
        top_k=p.top_k if cfg.top_k is None else cfg.top_k,
        max_new_tokens=cfg.max_new_tokens or p.max_new_tokens,
        template=template, prefill_think=cfg.prefill_think, prompt_suffix=prompt_suffix,
        paper_k=bench_paper_k, k_rule=rule)
    for key, v in (("k", proto.k), ("max_new_tokens", proto.max_new_tokens), ("batch_size", cfg.batch_size)):
        if v < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {v}")
    if not proto.greedy and proto.temperature <= 0:
        raise ConfigError("config key 'temperature' must be > 0 when sampling (use --preset greedy)")
    if proto.greedy and proto.k > 1:
        raise ConfigError(f"config key 'k': greedy decoding gives one answer per problem; k={proto.k} would "
                          f"repeat it (use --preset r1 or quick to sample)")
    return proto


def departures(proto: Protocol, *, math: bool, verifiers: list[str] | None = None) -> list[str]:
    """Every way `proto` differs from the R1 paper's evaluation protocol (empty = none). `math`: a
    maths benchmark; `verifiers`: the answer checkers used."""
    out = []
    if math and verifiers and verifiers != ["math"]:
        out.append(f"answers checked by {', '.join(verifiers)} (paper: rule-based maths equivalence, "
                   f"verifier 'math')")
    if proto.greedy:
        out.append("greedy decoding (paper: sampling at T=0.6, top-p 0.95; greedy repeats more and varies more)")
    else:
        for key in ("temperature", "top_p", "top_k"):
            if getattr(proto, key) != PAPER[key]:
                out.append(f"{key} {getattr(proto, key)} (paper: {PAPER[key]})")
    if proto.max_new_tokens < PAPER["max_new_tokens"]:
        out.append(f"max_new_tokens {proto.max_new_tokens} (paper: {PAPER['max_new_tokens']}); "
                   f"long reasoning gets truncated and scored wrong")
    if proto.paper_k and proto.k != proto.paper_k:
        out.append(f"k={proto.k} samples per problem (paper: {proto.paper_k}); pass@1 is noisier")
    elif not proto.paper_k:
        out.append(f"k={proto.k}: the paper reports no k for this benchmark ({proto.k_rule})")
    if math and "\\boxed{}" not in proto.prompt_suffix:
        out.append("no 'put your final answer within \\boxed{}' instruction (paper/R1 README: added for maths)")
    if not proto.prefill_think:
        out.append("no '<think>\\n' prefill (R1 README forces it for R1-family chat models; off for others)")
    return out
