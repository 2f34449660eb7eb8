"""bench/length_growth.py's tables: window means of per-step metrics, their mean over seeds, and the
markdown rows the docs quote."""
import pytest

from bench_module import load_bench

bench = load_bench("length_growth")


def test_window_means_group_steps_1_to_20_21_to_40():
    rows = [{"step": 0, "k": 100.0}] + [{"step": s, "k": float(s)} for s in range(1, 41)] + [{"step": 41}]
    # steps 1..20 -> mean 10.5; 21..40 -> 30.5; step 0 (the evaluation before training) is left out
    assert bench.window_means(rows, "k") == {1: 10.5, 21: 30.5}
    assert bench.window_means(rows, "k", window=10)[31] == pytest.approx(35.5, abs=1e-12)
    assert bench.window_means(rows, "missing") == {}


def test_seed_mean_keeps_the_windows_every_seed_has():
    assert bench.seed_mean([{1: 0.2, 21: 0.4}, {1: 0.4}]) == {1: pytest.approx(0.3, abs=1e-12)}
    assert bench.seed_mean([]) == {}


def _run(scale):
    rows = []
    for s in range(1, 41):
        r = {"step": s, "scratch/partial": scale * 0.5, "len/intermediate": 0.5}
        for q in (10, 50, 90):
            r[f"len/p{q}"] = scale * q
            r[f"scratch/p{q}"] = scale * q / 100
        r["scratch/fraction/terms=4"] = scale
        r["len/p50/terms=4"] = 13.0
        rows.append(r)
    return rows + [{"step": 0, "acc/heldout_sampled": 0.3, "acc/heldout": 0.9},
                   {"step": 40, "acc/heldout_sampled": 0.7 * scale, "acc/heldout": 0.95}]


def test_summary_and_table_rows():
    s = bench.summary([_run(1.0), _run(0.5)])
    assert s["windows"]["len/p50"] == {1: 37.5, 21: 37.5}                       # (50 + 25) / 2
    assert s["levels"]["terms=4"]["fraction"] == {1: 0.75, 21: 0.75}
    assert s["levels"]["terms=5"]["fraction"] == {}                           # no rows for 5 terms
    assert s["heldout_sampled"] == [(0.3, 0.7), (0.3, 0.35)]
    table = bench.table_markdown({"curriculum": s, "control": s})
    assert "| 1-20 | curriculum | 7.5 / 37.5 / 67.5 | 0.08 / 0.38 / 0.68 | 0.38 | 0.50 |" in table, table
    levels = bench.levels_markdown({"control": s}, "control")
    assert "| 4 | 0.75 | 0.75 |" in levels and "| 5 | - | - |" in levels


def test_every_base_recipe_is_a_valid_pretrain_config():
    from reasonrl.config import PretrainConfig, load_config

    for name, args in bench.BASES.items():
        cfg = load_config(None, ["out=x", *args], cls=PretrainConfig)
        assert (cfg.min_terms, cfg.max_terms, cfg.pad_terms) == (bench.MIN, bench.MAX, bench.PAD), name
    assert load_config(None, ["out=x", *bench.BASES["partial"]], cls=PretrainConfig).partial_stop == 0.3
