"""bench/algorithms.py's statistics: the 95% t-interval over seeds, the chance that two equal presets
have disjoint ranges, the separations and the per-preset table read from metrics rows."""
import pytest

from bench_module import load_bench

bench = load_bench("algorithms")


def test_band_is_the_t_interval_of_the_mean():
    # values 0.6, 0.7, 0.8: mean 0.7, sd 0.1, half width 4.303 * 0.1 / sqrt(3) = 0.24844
    m, lo, hi = bench.band([0.6, 0.7, 0.8])
    assert m == pytest.approx(0.7, abs=1e-12)
    assert (hi - m) == pytest.approx(4.303 * 0.1 / 3 ** 0.5, abs=1e-9) and (m - lo) == pytest.approx(hi - m, abs=1e-12)
    assert bench.band([0.5]) == (0.5, 0.5, 0.5)


def test_chance_of_disjoint_ranges():
    # 2 of the C(6, 3) = 20 ways to split 6 values into two sets of 3; 2 of C(8, 4) = 70 for 4 seeds
    assert bench.chance_disjoint(3) == pytest.approx(0.1, abs=1e-12)
    assert bench.chance_disjoint(4) == pytest.approx(2 / 70, abs=1e-12)


def _rows(values):
    """Metrics rows with sampled and greedy evaluations at steps 0, 10, 20, 30."""
    return [{"step": 10 * i, bench.KEY: v, "acc/heldout": 0.9} for i, v in enumerate(values)] + [{"step": 31}]


def test_table_and_separations():
    runs = {"a": {0: _rows([0.2, 0.5, 0.6, 0.7]), 1: _rows([0.2, 0.5, 0.6, 0.8])},
            "b": {0: _rows([0.2, 0.5, 0.6, 0.6]), 1: _rows([0.2, 0.5, 0.7, 0.65])}}
    table = bench.final_table(runs)
    assert table["a"]["sampled"] == [0.7, 0.8] and table["b"]["sampled"] == [0.6, 0.65]
    # last 3 evaluations per seed: a (0.5+0.6+0.7)/3 = 0.6, (0.5+0.6+0.8)/3 = 0.6333; b 0.5667, 0.6167
    assert table["a"]["tail"] == pytest.approx([0.6, 1.9 / 3], abs=1e-12)
    assert table["b"]["tail"] == pytest.approx([1.7 / 3, 1.85 / 3], abs=1e-12)
    seps = bench.separations(table)                    # final: a's range 0.7-0.8 above b's 0.6-0.65
    assert [(x, y) for x, y, _ in seps] == [("a", "b")] and seps[0][2] == pytest.approx(0.125, abs=1e-12)
    assert bench.separations(table, "tail") == []      # tails overlap: 0.6-0.633 vs 0.567-0.617
    cur = bench.curves(runs)["a"]
    assert cur["steps"] == [0.0, 10.0, 20.0, 30.0] and cur["mean"][3] == pytest.approx(0.75, abs=1e-12)


def test_a_rerun_that_trained_nothing_keeps_the_timing(tmp_path):
    import json

    path = tmp_path / "results.json"
    bench.write_results(path, {"wall_s": 900.0, "before": [2.0], "after": [2.5], "seeds": 3}, {"t": 1}, trained=True)
    bench.write_results(path, {"wall_s": 7.0, "before": [0.1], "after": [0.1], "seeds": 3}, {"t": 2}, trained=False)
    saved = json.loads(path.read_text())
    assert saved["info"] == {"wall_s": 900.0, "before": [2.0], "after": [2.5], "seeds": 3} and saved["t"] == 2
    bench.write_results(path, {"wall_s": 50.0, "before": [1.0], "after": [1.0]}, {}, trained=True)   # new training
    assert json.loads(path.read_text())["info"]["wall_s"] == 50.0
