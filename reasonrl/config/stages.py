"""The sections of the other training commands: pretrain, sample (rejection sampling), sft, distill."""
from __future__ import annotations

from dataclasses import dataclass, field

from reasonrl.config.sections import ModelConfig, OptimConfig, TaskConfig


# `reasonrl pretrain` (reasonrl.train.pretrain): the tiny base model of the embedded default
@dataclass(frozen=True)
class PretrainConfig:
    out: str = "runs/pretrain"        # where the HF folder is written
    seed: int = 1
    arch: str = "dense"               # dense (Qwen2) | moe (DeepSeek-V3 style) -- reasonrl.models.TINY_BUILDERS
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
    partial_share: float = 0.0        # share of worked batches written as partial scratchpads (first j of n values)
    partial_stop: float = 0.0         # 0: j uniform in 1..n-1; > 0: stop before each value with this chance (0 <= j <= n)
    init: str = ""                    # continue from this base ('embedded' or a pretrain folder) instead of scratch
    recheck_share: float = 0.0        # share of worked batches written as a guess + ' wait ' + full scratchpad
    guess_first: bool = False         # terse answers and re-checks write the guess first (<think>A?</think>, <think>A? wait)



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
