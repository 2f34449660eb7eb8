"""The sections of `reasonrl train` (model, task, rollout, algo, reward, train, eval, verify) and the
optimiser section that RL and SFT share. Each field: a default and a comment saying what it does."""
from __future__ import annotations

from dataclasses import dataclass, field

from reasonrl.verifiers.settings import VerifierSettings


@dataclass(frozen=True)
class ModelConfig:
    path: str = "embedded"            # a local HF causal-LM folder, or "embedded" / "embedded-moe" (the shipped tiny bases)
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
    threads: int = 0                  # train.async_staleness >= 1: the rollout worker's CPU threads; 0 = half the machine
    routing_replay: bool = False      # MoE policies: the training forward reuses the experts the sampler chose


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
    async_staleness: int = 0          # 0 = synchronous; k >= 1: a rollout worker samples ahead with weights <= k steps old


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
