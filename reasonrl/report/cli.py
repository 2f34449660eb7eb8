"""`reasonrl report RUN_DIR [--out FILE] [--price-per-hour X] [--devices N] [--png FILE] [--plots-dir DIR]`:
write the run's HTML report and print where it is and the cost ledger (see reasonrl.report)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    text = "write RUN_DIR/report.html (plots, telemetry, cost ledger, samples, config) and print the cost ledger"
    p = subparsers.add_parser("report", help=text, description=text,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `reasonrl train`")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where to write the HTML (None = RUN_DIR/report.html)")
    p.add_argument("--price-per-hour", type=float, metavar="USD", default=None,
                   help="US$ per device-hour for the cost ledger (None = the run's cost.json, else 2.0)")
    p.add_argument("--devices", type=int, metavar="N", default=None,
                   help="devices the run used (None = the run's cost.json, else 1)")
    p.add_argument("--png", metavar="FILE", default=None,
                   help="also save a screenshot of the page (needs headless Chromium)")
    p.add_argument("--plots-dir", metavar="DIR", default=None, help="also write each plot as DIR/<title>.png")
    p.set_defaults(fn=run)


def run(args) -> int:
    from reasonrl.report import cost
    from reasonrl.errors import UserError
    from reasonrl.report.html import ledger_for, read_jsonl, write_report

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"RUN_DIR '{run_dir}': no such directory")
    if args.price_per_hour is not None and args.price_per_hour < 0:
        raise UserError(f"--price-per-hour: must be >= 0, got {args.price_per_hour}")
    if args.devices is not None and args.devices < 1:
        raise UserError(f"--devices: must be >= 1, got {args.devices}")
    path = write_report(run_dir, args.out, price_per_hour=args.price_per_hour, devices=args.devices)
    print(f"report: {path}")
    ledger = ledger_for(run_dir, read_jsonl(run_dir / "metrics.jsonl"), args.price_per_hour, args.devices)
    print(cost.format_ledger(ledger))
    if args.plots_dir:
        from reasonrl.report.plots import save_panels

        for f in save_panels(read_jsonl(run_dir / "metrics.jsonl"), args.plots_dir):
            print(f"plot: {f}")
    if args.png:
        from reasonrl.report.render import screenshot

        shot = screenshot(path, args.png)
        print(f"screenshot: {shot}" if shot else "screenshot: skipped (no headless Chromium on PATH; "
                                                  "on Debian: apt-get install chromium-headless-shell)")
    return 0
