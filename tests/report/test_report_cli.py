"""`reasonrl report RUN_DIR`: writes the page, prints the ledger; bad input is one line and exit 2."""
import json

from reasonrl.cli import main


def test_report_command(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward/mean": 0.5, "tokens/generated": 360,
                                                        "time/step_s": 36.0}) + "\n")
    assert main(["report", str(tmp_path), "--devices", "2", "--price-per-hour", "5", "--plots-dir",
                 str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'}" in out
    # 36 s x 2 devices = 0.02 device-hours; x $5 = $0.1; 360 tokens / $0.1 = 3,600 tokens per $
    assert "0.02" in out and "$0.1 " in out and "3,600" in out
    assert (tmp_path / "report.html").exists()
    assert [f.name for f in (tmp_path / "plots").iterdir()] == ["reward-and-training-accuracy.png"]


def test_report_bad_run_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reasonrl: error: RUN_DIR") and "no such directory" in err[0]
    assert main(["report", str(tmp_path)]) == 2
    assert "metrics.jsonl: not found" in capsys.readouterr().err


def test_report_help_lists_defaults(capsys):
    try:
        main(["report", "--help"])
    except SystemExit:
        pass
    out = " ".join(capsys.readouterr().out.split())      # argparse wraps lines
    for opt in ("--out", "--price-per-hour", "--devices", "--png", "--plots-dir"):
        assert opt in out
    assert out.count("(default: None)") == 5
