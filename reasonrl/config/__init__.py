"""Frozen dataclass configs: one section per concern, loaded from YAML with `a.b=value` overrides.

    cfg = load_config("configs/tiny.yaml", ["algo.preset=dapo", "train.steps=50"])

Every command's config lives in this package: `sections` (reasonrl train, and the optimiser section RL
and SFT share), `stages` (pretrain, sample, sft, distill), `load` (YAML, overrides, presets resolved,
printing), `ranges` (the range of every numeric key). Rules: two levels deep at most; unknown keys and
values of the wrong type or out of range are a `ConfigError` naming the key (and the file and line);
the resolved config (presets applied) is what runs and what is saved.
"""
from reasonrl.errors import ConfigError, UserError  # noqa: F401  (re-exported: reasonrl.config.ConfigError)
from reasonrl.config.sections import (AlgoConfig, Config, EvalConfig, ModelConfig, OptimConfig, RewardConfig,
    RolloutConfig, SERVER_KINDS, TaskConfig, TrainConfig)  # noqa: F401
from reasonrl.config.stages import (DistillConfig, FilterConfig, PretrainConfig, PromptsConfig, SFTConfig,
    SFTDataConfig, SFTEvalConfig, SFTTrainConfig, SampleConfig, SamplingConfig, StudentConfig)  # noqa: F401
from reasonrl.config.load import (RESUMABLE_CHANGES, defaults_help, dump_yaml, flat_items, load_config,
    parse_overrides, resolve, split_args, summary_line, thread_alias, to_dict)  # noqa: F401
from reasonrl.config.ranges import (RANGES, RL_RANGES, check_ranges, _describe, _outside)  # noqa: F401
