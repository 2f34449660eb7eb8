"""Build RUN_DIR/report.html: one self-contained page (plots embedded as base64 PNGs, no scripts, no
network) from whatever the run directory holds; a missing file or metric skips its part with a note."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path

from reasonrl.report import cost
from reasonrl.errors import UserError
from reasonrl.report import plots
from reasonrl.report.samples import rollout_picks, same_prompt_table
from reasonrl.report.telemetry import hacking_alarms

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;
color:#222;line-height:1.4}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.6em}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid img{width:500px;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:0.92em}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.85em}pre{background:#f7f7f7;padding:8px;
overflow-x:auto}.c{white-space:pre-wrap;word-break:break-all;max-width:330px}.warn{color:#a00}.note{color:#777}
.correct{color:#070}.wrong,.unparseable{color:#a00}"""


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file ([] if absent); a bad line is a UserError naming file and line."""
    if not path.exists():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(header: list[str], rows: list[list[str]], num_cols: tuple[int, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if j in num_cols else f"<td>{c}</td>"
                                    for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def run_meta(run_dir: Path) -> dict:
    """n_params, devices, device and price from cost.json; n_params else from the exported weights."""
    meta = json.loads((run_dir / "cost.json").read_text()) if (run_dir / "cost.json").exists() else {}
    if not meta.get("n_params"):
        folders = [run_dir / "final"] + sorted(run_dir.glob("checkpoints/step-*"), reverse=True)
        for folder in folders:
            files = sorted(folder.glob("*.safetensors"))
            counts = [cost.params_from_safetensors(f) for f in files]
            if files and None not in counts:
                meta["n_params"] = sum(counts)
                break
    return meta


def ledger_for(run_dir: Path, rows: list[dict], price_per_hour: float | None = None,
               devices: int | None = None) -> cost.Ledger:
    """The run's cost ledger; explicit price/devices override what the run recorded."""
    meta = run_meta(run_dir)
    return cost.ledger_from_metrics(
        rows, n_params=meta.get("n_params"), device=meta.get("device", ""),
        devices=devices or meta.get("devices") or 1,
        price_per_hour=price_per_hour if price_per_hour is not None else meta.get("price_per_hour", 2.0))


def _plots_section(rows: list[dict], ledger: cost.Ledger) -> str:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ('<h2>Training curves</h2><p class="note">not plotted: matplotlib is not installed '
                "(pip install -e '.[report]')</p>")
    imgs, skipped = [], []
    for p in plots.PANELS:
        png = plots.line_panel(rows, p)
        if png is None:
            skipped.append(f"{p.title} (no {', '.join(k for k, _ in p.series[:3])} in metrics.jsonl)")
        else:
            imgs.append(_img(png, p.title))
    bars = plots.phase_bars(ledger.seconds)
    if bars:
        imgs.append(_img(bars, "Where the time went"))
    note = "".join(f'<p class="note">not plotted: {html.escape(s)}</p>' for s in skipped)
    return f'<h2>Training curves</h2><div class="grid">{"".join(imgs)}</div>{note}'


def _summary_section(run_dir: Path) -> str:
    path = run_dir / "summary.json"
    if not path.exists():
        return '<h2>Before and after</h2><p class="note">no summary.json (the run has not finished)</p>'
    s = json.loads(path.read_text())
    b, a = s.get("before", {}), s.get("after", {})
    keys = [k for k in sorted(set(b) | set(a)) if k != "step" and not k.startswith("time/")]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    rows = [[html.escape(k), fmt(b.get(k)), fmt(a.get(k))] for k in keys]
    return "<h2>Before and after</h2>" + _table(["held-out metric", "before", "after"], rows, (1, 2))


def _alarms_section(rows: list[dict]) -> str:
    found = [m for i in range(len(rows)) for m in hacking_alarms(rows, i)]
    if not found:
        return ("<h2>Reward-hacking alarms</h2><p>none: held-out accuracy never fell while the reward rose, and "
                "length and entropy never jumped.</p>")
    items = "".join(f'<li class="warn">{html.escape(m)}</li>' for m in found[:30])
    more = f"<p>and {len(found) - 30} more</p>" if len(found) > 30 else ""
    return f"<h2>Reward-hacking alarms</h2><ul>{items}</ul>{more}"


