"""Frozen dataclass configs: one section per concern, loaded from YAML with `a.b=value` overrides.

    cfg = load_config("configs/tiny.yaml", ["algo.preset=dapo", "train.steps=50"])

The sections of the training commands (train, pretrain, sft, sample, distill) live here. Rules: two
levels deep at most; unknown keys and values of the wrong type are a `ConfigError` naming the key;
the resolved config (presets applied) is what runs and what is saved.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from reasonrl.errors import ConfigError, UserError  # noqa: F401  (ConfigError re-exported: reasonrl.config.ConfigError)
from reasonrl.verifiers.settings import VerifierSettings


@dataclass(frozen=True)
class ModelConfig:
    path: str = "embedded"            # a local HF causal-LM folder, or "embedded" (the shipped tiny base)
    dtype: str = "float32"            # float32 | bfloat16 | float16
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    attn_implementation: str = "eager"  # eager is fastest for tiny models on CPU; sdpa/flash for GPUs
    template: str = "auto"            # auto | raw | r1zero | chat (reasonrl.templates)
    prefill_think: bool = False       # start every completion inside "<think>\n"
    lora_r: int = 0                   # LoRA rank through peft (reasonrl.scale.lora); 0 = full fine-tuning
    lora_alpha: int = 16              # LoRA scale numerator (scale = lora_alpha / lora_r)
    lora_dropout: float = 0.0         # dropout on the LoRA input
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # module names given adapters
    autocast: str = "none"            # none | bfloat16: the policy forward in the trainer under torch.autocast


@dataclass(frozen=True)
class TaskConfig:
    name: str = "walk"                # registry name of the task (reasonrl.tasks.TASKS)
    heldout_size: int = 200           # problems in the held-out split
    heldout_seed: int = 12345         # the held-out split is drawn from its own seed, disjoint from training
    # task.name=dataset (reasonrl.tasks.dataset, reasonrl.data): your own problems from files
    path: tuple[str, ...] = ()        # JSONL, JSON, Parquet files or `datasets` save_to_disk folders; several = a mixture
    weights: tuple[float, ...] = ()   # mixture weights, one per path (empty = every row equally likely)
    split: str = "train"              # split of a DatasetDict folder
    prompt_field: str = "problem"     # row field holding the problem text
    answer_field: str = "answer"      # row field holding the gold answer (string or number)
    prompt_format: str = "{prompt}"   # the prompt text; {prompt} = prompt_field, {NAME} = any other row field
    verifier: str = "exact"           # answer checker (reasonrl.verifiers.VERIFIERS)
    on_bad_row: str = "stop"          # stop | skip: what a row that fails validation does
    max_prompt_tokens: int = 0        # rows whose rendered prompt is longer are bad rows (0 = no limit)
    heldout_path: str = ""            # held-out file (same fields); "" = heldout_size rows set aside from path
    # task.name=gym (reasonrl.tasks.gym): a reasoning-gym generator; its own scorer is the reward
    gym: str = ""                     # reasoning-gym data set name, e.g. leg_counting, chain_sum
    gym_args: tuple[str, ...] = ()    # the generator's options as key=value items, e.g. [min_terms=2,max_terms=3]
    # task.name=walk (reasonrl.tasks.walk): difficulty and curriculum (docs/difficulty.md)
    min_terms: int = 10               # shortest chain, in terms (the start value counts); each problem's length is
    max_terms: int = 10               # ... drawn uniformly in [min_terms, max_terms]; held-out cycles through them
    pad_terms: int = 0                # pad the chain with '_' to the width of a pad_terms-term chain (0 = no padding)
    curriculum: str = "none"          # none | steps | adaptive: which lengths training draws (held-out: all of them)
    curriculum_steps: tuple[int, ...] = ()  # steps: the step at which each length after min_terms opens, one per length
    curriculum_accuracy: float = 0.8  # adaptive: open the next length when acc/train averaged over the last
    curriculum_window: int = 10       # ... curriculum_window steps at the current longest length reaches this


SERVER_KINDS = ("reasonrl", "sglang", "vllm")   # rollout.server_kind: whose weight-reload call to make


@dataclass(frozen=True)
class RolloutConfig:
    backend: str = "hf"               # generation backend (reasonrl.rollout.BACKENDS)
    num_generations: int = 8          # G: completions sampled per prompt
    temperature: float = 1.0          # sampling temperature; training logprobs use the same value
    top_p: float = 1.0                # nucleus sampling; < 1 is refused for training (logprob mismatch)
    top_k: int = 0                    # 0 = off; > 0 is refused for training (logprob mismatch)
    max_new_tokens: int = 40          # generation budget per completion
    server_url: str = "http://127.0.0.1:8000"  # backend=server: the rollout server's base URL
    server_kind: str = "reasonrl"     # backend=server: reasonrl | sglang | vllm (which reload call to make)
    server_weights_dir: str = ""      # backend=server: folder both trainer and server read ("" = a temp folder)
    server_timeout_s: float = 120.0   # backend=server: seconds per HTTP call
    server_retries: int = 3           # backend=server: tries per call (connection errors, 429, 5xx, stale version)
    server_probe: bool = True         # backend=server: after each sync, compare server and trainer logprobs
    vllm_gpu_memory: float = 0.3      # backend=vllm: gpu_memory_utilization (the trainer shares the GPU)
    vllm_dtype: str = "auto"          # backend=vllm: engine dtype ("auto" = the policy's dtype)
    vllm_seed: int = 0                # backend=vllm: engine seed; request r gets SamplingParams(seed=vllm_seed + r)


@dataclass(frozen=True)
class AlgoConfig:
    preset: str = "grpo"              # fills every field left unset below (reasonrl.algo.presets)
    advantage: str | None = None      # group_zscore | group_mean | rloo | batch_zscore
    surrogate: str | None = None      # pg | clip | dual_clip | gspo
    aggregation: str | None = None    # token_mean | seq_mean_token_mean | seq_mean_token_sum | constant
    kl: str | None = None             # none | k1 | k2 | k3
    beta: float | None = None         # KL coefficient; 0 builds no reference model at all
    clip_low: float | None = None     # ratio clipped to [1 - clip_low, 1 + clip_high]
    clip_high: float | None = None
    dual_clip: float | None = None    # c in dual-clip PPO (bounds the loss for A < 0)
    std_floor: float | None = None    # z-score divides by max(std, std_floor)
    epochs: int | None = None         # passes over each rollout batch
    mini_batches: int | None = None   # optimizer steps per pass (>1 makes the ratio move off 1)
    mask_truncated: bool | None = None  # drop completions that hit max_new_tokens from the loss
    skip_zero_variance: bool | None = None  # leave groups with all-equal rewards out of the update
    dynamic_sampling: bool | None = None  # DAPO: refill the batch with groups whose accuracy is mixed
    max_resample: int | None = None   # cap on extra prompt draws per step for dynamic sampling
    overlong_buffer: int | None = None  # DAPO soft overlong punishment over the last N tokens (0 = off)
    overlong_penalty: float | None = None  # penalty at the budget (reward - penalty * overrun / buffer)
    ref_reset_every: int | None = None  # copy the policy into the reference every N steps (0 = never)
    tis: str | None = None            # correction vs the sampler's logprobs: none | token | sequence (truncated IS) |
                                      # token_mask | sequence_mask | geo_mask (masked outside [tis_low, tis_high])
    tis_cap: float | None = None      # upper cap on the TIS weight pi_old / pi_sampler
    tis_low: float | None = None      # *_mask choices: ratios below this are masked out
    tis_high: float | None = None     # *_mask choices: ratios above this are masked out


@dataclass(frozen=True)
class RewardConfig:
    functions: tuple[str, ...] = ("answer", "format")  # registry names or "module:function"
    weights: tuple[float, ...] = (1.0, 0.1)             # one weight per function


@dataclass(frozen=True)
class OptimConfig:
    """AdamW, gradient clipping and warmup: the keys the RL and SFT `train:` sections share (both
    sections inherit them, so they stay `train.lr`, `train.weight_decay`, ...)."""
    lr: float = 1e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    max_grad_norm: float = 1.0
    warmup_steps: int = 0             # linear warmup over the first N optimizer steps


@dataclass(frozen=True)
class TrainConfig(OptimConfig):
    steps: int = 60                   # RL steps (one rollout batch each)
    prompts_per_step: int = 16        # B: prompts per step (N = B * G sequences)
    micro_batch_size: int = 64        # sequences per forward/backward; changes speed, never the math
    threads: int = 0                  # torch CPU threads; 0 = auto: the cores not busy elsewhere (docs/first-hour.md)
    time_budget_s: float = 0.0        # stop (with a checkpoint) after this much training time; 0 = none
    checkpoint_every: int = 20        # steps between checkpoints (the final step is always saved)
    checkpoint_minutes: float = 0.0   # also checkpoint when this many minutes passed since the last (0 = off)
    max_nonfinite_steps: int = 3      # stop after this many consecutive steps with NaN/inf (0 = never)
    diverge_window: int = 5           # divergence guard (exit 77): steps per reward window; 0 = guard off
    diverge_reward_drop: float = 0.9  # stop when the last window's mean reward fell by more than this share of the best window's
    diverge_heldout_drop: float = 0.75  # stop when held-out accuracy fell by more than this share of its best (best >= 0.05)
    diverge_max_kl: float = 10.0      # stop when the KL to the reference exceeds this (0 = off)
    diverge_grad_factor: float = 1000.0  # stop when the gradient norm exceeds this multiple of its running median (0 = off)
    stall_factor: float = 20.0        # stall watchdog (exit 78): no step finished for this many median step times; 0 = off
    stall_min_s: float = 900.0        # ... and never sooner than this many seconds
    keep_checkpoints: int = 2         # newest checkpoints kept on disk
    log_rollouts: int = 8             # completions written to rollouts.jsonl per step
    log_to: tuple[str, ...] = ()      # extra metric sinks: tensorboard, wandb (optional packages)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% more compute
    fsdp: bool = False                # under torchrun: shard weights, grads and AdamW state over ranks (FSDP2)


@dataclass(frozen=True)
class EvalConfig:
    every: int = 20                   # held-out evaluation every N steps (0 = only before and after)
    size: int = 200                   # held-out problems evaluated (<= task.heldout_size)
    sampled: bool = True              # also evaluate one sample per problem at the rollout temperature
    k: int = 0                        # > 1: also log pass@1, pass@k, maj@k over k samples (T 0.6, top-p 0.95)


@dataclass(frozen=True)
class Config:
    out: str = "runs/tiny-walk"       # run directory; re-running on it resumes
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    verify: VerifierSettings = field(default_factory=VerifierSettings)


# `reasonrl pretrain` (reasonrl.train.pretrain): the tiny base model of the embedded default
@dataclass(frozen=True)
class PretrainConfig:
    out: str = "runs/pretrain"        # where the HF folder is written
    seed: int = 1
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 384
    steps: int = 1800                 # optimizer steps before the gate
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1         # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.1
    worked_share: float = 0.5         # share of worked batches during the bulk of training
    anneal_share: float = 0.3         # share of worked batches in the final anneal
    anneal_frac: float = 0.23         # fraction of steps (at the end) spent annealing
    gate_accuracy: float = 0.9        # forced-worked greedy accuracy required at the end
    gate_chunk_steps: int = 300       # extra steps per gate chunk (at the anneal lr and share)
    gate_max_chunks: int = 4
    eval_size: int = 200
    threads: int = 0
    min_terms: int = 10               # walk chain lengths of the corpus, one length per batch, drawn uniformly
    max_terms: int = 10               # ... in [min_terms, max_terms] (as task.min_terms / task.max_terms)
    pad_terms: int = 0                # pad prompts to the width of a chain of this many terms (as task.pad_terms)



# `reasonrl sample` (reasonrl.train.rejection): rejection sampling
@dataclass(frozen=True)
class PromptsConfig:
    count: int = 256                  # problems drawn from the task's training split
    seed: int = 1                     # problems are task.train_batch(seed, batch index, batch_prompts)



@dataclass(frozen=True)
class SamplingConfig:
    k: int = 8                        # completions per problem
    temperature: float = 1.0          # R1 v2 samples the R1-Zero cold-start candidates at T=1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 40
    batch_prompts: int = 32           # problems per generate call (k completions each)



@dataclass(frozen=True)
class FilterConfig:
    require_tags: bool = True         # drop when <think>/<answer> are missing, repeated or out of order
    require_reasoning: bool = False   # drop an empty <think></think> block (cold-start data wants a CoT)
    max_tokens: int = 0               # drop longer completions (0 = only those cut at max_new_tokens)
    repeat_chars: int = 24            # drop a unit repeated back-to-back >= 3 times over this many chars (0 = off)
    language: str = "en"              # language of the words (reasonrl.verifiers.language; "" = off)
    min_language_share: float = 0.95  # share of words in that language's script below which a completion is mixed
    dedupe: bool = True               # drop exact repeats of (prompt, completion)
    keep: str = "all"                 # all | shortest (the shortest kept completion per problem)
    max_per_prompt: int = 0           # keep at most N per problem (0 = no cap)



@dataclass(frozen=True)
class SampleConfig:
    out: str = "runs/sample"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    sample: SamplingConfig = field(default_factory=SamplingConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    log_rejected: int = 200           # dropped completions written to rejected.jsonl (with the reason)
    threads: int = 0                  # torch CPU threads; 0 = auto (reasonrl.models.auto_threads)



# `reasonrl sft` (reasonrl.train.sft): supervised fine-tuning
@dataclass(frozen=True)
class SFTDataConfig:
    files: tuple[str, ...] = ()       # JSONL: {"prompt", "completion"} rows or {"messages": [...]} rows
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    max_length: int = 256             # tokens per example and per packed row; longer examples are dropped
    packing: bool = True              # pack several examples per row (block-diagonal attention)



@dataclass(frozen=True)
class SFTTrainConfig(OptimConfig):
    epochs: int = 2                   # passes over the data
    steps: int = 0                    # optimizer steps; 0 = epochs * ceil(examples / batch_size)
    batch_size: int = 32              # examples per optimizer step
    micro_batch_size: int = 32        # packed rows per forward/backward; changes speed, never the math
    min_lr_ratio: float = 0.1         # cosine decay to lr * min_lr_ratio
    threads: int = 0                  # torch CPU threads; 0 = auto: the cores not busy elsewhere (docs/first-hour.md)
    time_budget_s: float = 0.0        # stop (with a checkpoint) after this much training time; 0 = none
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    log_every: int = 10               # progress line every N steps (metrics.jsonl gets every step)
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory, more compute)



@dataclass(frozen=True)
class SFTEvalConfig:
    every: int = 0                    # held-out evaluation every N steps (0 = only before and after)
    size: int = 200                   # held-out problems of `task` (0 = no evaluation)
    sampled: bool = True              # also one sample per problem at `temperature`
    temperature: float = 1.0
    max_new_tokens: int = 40



@dataclass(frozen=True)
class SFTConfig:
    out: str = "runs/sft"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)   # held-out problems for evaluation
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)
    eval: SFTEvalConfig = field(default_factory=SFTEvalConfig)



# `reasonrl distill` (reasonrl.train.distill): teacher traces -> student SFT
@dataclass(frozen=True)
class StudentConfig:
    path: str = ""                    # HF folder to start from; "" = a fresh Qwen2 built from the fields below
    tokenizer: str = "char"           # fresh student's tokenizer: char | bpe | teacher | a folder holding a tokenizer
    bpe_vocab: int = 256              # vocabulary size of a `bpe` tokenizer (trained on the kept traces)
    hidden: int = 64
    layers: int = 4
    heads: int = 4
    intermediate: int = 192
    max_positions: int = 256
    init_seed: int = 0
    template: str = "auto"            # how the student renders prompts (reasonrl.templates)
    prefill_think: bool = False
    dtype: str = "float32"
    device: str = "auto"
    attn_implementation: str = "eager"



@dataclass(frozen=True)
class DistillConfig:
    out: str = "runs/distill"
    seed: int = 0
    teacher: ModelConfig = field(default_factory=lambda: ModelConfig(path=""))  # "" = trace files only
    traces: tuple[str, ...] = ()      # existing trace JSONL files (prompt, completion, answer), re-verified
    task: TaskConfig = field(default_factory=TaskConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    sample: SamplingConfig = field(default_factory=SamplingConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)   # data.files is filled with the kept traces
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)
    eval: SFTEvalConfig = field(default_factory=SFTEvalConfig)



# Keys that may differ between a run directory's saved config and a resuming command.
RESUMABLE_CHANGES = ("train.steps", "train.time_budget_s", "train.threads", "eval.every",
                     "train.checkpoint_minutes", "verify.math_workers", "verify.code_parallel", "train.log_to",
                     "train.fsdp", "train.micro_batch_size", "train.gradient_checkpointing",
                     "train.diverge_window", "train.diverge_reward_drop", "train.diverge_heldout_drop",
                     "train.diverge_max_kl", "train.diverge_grad_factor", "train.stall_factor", "train.stall_min_s")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints widen to floats, lists become tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"config key '{key}': expected {_tname(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        (inner, *_rest) = typing.get_args(tp)
        return tuple(_coerce(v, inner, key) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):     # YAML 1.1 reads "3e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config key '{key}': expected {_tname(tp)}, got {value!r}")


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known: {', '.join(sorted(known))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name] or {}, f"{prefix}{f.name}.")
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, prefix + f.name)
    try:
        return cls(**kwargs)
    except ValueError as e:          # a section's own validation (__post_init__)
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}': {e}") from None


def parse_overrides(overrides: list[str]) -> dict:
    """`["algo.preset=dapo", "train.steps=5"]` -> nested dict; values parsed as YAML scalars/lists."""
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"override key '{key}' must be 'name' or 'section.name'")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override key '{key}' conflicts with another override")
        node[parts[-1]] = value
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, cls: type = Config):
    """Read YAML (optional), apply dotted overrides, type-check, resolve the algorithm preset."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file '{p}' does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"config file '{p}{where}': not valid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{p}': top level must be a mapping")
    data = _merge(data, parse_overrides(thread_alias(overrides or [], cls)))
    try:
        cfg = _build(cls, data, "")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    check_ranges(cfg, path, overrides or [])
    return resolve(cfg) if cls is Config else cfg


