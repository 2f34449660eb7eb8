"""Report figures: one PNG per panel, drawn from metrics rows with matplotlib's object API (no pyplot,
no global state, the Agg canvas), so reports render in any process, headless or not."""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reasonrl.report.telemetry import REFLECTIVE_WORDS


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    series: tuple[tuple[str, str], ...]      # (metrics key, legend label)
    percent: bool = False                    # y axis as a share in [0, 1]


PANELS = (
    Panel("Reward and training accuracy", "per step",
          (("reward/mean", "reward (mean)"), ("acc/train", "accuracy (train)"),
           ("acc/first_pass", "first-pass accuracy"))),
    Panel("Held-out accuracy", "accuracy", (("acc/heldout", "greedy"), ("acc/heldout_sampled", "sampled")), True),
    Panel("Response length", "tokens",
          (("len/mean", "all"), ("len/correct", "correct answers"), ("len/incorrect", "incorrect answers"),
           ("len/heldout_sampled", "held-out (sampled)"))),
    Panel("KL to the reference model", "KL per token", (("kl", "kl"),)),
    Panel("Entropy", "nats per token", (("entropy", "entropy"),)),
    Panel("Clip fraction", "share of tokens", (("clip/low", "clipped low"), ("clip/high", "clipped high")), True),
    Panel("Reflective words", "per 1k tokens",
          (("reflect/per1k", "all ten words"),) + tuple((f"reflect/{w}_per1k", w) for w in REFLECTIVE_WORDS)),
    Panel("Reflection outcomes", "responses per step",
          (("reflect/fixes", "fixes (wrong -> right)"), ("reflect/breaks", "breaks (right -> wrong)"))),
    Panel("Failure rates", "share of responses",
          (("truncated/rate", "truncated"), ("format/fail_rate", "format failure"),
           ("repetition/rate", "repetition"), ("lang/mixed_rate", "language mixing")), True),
)


def series(rows: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the rows holding a finite number under `key`."""
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(float(r.get("step", i)))
            ys.append(float(v))
    return xs, ys


def _smooth(ys: list[float], k: int) -> list[float]:
    """Trailing mean over k points (k = 1 returns ys)."""
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y - (ys[i - k] if i >= k else 0.0)
        out.append(acc / min(i + 1, k))
    return out


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


# A series shown only when another key was ever non-zero (first-pass accuracy equals the final one
# when no first-pass answer was read).
REQUIRES = {"acc/first_pass": "reflect/readable"}


def _present(rows: Sequence[dict], panel: Panel, max_lines: int = 6) -> list[tuple[str, str, list, list]]:
    """Series of the panel with data; all-zero per-word series are left out."""
    out = []
    for key, label in panel.series:
        xs, ys = series(rows, key)
        if xs and (key.endswith("_per1k") and key != "reflect/per1k" and not any(ys)):
            continue
        if key in REQUIRES and not any(series(rows, REQUIRES[key])[1]):
            continue
        if xs:
            out.append((key, label, xs, ys))
    return out[:max_lines]


def line_panel(rows: Sequence[dict], panel: Panel) -> bytes | None:
    """One panel as PNG bytes (500 x 300 px), or None when no series of it is in the rows."""
    from matplotlib.figure import Figure

    found = _present(rows, panel)
    if not found:
        return None
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    for _key, label, xs, ys in found:
        if len(xs) <= 25:
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=label)
            continue
        k = max(1, len(xs) // 20)
        (line,) = ax.plot(xs, ys, linewidth=0.8, alpha=0.35)
        ax.plot(xs, _smooth(ys, k), color=line.get_color(), linewidth=1.6, label=f"{label} (mean of {k})")
    ax.set_title(panel.title, fontsize=11)
    ax.set_xlabel("step")
    ax.set_ylabel(panel.ylabel)
    lo, top = min(min(ys) for *_, ys in found), max(max(ys) for *_, ys in found)
    if panel.percent:
        from matplotlib.ticker import PercentFormatter
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, min(1.02, max(0.05, top * 1.15)))
    elif lo >= 0:
        ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    if lo == top == 0:
        ax.text(0.5, 0.5, "all zero in this run", transform=ax.transAxes, ha="center", color="#777")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def phase_bars(seconds: dict) -> bytes | None:
    """Horizontal bars of wall-clock seconds per phase (cost ledger), or None if nothing was timed."""
    from matplotlib.figure import Figure

    items = [(k, v) for k, v in seconds.items() if v > 0]
    if not items:
        return None
    fig = Figure(figsize=(5.0, 0.6 + 0.35 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    total = sum(v for _, v in items)
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
    for i, (_k, v) in enumerate(items[::-1]):
        ax.text(v, i, f" {v:.1f} s ({v / total:.0%})", va="center", fontsize=8)
    ax.set_xlim(0, max(v for _, v in items) * 1.35)
    ax.set_xlabel("wall-clock seconds")
    ax.set_title("Where the time went", fontsize=11)
    return _png(fig)


def save_panels(rows: Sequence[dict], folder) -> list:
    """Write every panel that has data as FOLDER/<title-slug>.png (e.g. response-length.png)."""
    import re
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for p in PANELS:
        png = line_panel(rows, p)
        if png is not None:
            path = folder / (re.sub(r"[^a-z0-9]+", "-", p.title.lower()).strip("-") + ".png")
            path.write_bytes(png)
            written.append(path)
    return written
