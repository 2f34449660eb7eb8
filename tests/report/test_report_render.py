"""Open the report as a page: headless Chromium screenshots it and the plots are there (skipped
when no Chromium is installed; on Debian: apt-get install chromium-headless-shell)."""
import json

import pytest

from reasonrl.report import write_report
from reasonrl.report.render import find_browser, screenshot

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no headless Chromium on PATH")


def _plot_blue_pixels(png_path) -> int:
    """Pixels of matplotlib's first line colour (#1f77b4 = 31, 119, 180) in the screenshot."""
    import numpy as np
    from matplotlib.image import imread

    img = (imread(str(png_path))[..., :3] * 255).astype(int)
    return int((np.abs(img - np.array([31, 119, 180])).sum(axis=-1) < 40).sum())


def test_report_renders_with_its_plots(tmp_path):
    rows = [{"step": s, "reward/mean": 0.01 * s, "len/mean": 10 + s % 7, "kl": 0.001 * s, "entropy": 0.5 - 0.002 * s}
            for s in range(1, 41)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with_plots = screenshot(write_report(tmp_path), tmp_path / "page.png", width=1100, height=1400)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 0}) + "\n")
    without = screenshot(write_report(tmp_path), tmp_path / "empty.png", width=1100, height=1400)
    # four line panels drawn in the page; the page without metrics has none of that blue
    assert _plot_blue_pixels(with_plots) > 2000
    assert _plot_blue_pixels(without) < 50