def resolve(cfg: Config) -> Config:
    """Fill the algorithm axes from the preset and validate cross-field constraints."""
    from reasonrl.algo.presets import resolve_algo

    cfg = replace(cfg, algo=resolve_algo(cfg.algo))
    if len(cfg.reward.functions) != len(cfg.reward.weights):
        raise ConfigError(
            f"config keys 'reward.functions' and 'reward.weights' differ in length "
            f"({len(cfg.reward.functions)} vs {len(cfg.reward.weights)})")
    for key, value in (("rollout.num_generations", cfg.rollout.num_generations),
                       ("train.prompts_per_step", cfg.train.prompts_per_step),
                       ("train.micro_batch_size", cfg.train.micro_batch_size),
                       ("rollout.max_new_tokens", cfg.rollout.max_new_tokens)):
        if value < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {value}")
    from reasonrl.templates import TEMPLATES
    if cfg.model.template not in TEMPLATES:
        raise ConfigError(f"config key 'model.template': unknown template '{cfg.model.template}' "
                          f"(choose from {', '.join(TEMPLATES)})")
    if cfg.rollout.server_kind not in SERVER_KINDS:
        raise ConfigError(f"config key 'rollout.server_kind': unknown server kind '{cfg.rollout.server_kind}' "
                          f"(choose from {', '.join(SERVER_KINDS)})")
    if not cfg.rollout.server_url.startswith(("http://", "https://")):
        raise ConfigError(f"config key 'rollout.server_url' must start with http:// or https://, "
                          f"got {cfg.rollout.server_url!r}")
    if cfg.rollout.server_timeout_s <= 0 or cfg.rollout.server_retries < 1:
        raise ConfigError("config keys 'rollout.server_timeout_s'/'rollout.server_retries' must be > 0 / >= 1, "
                          f"got {cfg.rollout.server_timeout_s}/{cfg.rollout.server_retries}")
    if cfg.rollout.temperature <= 0:
        raise ConfigError("config key 'rollout.temperature' must be > 0 for RL sampling")
    if cfg.rollout.top_p < 1.0 or cfg.rollout.top_k > 0:
        raise ConfigError("config keys 'rollout.top_p'/'rollout.top_k' must stay 1.0/0 for training: "
                          "truncated sampling makes the trainer's logprobs differ from the sampler's")
    n = cfg.train.prompts_per_step * cfg.rollout.num_generations
    if n % cfg.algo.mini_batches:
        raise ConfigError(f"config key 'algo.mini_batches' ({cfg.algo.mini_batches}) must divide "
                          f"prompts_per_step * num_generations ({n})")
    return cfg


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def flat_items(cfg: Config) -> dict[str, Any]:
    """{'train.steps': 60, ...} for comparisons and printing."""
    out = {}
    for k, v in to_dict(cfg).items():
        if isinstance(v, dict):
            out.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- the command-line form of a config
