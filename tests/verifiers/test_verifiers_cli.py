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
    assert got[1]["reason"].startswith("final-answer phrase: numeric")
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert (summary["scored"], summary["correct"], summary["unparseable"], summary["dropped"]) == (3, 2, 1, 1)
    assert summary["statuses"] == {"correct": 2, "unparseable": 1}
    assert summary["labels"]["agreement"] == 1.0
    text = capsys.readouterr().out
    assert "verdicts by status: correct 2 | unparseable 1" in text
    assert "accuracy 66.67% of scored rows" in text and "agreement with labels 100.00% (3/3)" in text
    assert "warning: last-number fallback" not in text


PRECISION = [  # (gold, response): a number that appears last is not the answer
    ("3", "So the probability is 1/3."),
    ("5", "x = 2/5"),
    ("7", "it could be 3 or 7"),
]


def test_no_last_number_fallback_by_default_and_the_opt_in_warns(tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"gold": g, "out": r}) + "\n" for g, r in PRECISION))
    out = tmp_path / "v.jsonl"
    assert _run([str(src), "--gold-field", "gold", "--response-field", "out", "--out", str(out), "--workers", "1"]) == 0
    assert [json.loads(x)["verdict"]["status"] for x in out.read_text().splitlines()] == ["unparseable"] * 3
    assert "warning" not in capsys.readouterr().out
    assert _run([str(src), "--gold-field", "gold", "--response-field", "out", "--out", str(out), "--workers", "1",
                 "--extract", "lenient"]) == 0
    got = [json.loads(x)["verdict"] for x in out.read_text().splitlines()]
    # even the opt-in fallback reads the fraction whole and refuses a hedge
    assert [(v["status"], v["answer"]) for v in got] == [("wrong", "1/3"), ("wrong", "2/5"), ("unparseable", None)]
    text = capsys.readouterr().out
    assert "warning: last-number fallback on (--extract lenient): 2 answers were guessed" in text


def test_verdicts_go_beside_each_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for d, ans in (("a", "1"), ("b", "2")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "test.jsonl").write_text(json.dumps({"gold": "1", "out": f"\\boxed{{{ans}}}"}) + "\n")
        assert _run([str(tmp_path / d / "test.jsonl"), "--gold-field", "gold", "--response-field", "out",
                     "--workers", "1"]) == 0
    got = {d: json.loads((tmp_path / d / "test.verdicts.jsonl").read_text())["verdict"]["status"] for d in "ab"}
    assert got == {"a": "correct", "b": "wrong"} and not (tmp_path / "test.verdicts.jsonl").exists()
    assert (tmp_path / "a" / "test.verdicts.summary.json").is_file()


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


def test_empty_file_non_string_response_and_bad_bytes(tmp_path, capsys):
    from reasonrl.cli import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["verify", str(empty), "--gold-field", "a", "--response-field", "r"]) == 2
    assert capsys.readouterr().err.strip() == f"reasonrl: error: {empty}: no rows to grade (the file is empty)"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": "1", "r": "\\\\boxed{1}"}\n{"a": "1", "r": "\xff"}\n')
    assert main(["verify", str(bad), "--gold-field", "a", "--response-field", "r"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"reasonrl: error: {bad}:2: not UTF-8 text (byte 0xff") and "\n" not in err
    ints = tmp_path / "ints.jsonl"
    ints.write_text('{"a": "1", "r": "\\\\boxed{1}"}\n{"a": "1", "r": 1}\n')
    assert main(["verify", str(ints), "--gold-field", "a", "--response-field", "r", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "scored 1 | dropped (gold unusable or missing) 0 | bad rows (response not a string) 1" in text
    assert "line 2: bad_row: answer None: " in text
    rows = [json.loads(x)["verdict"] for x in (tmp_path / "ints.verdicts.jsonl").read_text().splitlines()]
    assert [v["status"] for v in rows] == ["correct", "bad_row"]


def test_a_read_only_input_folder_needs_out(tmp_path, capsys):
    from reasonrl.cli import main

    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "test.jsonl").write_text(json.dumps({"gold": "1", "out": "\\boxed{1}"}) + "\n")
    ro.chmod(0o555)
    try:
        assert main(["verify", str(ro / "test.jsonl"), "--gold-field", "gold", "--response-field", "out"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"reasonrl: error: {ro}: folder is not writable, so the verdicts cannot go beside "
                       f"{ro / 'test.jsonl'}; pass --out PATH")
        assert sorted(p.name for p in ro.iterdir()) == ["test.jsonl"]
    finally:
        ro.chmod(0o755)
