"""Presets: a named choice on each of the four axes (advantage, surrogate, aggregation, KL) plus the
defaults around them. A user setting wins over the preset; the resolved values are saved with the run.

Sources:
  grpo     DeepSeekMath (Shao et al. 2024): group z-score, clipped ratio, seq-mean-token-mean, k3 KL.
  r1       DeepSeek-R1 (2025) as GRPO with the paper's KL coefficient 0.001, scaled to small runs.
  dr_grpo  "Understanding R1-Zero-Like Training" (Liu et al. 2025): no std, constant normalizer, no KL.
  dapo     DAPO (Yu et al. 2025): clip-higher 0.2/0.28, token-mean, no KL, dynamic sampling, soft
           overlong punishment (buffer scaled down from 4096 to 8 tokens for tiny budgets).
  rloo     Ahmadian et al. 2024: leave-one-out baseline, plain policy gradient, seq-mean.
  gspo     GSPO (Zheng et al. 2025): sequence-level ratio, clip 3e-4/4e-4, seq-mean-token-mean.
"""
from __future__ import annotations

from dataclasses import fields, replace

from reasonrl.algo.advantages import ADVANTAGES
from reasonrl.algo.aggregation import AGGREGATIONS
from reasonrl.algo.kl import KL_ESTIMATORS
from reasonrl.algo.surrogates import SURROGATES
from reasonrl.algo.tis import TIS_WEIGHTS, is_mask
from reasonrl.errors import ConfigError

_COMMON = dict(dual_clip=3.0, std_floor=1e-4, epochs=1, mini_batches=1, mask_truncated=False,
               skip_zero_variance=True, dynamic_sampling=False, max_resample=0, overlong_buffer=0,
               overlong_penalty=1.0, ref_reset_every=0, tis="none", tis_cap=2.0,
               tis_low=0.5, tis_high=5.0)

PRESETS: dict[str, dict] = {
    "grpo": dict(_COMMON, advantage="group_zscore", surrogate="clip", aggregation="seq_mean_token_mean",
                 kl="k3", beta=0.04, clip_low=0.2, clip_high=0.2),
    "r1": dict(_COMMON, advantage="group_zscore", surrogate="clip", aggregation="seq_mean_token_mean",
               kl="k3", beta=0.001, clip_low=0.2, clip_high=0.2, ref_reset_every=400),
    "dr_grpo": dict(_COMMON, advantage="group_mean", surrogate="clip", aggregation="constant",
                    kl="none", beta=0.0, clip_low=0.2, clip_high=0.2),
    "dapo": dict(_COMMON, advantage="group_zscore", surrogate="clip", aggregation="token_mean",
                 kl="none", beta=0.0, clip_low=0.2, clip_high=0.28, mask_truncated=False,
                 dynamic_sampling=True, max_resample=3, overlong_buffer=8, overlong_penalty=1.0),
    "rloo": dict(_COMMON, advantage="rloo", surrogate="pg", aggregation="seq_mean_token_sum",
                 kl="none", beta=0.0, clip_low=0.2, clip_high=0.2),
    "gspo": dict(_COMMON, advantage="group_zscore", surrogate="gspo", aggregation="seq_mean_token_mean",
                 kl="none", beta=0.0, clip_low=3e-4, clip_high=4e-4),
}


def choices() -> dict[str, tuple[str, ...]]:
    """The legal names on each axis, read from the registries at call time (so a function
    registered at run time is a legal choice at once)."""
    return {"advantage": tuple(ADVANTAGES), "surrogate": tuple(SURROGATES), "aggregation": tuple(AGGREGATIONS),
            "kl": ("none", *KL_ESTIMATORS), "tis": ("none", *TIS_WEIGHTS)}


CHOICES = choices()     # the names shipped with the package (for documentation; resolve_algo reads choices())


def resolve_algo(algo):
    """Fill every None field of an AlgoConfig from its preset; check names. Returns a new AlgoConfig."""
    if algo.preset not in PRESETS:
        raise ConfigError(f"config key 'algo.preset': unknown preset '{algo.preset}' "
                          f"(choose from {', '.join(PRESETS)})")
    preset = PRESETS[algo.preset]
    user_beta = algo.beta
    filled = {f.name: preset[f.name] for f in fields(algo)
              if f.name != "preset" and getattr(algo, f.name) is None}
    algo = replace(algo, **filled)
    for axis, names in choices().items():
        if getattr(algo, axis) not in names:
            raise ConfigError(f"config key 'algo.{axis}': unknown choice '{getattr(algo, axis)}' "
                              f"(choose from {', '.join(names)})")
    if algo.kl == "none" and algo.beta != 0:
        algo = replace(algo, beta=0.0) if user_beta is None else algo     # kl=none, beta unset: no KL
        if algo.beta != 0:
            raise ConfigError("config keys 'algo.kl=none' and 'algo.beta' > 0 contradict; set a KL estimator")
    if algo.beta == 0 and algo.kl != "none":
        algo = replace(algo, kl="none")
    if algo.overlong_buffer < 0 or algo.max_resample < 0 or algo.ref_reset_every < 0:
        raise ConfigError("config keys 'algo.overlong_buffer', 'algo.max_resample', 'algo.ref_reset_every' must be >= 0")
    if algo.tis_cap <= 0:
        raise ConfigError("config key 'algo.tis_cap' must be > 0")
    if not 0 <= algo.tis_low < algo.tis_high:
        raise ConfigError(f"config keys 'algo.tis_low' and 'algo.tis_high' must satisfy 0 <= low < high, "
                          f"got [{algo.tis_low}, {algo.tis_high}]")
    if algo.epochs < 1 or algo.mini_batches < 1:
        raise ConfigError("config keys 'algo.epochs' and 'algo.mini_batches' must be >= 1")
    return algo


def warnings(algo) -> list[str]:
    """Configurations that are legal but probably not what the user meant."""
    out = []
    preset = PRESETS.get(algo.preset, {})     # a preset's own clip settings are its recipe, not a user choice
    chosen = any(getattr(algo, k) != preset.get(k) for k in ("surrogate", "clip_low", "clip_high", "dual_clip"))
    if chosen and algo.surrogate in ("clip", "dual_clip", "gspo") and algo.epochs * algo.mini_batches == 1:
        out.append(f"surrogate '{algo.surrogate}' with one update per rollout batch is strictly on-policy: "
                   f"the ratio is 1 and clipping never acts (set algo.mini_batches or algo.epochs > 1 to use it)")
    return out


def describe(algo) -> str:
    """One line naming the resolved choice on each axis (printed at start of a run)."""
    return (f"preset={algo.preset} advantage={algo.advantage} surrogate={algo.surrogate} "
            f"aggregation={algo.aggregation} kl={algo.kl} beta={algo.beta} "
            f"clip=[{algo.clip_low},{algo.clip_high}] epochs={algo.epochs} mini_batches={algo.mini_batches}"
            + (_describe_tis(algo) if algo.tis not in (None, "none") else ""))


def _describe_tis(algo) -> str:
    band = f"band [{algo.tis_low},{algo.tis_high}]" if is_mask(algo.tis) else f"cap {algo.tis_cap}"
    return f" tis={algo.tis}({band})"