def split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """`[CONFIG.yaml] [key=value ...]` -> (the config file or None, the overrides)."""
    config = None
    overrides = []
    for it in items:
        if "=" in it:
            overrides.append(it)
        elif config is None:
            config = it
        else:
            raise ConfigError(f"unexpected argument '{it}' (overrides are key=value)")
    return config, overrides


def defaults_help(cls: type) -> str:
    """Every option of a config class with its default, for a command's --help."""
    lines = []
    for k, v in to_dict(cls()).items():
        if isinstance(v, dict):
            lines += [f"  {k}.{k2}={v2}" for k2, v2 in v.items()]
        else:
            lines.append(f"  {k}={v}")
    return "options (key=default):\n" + "\n".join(lines)


# ---------------------------------------------------------------- value ranges of every numeric key
# Checked by load_config before anything runs or is written. A rule is (low, low_inclusive, high,
# high_inclusive), None = unbounded. A key is looked up by its dotted name ("train.lr"), then by its
# last part ("lr"); a numeric key listed nowhere must be >= 0 (no setting of this package is negative).
_AT_LEAST_1, _POSITIVE, _UNIT = (1, True, None, False), (0, False, None, False), (0, True, 1, True)
_BELOW_1, _UP_TO_1 = (0, True, 1, False), (0, False, 1, True)
RANGES: dict[str, tuple] = {
    **dict.fromkeys((
        "rollout.max_new_tokens", "rollout.server_retries", "train.prompts_per_step", "train.micro_batch_size",
        "train.checkpoint_every", "train.keep_checkpoints", "train.batch_size", "train.epochs", "train.log_every",
        "algo.epochs", "algo.mini_batches", "task.heldout_size", "data.max_length", "eval.max_new_tokens",
        "prompts.count", "steps", "sample.k", "sample.max_new_tokens", "sample.batch_prompts", "batch_size", "hidden",
        "layers", "heads", "intermediate", "gate_chunk_steps", "eval_size", "bpe_vocab", "max_positions",
        "verify.code_cpu_s", "verify.code_memory_mb", "verify.code_procs", "verify.code_file_mb",
        "verify.code_output_kb"), _AT_LEAST_1),
    **dict.fromkeys(("lr", "rollout.temperature", "sample.temperature", "eval.temperature", "max_grad_norm",
                     "rollout.server_timeout_s", "algo.tis_cap", "algo.tis_high", "verify.math_timeout_s",
                     "verify.code_wall_s", "lora_alpha"), _POSITIVE),
    **dict.fromkeys(("top_p", "rollout.vllm_gpu_memory"), _UP_TO_1),
    **dict.fromkeys(("lora_dropout", "adam_beta1", "adam_beta2", "algo.clip_low"), _BELOW_1),
    **dict.fromkeys(("min_lr_ratio", "worked_share", "anneal_share", "anneal_frac", "gate_accuracy",
                     "filter.min_language_share", "diverge_reward_drop", "diverge_heldout_drop",
                     "curriculum_accuracy"), _UNIT),
    **dict.fromkeys(("min_terms", "max_terms"), (2, True, None, False)),   # walk chains: pad_terms is 0 or >= max_terms
    **dict.fromkeys(("curriculum_steps", "curriculum_window"), _AT_LEAST_1),
    "algo.dual_clip": (1, False, None, False),
    "reward.weights": (None, False, None, False),       # a negative weight is a penalty
    "train.steps": (0, True, None, False),              # SFT: 0 = from epochs (RL: RL_RANGES)
}
# RL runs (sections rollout and algo): a step needs >= 2 completions per prompt, a table needs an evaluation
RL_RANGES: dict[str, tuple] = {"train.steps": _AT_LEAST_1, "eval.size": _AT_LEAST_1,
                               "rollout.num_generations": (2, True, None, False)}