def _status_section(run_dir: Path) -> str:
    """Verdicts of the answer verifier by status over all rollouts (attempted escapes show up here)."""
    counts: dict[str, int] = {}
    for r in read_jsonl(run_dir / "rollouts.jsonl"):
        counts[str(r.get("status", "?"))] = counts.get(str(r.get("status", "?")), 0) + 1
    if not counts:
        return ""
    rows = [[html.escape(k), str(v)] for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "<h2>Verdicts by status</h2>" + _table(["status", "rollouts"], rows, (1,))


def _cell(r: dict | None) -> str:
    if r is None:
        return '<span class="note">-</span>'
    st = html.escape(str(r.get("status", "")))
    extra = f" reward {r['reward']:.3g}" if isinstance(r.get("reward"), (int, float)) else ""
    text = html.escape(str(r.get("completion", "")))
    return f'<div class="c"><code>{text}</code></div><span class="{st}">{st}</span>{extra}'


def _samples_section(run_dir: Path) -> str:
    probe_rows = read_jsonl(run_dir / "samples.jsonl")
    if probe_rows:
        steps, table = same_prompt_table(probe_rows)
        body = [[f"<code>{html.escape(p)}</code> (gold <code>{html.escape(str(a))}</code>)"] + [_cell(c) for c in cells]
                for p, a, cells in table]
        return ("<h2>Sample completions: the same prompts over training</h2>"
                + _table(["prompt"] + [f"step {s}" for s in steps], body))
    picks = rollout_picks(read_jsonl(run_dir / "rollouts.jsonl"))
    if not picks:
        return '<h2>Sample completions</h2><p class="note">no samples.jsonl or rollouts.jsonl</p>'
    body = [[f"step {s}", f"<code>{html.escape(r.get('prompt', ''))}</code>", _cell(r)] for s, rs in picks for r in rs]
    return ("<h2>Sample completions</h2><p class='note'>from rollouts.jsonl: start, middle and end of training "
            "(the prompts differ between steps; samples.jsonl, when the run writes it, holds fixed prompts)</p>"
            + _table(["step", "prompt", "completion"], body))


def _cost_section(ledger: cost.Ledger) -> str:
    indent = lambda a: ("&emsp;" + html.escape(a.strip())) if a.startswith(" ") else html.escape(a)  # noqa: E731
    rows = [[indent(a), html.escape(b), html.escape(c)] for a, b, c in cost.ledger_rows(ledger)]
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in ledger.notes)
    return ("<h2>Cost ledger</h2>" + _table(["item", "this run", "DeepSeek-R1 (paper)"], rows, (1,)) + notes
            + '<p class="note">FLOPs: 2 x params per token forward, 6 x params forward+backward, real tokens only, '
              'no attention term, held-out evaluation not counted. Price: an assumption '
              '(<code>reasonrl report RUN_DIR --price-per-hour X</code>).</p>')


def build_report(run_dir: str | Path, *, price_per_hour: float | None = None, devices: int | None = None) -> str:
    """The report page for a run directory, as one HTML string."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").exists():
        raise UserError(f"{run_dir}/metrics.jsonl: not found (is '{run_dir}' a run directory of `reasonrl train`?)")
    rows = read_jsonl(run_dir / "metrics.jsonl")
    ledger = ledger_for(run_dir, rows, price_per_hour, devices)
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").exists() else "(no config.yaml)"
    steps = max((r.get("step", 0) for r in rows), default=0)
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f"<h1>reasonrl run report: {html.escape(run_dir.resolve().name)}</h1>",
             f'<p class="note">{html.escape(str(run_dir.resolve()))} | {steps} steps | made {when}</p>',
             _summary_section(run_dir), _plots_section(rows, ledger), _alarms_section(rows),
             _cost_section(ledger), _status_section(run_dir), _samples_section(run_dir),
             f"<h2>Resolved config</h2><pre>{html.escape(config)}</pre>"]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>reasonrl report: '
            f'{html.escape(run_dir.resolve().name)}</title><style>{CSS}</style></head><body>'
            + "\n".join(parts) + "</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None, *, price_per_hour: float | None = None,
                 devices: int | None = None) -> Path:
    """Write the report (default RUN_DIR/report.html) and return its path."""
    path = Path(out) if out else Path(run_dir) / "report.html"
    path.write_text(build_report(run_dir, price_per_hour=price_per_hour, devices=devices))
    return path
