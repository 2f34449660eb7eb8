"""Presets: every field filled, names checked, the KL/beta reconciliation, range checks, warnings()
and describe() as exact strings."""
from dataclasses import fields

import pytest

from reasonrl.algo import advantages
from reasonrl.algo.presets import PRESETS, choices, describe, resolve_algo, warnings
from reasonrl.config import AlgoConfig
from reasonrl.errors import ConfigError


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_field_comes_from_the_preset(name):
    algo = resolve_algo(AlgoConfig(preset=name))
    for f in fields(algo):
        want = name if f.name == "preset" else PRESETS[name][f.name]
        assert getattr(algo, f.name) == want, (name, f.name)


def test_choices_read_the_registries(monkeypatch):
    assert choices() == {"advantage": ("group_zscore", "group_mean", "rloo", "batch_zscore"),
                         "surrogate": ("pg", "clip", "dual_clip", "gspo"),
                         "aggregation": ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "constant"),
                         "kl": ("none", "k1", "k2", "k3"),
                         "tis": ("none", "token", "sequence", "token_mask", "sequence_mask", "geo_mask")}
    monkeypatch.setitem(advantages.ADVANTAGES, "median", advantages.group_mean)
    assert resolve_algo(AlgoConfig(advantage="median")).advantage == "median"


def test_unknown_names_are_named():
    with pytest.raises(ConfigError, match=r"^config key 'algo.preset': unknown preset 'nope' "
                                          r"\(choose from grpo, r1, dr_grpo, dapo, rloo, gspo\)$"):
        resolve_algo(AlgoConfig(preset="nope"))
    with pytest.raises(ConfigError, match=r"^config key 'algo.kl': unknown choice 'k4' "
                                          r"\(choose from none, k1, k2, k3\)$"):
        resolve_algo(AlgoConfig(kl="k4"))


@pytest.mark.parametrize("preset,user,kl,beta", [
    ("grpo", dict(), "k3", 0.04),
    ("grpo", dict(kl="none"), "none", 0.0),              # KL off, beta left unset: beta becomes 0
    ("grpo", dict(kl="none", beta=0.0), "none", 0.0),
    ("grpo", dict(beta=0.0), "none", 0.0),               # beta 0: no KL estimator (no reference model)
    ("grpo", dict(kl="k1"), "k1", 0.04),
    ("r1", dict(beta=1.0), "k3", 1.0),
    ("dapo", dict(kl="k2"), "none", 0.0),                # the preset's beta is 0: the estimator is unused
    ("dapo", dict(kl="k2", beta=0.01), "k2", 0.01),
])
def test_kl_beta_reconciliation(preset, user, kl, beta):
    algo = resolve_algo(AlgoConfig(preset=preset, **user))
    assert (algo.kl, algo.beta) == (kl, beta)


@pytest.mark.parametrize("preset,user", [("grpo", dict(kl="none", beta=0.1)), ("grpo", dict(kl="none", beta=1.0)),
                                         ("dapo", dict(beta=0.05))])
def test_kl_none_with_a_user_beta_is_refused(preset, user):
    with pytest.raises(ConfigError, match=r"^config keys 'algo.kl=none' and 'algo.beta' > 0 contradict; "
                                          r"set a KL estimator$"):
        resolve_algo(AlgoConfig(preset=preset, **user))


RANGE = r"^config keys 'algo.overlong_buffer', 'algo.max_resample', 'algo.ref_reset_every' must be >= 0$"
STEPS = r"^config keys 'algo.epochs' and 'algo.mini_batches' must be >= 1$"


@pytest.mark.parametrize("user,message", [
    (dict(overlong_buffer=-1), RANGE), (dict(max_resample=-1), RANGE), (dict(ref_reset_every=-1), RANGE),
    (dict(tis_cap=0.0), r"^config key 'algo.tis_cap' must be > 0$"),
    (dict(epochs=0), STEPS), (dict(mini_batches=0), STEPS),
])
def test_range_checks(user, message):
    with pytest.raises(ConfigError, match=message):
        resolve_algo(AlgoConfig(**user))


def test_range_edges_are_legal():
    algo = resolve_algo(AlgoConfig(overlong_buffer=0, max_resample=0, ref_reset_every=0, tis_cap=0.5, epochs=1,
                                   mini_batches=1))
    assert algo.tis_cap == 0.5 and algo.epochs == 1


ON_POLICY = ("surrogate '{}' with one update per rollout batch is strictly on-policy: the ratio is 1 and "
             "clipping never acts (set algo.mini_batches or algo.epochs > 1 to use it)")


@pytest.mark.parametrize("user,warned", [
    (dict(), None),                                       # the preset's own recipe: no warning
    (dict(clip_high=0.3), "clip"),
    (dict(surrogate="dual_clip"), "dual_clip"),
    (dict(preset="rloo", surrogate="gspo"), "gspo"),
    (dict(preset="rloo", clip_low=0.1), None),            # pg has no ratio to clip
    (dict(clip_high=0.3, mini_batches=2), None),
    (dict(clip_high=0.3, epochs=2), None),
    (dict(clip_high=0.3, epochs=2, mini_batches=2), None),
])
def test_warnings(user, warned):
    out = warnings(resolve_algo(AlgoConfig(**user)))
    assert out == ([] if warned is None else [ON_POLICY.format(warned)])


def test_describe():
    assert describe(resolve_algo(AlgoConfig())) == (
        "preset=grpo advantage=group_zscore surrogate=clip aggregation=seq_mean_token_mean kl=k3 beta=0.04 "
        "clip=[0.2,0.2] epochs=1 mini_batches=1")
    assert describe(resolve_algo(AlgoConfig(preset="dapo", tis="token", tis_cap=3.0))) == (
        "preset=dapo advantage=group_zscore surrogate=clip aggregation=token_mean kl=none beta=0.0 "
        "clip=[0.2,0.28] epochs=1 mini_batches=1 tis=token(cap 3.0)")
