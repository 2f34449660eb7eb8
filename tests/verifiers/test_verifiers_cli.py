"""`reasonrl verify`: verdicts written beside each row, the summary, and one-line user errors."""
import argparse
import json

from reasonrl.verifiers import cli as verify_cli


def _run(argv):
    p = argparse.ArgumentParser()
    verify_cli.add_parser(p.add_subparsers())
    args = p.parse_args(["verify", *argv])
    return args.fn(args)


def test_verify_writes_verdicts_and_summary(tmp_path, capsys):
    src = tmp_path / "outs.jsonl"
    rows = [{"gold": "3", "out": "<think>1+2</think><answer>3</answer>", "ok": True},
            {"gold": "\\frac12", "out": "so the answer is 0.5", "ok": True},
            {"gold": "7", "out": "no idea", "ok": False},
            {"gold": "", "out": "1", "ok": False}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "v.jsonl"
    assert _run([str(src), "--gold-field", "gold", "--response-field", "out", "--out", str(out),
                 "--label-field", "ok", "--workers", "1"]) == 0
    got = [json.loads(line)["verdict"] for line in out.read_text().splitlines()]
    assert [(v["status"], v["answer"]) for v in got] == [("correct", "3"), ("correct", "0.5"),
                                                        ("unparseable", None), ("dropped", None)]
    assert got[1]["reason"].startswith("last number (fallback): numeric")
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert (summary["scored"], summary["correct"], summary["unparseable"], summary["dropped"]) == (3, 2, 1, 1)
    assert summary["labels"]["agreement"] == 1.0
    text = capsys.readouterr().out
    assert "accuracy 66.67% of scored rows" in text and "agreement with labels 100.00% (3/3)" in text


def test_help_lists_every_option_with_its_default(capsys):
    p = argparse.ArgumentParser()
    verify_cli.add_parser(p.add_subparsers())
    try:
        p.parse_args(["verify", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    for opt in ("--verifier", "--extract", "--label-field", "--out", "--limit", "--workers", "--timeout-s",
                "--no-strict", "--code-score", "--code-wall-s", "--show"):
        assert opt in text
    assert "(default: math)" in text and "(default: 5.0)" in text


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from reasonrl.cli import main

    src = tmp_path / "x.jsonl"
    src.write_text('{"a": 1}\n')
    assert main(["verify", str(src), "--gold-field", "nope", "--response-field", "a"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"reasonrl: error: {src}:1: no row has field 'nope' (gold field); first row has: a"
