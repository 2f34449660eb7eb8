"""Report figures: series extraction, smoothing, and panels that skip missing metrics."""
import math

from reasonrl.report import plots


def test_series_skips_missing_and_non_finite():
    rows = [{"step": 0, "kl": None}, {"step": 1, "kl": 0.5}, {"step": 2, "kl": math.nan}, {"step": 3, "kl": 1},
            {"step": 4, "kl": True}]
    assert plots.series(rows, "kl") == ([1.0, 3.0], [0.5, 1.0])


def test_smooth_trailing_mean():
    # k = 2: [1, (1+3)/2, (3+5)/2, (5+7)/2]
    assert plots._smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert plots._smooth([1.0, 3.0], 1) == [1.0, 3.0]


def test_line_panel_png_or_none():
    rows = [{"step": i, "kl": 0.01 * i} for i in range(60)]          # > 25 points: raw + smoothed lines
    kl_panel = next(p for p in plots.PANELS if p.title.startswith("KL"))
    png = plots.line_panel(rows, kl_panel)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    entropy_panel = next(p for p in plots.PANELS if p.title == "Entropy")
    assert plots.line_panel(rows, entropy_panel) is None


def test_all_zero_word_series_left_out():
    panel = next(p for p in plots.PANELS if p.title == "Reflective words")
    rows = [{"step": 1, "reflect/per1k": 2.0, "reflect/wait_per1k": 2.0, "reflect/but_per1k": 0.0}]
    assert [k for k, *_ in plots._present(rows, panel)] == ["reflect/per1k", "reflect/wait_per1k"]


def test_phase_bars():
    assert plots.phase_bars({"generate": 0.0}) is None
    assert plots.phase_bars({"generate": 3.0, "update": 1.0})[:4] == b"\x89PNG"


def test_first_pass_accuracy_only_with_readable_reflections():
    panel = plots.PANELS[0]
    rows = [{"step": 1, "acc/train": 0.5, "acc/first_pass": 0.5, "reflect/readable": 0}]
    assert [k for k, *_ in plots._present(rows, panel)] == ["acc/train"]
    rows.append({"step": 2, "acc/train": 0.6, "acc/first_pass": 0.4, "reflect/readable": 3})
    assert [k for k, *_ in plots._present(rows, panel)] == ["acc/train", "acc/first_pass"]