_WHY = {"rollout.num_generations": " (group advantages of one completion are always 0: nothing would train)"}


def check_ranges(cfg: Any, path: str | Path | None = None, overrides: list[str] = ()) -> None:
    """Raise a one-line ConfigError for the first value out of its range, naming the key and, when the
    value came from the config file, the file and line. `out` may not be empty where it names a run."""
    given = parse_overrides(list(overrides))
    rl = hasattr(cfg, "rollout") and hasattr(cfg, "algo")
    for key, value, default in _leaves(cfg):
        rule = (RL_RANGES.get(key) if rl else None) or RANGES.get(key) \
            or RANGES.get(key.rsplit(".", 1)[-1], (0, True, None, False))
        bad = next((v for v in (value if isinstance(value, tuple) else (value,)) if _outside(v, rule)), None)
        if key == "out" and default and not str(value).strip():
            raise ConfigError(_where(path, key, given) + "config key 'out' must name a run directory, got ''")
        if bad is not None:
            raise ConfigError(_where(path, key, given) + f"config key '{key}' must be {_describe(rule)}, "
                              f"got {bad}{_WHY.get(key, '')}")


def _leaves(cfg: Any, prefix: str = ""):
    """(dotted key, value, default) of every field, two levels deep."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value, f.default


def _outside(v: Any, rule: tuple) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    lo, lo_in, hi, hi_in = rule
    return bool(v != v or (lo is not None and (v < lo or (v == lo and not lo_in)))
                or (hi is not None and (v > hi or (v == hi and not hi_in))))


def _describe(rule: tuple) -> str:
    lo, lo_in, hi, hi_in = rule
    low = f"{'>=' if lo_in else '>'} {lo}"
    return low if hi is None else f"in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"


def _where(path: str | Path | None, key: str, given: dict) -> str:
    """'FILE:LINE: ' when `key` was set in the config file (not by an override), else ''."""
    node: Any = given
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if path is None or node is not None:
        return ""
    try:
        node = yaml.compose(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return f"{path}: "
    for part in key.split("."):
        node = next((v for k, v in node.value if k.value == part), None) \
            if isinstance(node, yaml.MappingNode) else None
    return f"{path}:{node.start_mark.line + 1}: " if node is not None else f"{path}: "


def summary_line(cfg: Any, saved: str | Path) -> str:
    """The resolved config in one line (the full YAML is in `saved`; printed in full with -v)."""
    import os

    if os.environ.get("REASONRL_VERBOSE"):
        return dump_yaml(cfg).rstrip()
    flat = flat_items(cfg)
    keys = ("model.path", "task.name", "algo.preset", "train.steps", "train.prompts_per_step",
            "rollout.num_generations", "train.epochs", "train.batch_size", "sample.k", "prompts.count")
    shown = ", ".join(f"{k}={flat[k]}" for k in keys if k in flat)
    return f"config: {saved} ({shown}; all settings there, or run with -v)"


def thread_alias(overrides: list[str], cls: type) -> list[str]:
    """`threads=N` is accepted by every command: it names train.threads where threads live there."""
    if "threads" in {f.name for f in fields(cls)}:
        return overrides
    return [("train." + o) if o.startswith("threads=") else o for o in overrides]
