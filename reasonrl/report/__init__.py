"""`reasonrl report RUN_DIR`: the run report, one self-contained HTML page (RUN_DIR/report.html).

It shows the held-out numbers before and after, the training curves (reward and accuracy, held-out
accuracy, response length split by correct and incorrect answers, KL, entropy, clip fraction,
reflective-word frequency, reflection fixes and breaks, failure rates), reward-hacking alarms, the
cost ledger beside the DeepSeek-R1 paper's bill, sample completions from the start, middle and end
of training, and the resolved config. Plots are matplotlib PNGs embedded as base64; the page loads
nothing from the network. Any run directory renders: a missing metric skips its plot with a note.

Departs from the paper: the paper's figures are per-benchmark (AIME pass@1, cons@16); here the curves
are whatever the run logged, on its own held-out split.

CPU:   reasonrl report runs/tiny-walk                      # writes runs/tiny-walk/report.html
       reasonrl report runs/tiny-walk --png report.png     # also a screenshot (needs headless Chromium)
GPUs:  the same command on the run directory (it reads files only; no model is loaded)
"""
from reasonrl.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
