"""bench/aha.py's window: mean re-check rates over a span of steps (steps without a guess left out),
fixes and breaks summed, and the per-level rates."""
import pytest

from bench_module import load_bench

bench = load_bench("aha")


def test_window_means_rates_and_sums_fixes():
    rows = [{"step": 0, "acc/heldout_sampled": 0.5},
            {"step": 1, "recheck/rate": 0.1, "recheck/given_wrong": 0.2, "recheck/given_right": None,
             "reflect/fixes": 3, "reflect/breaks": 1, "acc/train": 0.4, "len/mean": 8.0,
             "recheck/rate/terms=4": 0.0, "recheck/guess_acc/terms=4": 0.5},
            {"step": 2, "recheck/rate": 0.3, "recheck/given_wrong": 0.4, "recheck/given_right": 0.1,
             "reflect/fixes": 5, "reflect/breaks": 0, "acc/train": 0.6, "len/mean": 12.0,
             "recheck/rate/terms=4": 0.5, "recheck/guess_acc/terms=4": 0.7,
             "recheck/rate/terms=10": 0.2, "recheck/guess_acc/terms=10": 0.3},
            {"step": 3, "recheck/rate": 0.9}]
    w = bench.window(rows, 1, 2)
    assert w["given_wrong"] == pytest.approx(0.3, abs=1e-12) and w["given_right"] == 0.1   # None left out
    assert w["rate"] == pytest.approx(0.2, abs=1e-12) and (w["fixes"], w["breaks"]) == (8, 1)
    assert w["acc_train"] == pytest.approx(0.5, abs=1e-12) and w["len"] == 10.0
    assert list(w["levels"]) == ["terms=4", "terms=10"]                                  # by chain length
    assert w["levels"]["terms=4"] == {"rate": 0.25, "guess_acc": pytest.approx(0.6, abs=1e-12)}
    assert w["levels"]["terms=10"] == {"rate": 0.2, "guess_acc": 0.3}
    assert bench.window(rows, 5, 9)["rate"] is None


def test_every_base_recipe_is_a_valid_pretrain_config():
    from reasonrl.config import PretrainConfig, load_config

    for name, recipe in bench.BASES.items():
        cfg = load_config(None, ["out=x", *recipe["pretrain"]], cls=PretrainConfig)
        assert cfg.recheck_share > 0, name
