"""The run report counts the answer verifier's verdicts by status over all rollouts."""
import json

from reasonrl.report.html import build_report


def test_verdicts_by_status_table(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward/mean": 0.5}) + "\n")
    statuses = ["correct", "wrong", "crashed", "wrong", "violation"]
    (tmp_path / "rollouts.jsonl").write_text("".join(
        json.dumps({"step": 1, "prompt": "p", "completion": "c", "reward": 0.0, "status": s}) + "\n" for s in statuses))
    page = build_report(tmp_path)
    section = page.split("<h2>Verdicts by status</h2>")[1].split("<h2>")[0]
    assert ">wrong</td><td class=\"num\">2<" in section and ">crashed</td><td class=\"num\">1<" in section
    assert section.index(">wrong<") < section.index(">correct<")      # most frequent first
    (tmp_path / "rollouts.jsonl").unlink()
    assert "Verdicts by status" not in build_report(tmp_path)
