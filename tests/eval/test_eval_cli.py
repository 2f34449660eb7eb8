"""`reasonrl eval` end to end on the CPU: the embedded tiny model on its own held-out task (a JSONL file
made here, and the task by name) and on GSM8K, a random tiny model on MATH-500; reuse of samples."""
import json
from pathlib import Path

import pytest

from reasonrl.cli import main
from reasonrl.config import TaskConfig
from reasonrl.eval.presets import EvalRunConfig
from reasonrl.tasks import make_task
from reasonrl.verifiers import VERIFIERS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "gsm8k" / "test.jsonl").is_file(), reason=f"no shared data at {DATA}")


def results(out: Path) -> list[dict]:
    return list(json.loads((out / "eval" / "summary.json").read_text())["results"].values())


@pytest.fixture(scope="module")
def walk_jsonl(tmp_path_factory) -> Path:
    """The walk task's first 8 held-out problems as a plain benchmark file."""
    f = tmp_path_factory.mktemp("data") / "walk_heldout.jsonl"
    rows = [{"id": f"walk-{i}", "problem": s.prompt, "answer": s.answer, "verifier": s.verifier}
            for i, s in enumerate(make_task(TaskConfig()).heldout()[:8])]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def test_smoke_embedded_model_on_walk_file_then_larger_k_reuses(walk_jsonl, tmp_path, capsys):
    args = ["eval", "--model", "embedded", "--data", str(walk_jsonl), "--preset", "quick",
            f"out={tmp_path}", "max_new_tokens=40", "bootstrap=200", "threads=1"]
    assert main(args) == 0
    (r,) = results(tmp_path)
    m = r["metrics"]
    assert (m["problems"], m["samples_per_problem"], r["generated_samples"]) == (8, 4, 32)
    assert 0 < m["pass@1"]["value"] <= m["pass@4"]["value"] <= 1       # the base model solves some walks
    assert m["pass@1"]["ci_low"] <= m["pass@1"]["value"] <= m["pass@1"]["ci_high"]
    p = r["protocol"]
    assert (p["preset"], p["temperature"], p["top_p"], p["max_new_tokens"], p["k"]) == ("quick", 0.6, 0.95, 40, 4)
    assert "truncation_rate" in m and r["departures_from_paper"]
    out = capsys.readouterr().out
    assert "pass@1" in out and "truncation rate" in out and "departs from the paper's protocol" in out
    rows = [json.loads(x) for x in Path(r["samples_file"]).read_text().splitlines()]
    assert set(rows[0]) >= {"id", "sample", "completion", "answer", "verdict", "length", "finish_reason"}

    assert main(args + ["k=6"]) == 0                                   # only the 2 new samples per problem
    (r6,) = results(tmp_path)
    assert (r6["metrics"]["samples_per_problem"], r6["generated_samples"]) == (6, 16)
    assert len(Path(r6["samples_file"]).read_text().splitlines()) == 48
    assert "32 samples reused, 16 to generate" in capsys.readouterr().out


def test_smoke_greedy_on_task_matches_training_heldout_eval(tmp_path):
    """`--data walk --preset greedy` renders and scores exactly like the training loop's held-out eval."""
    from reasonrl.eval.heldout import evaluate_heldout
    from reasonrl.models import load_model
    from reasonrl.rollout.hf import HFBackend
    from reasonrl.templates import Renderer

    assert main(["eval", "--data", "walk", "--preset", "greedy", "limit=16", "max_new_tokens=40",
                 f"out={tmp_path}", "bootstrap=0", "threads=1"]) == 0
    (r,) = results(tmp_path)
    model, tok = load_model("embedded")
    task = make_task(TaskConfig())
    ref = evaluate_heldout(HFBackend(model, tok), task, task.heldout()[:16], max_new_tokens=40, sampled=False,
                           render=Renderer(tok, "auto"))
    assert r["metrics"]["pass@1"]["value"] == pytest.approx(ref["acc/heldout"], abs=1e-12)
    assert r["departures_from_paper"][0].startswith("greedy decoding")


@needs_data
def test_smoke_embedded_model_on_gsm8k_file(tmp_path, capsys):
    assert main(["eval", "--model", "embedded", "--data", str(DATA / "gsm8k" / "test.jsonl"), "--preset", "quick",
                 "limit=3", "k=2", "max_new_tokens=24", f"out={tmp_path}", "bootstrap=100", "threads=1"]) == 0
    (r,) = results(tmp_path)
    assert r["benchmark"] == "gsm8k" and r["metrics"]["problems"] == 3 and r["verifiers"] == ["math"]
    rows = [json.loads(x) for x in Path(r["samples_file"]).read_text().splitlines()]
    assert all(x["length"] + len(x["completion"]) <= 256 or x["completion"] == "" for x in rows)
    assert r["metrics"]["pass@1"]["value"] <= 0.5                      # a walk model knows no word problems
    assert 0 <= r["metrics"]["truncation_rate"]["value"] <= 1
    deps = r["departures_from_paper"]
    assert "max_new_tokens 24 (paper: 32768); long reasoning gets truncated and scored wrong" in deps
    assert "truncation rate" in capsys.readouterr().out


@needs_data
def test_smoke_random_tiny_model_on_math500(tmp_path):
    from reasonrl.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=1,
                     max_positions=1024).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", "math500", "--preset", "quick", "limit=3",
                 "k=2", "max_new_tokens=16", "verifier=exact", f"out={tmp_path}", "bootstrap=0", "threads=1"]) == 0
    (r,) = results(tmp_path)
    m = r["metrics"]
    assert m["pass@1"]["value"] == 0.0 and m["maj@2"]["value"] == 0.0
    assert m["truncation_rate"]["value"] > 0.5                         # random weights rarely emit EOS
    assert r["departures_from_paper"][0] == ("answers checked by exact (paper: rule-based maths equivalence, "
                                             "verifier 'math')")
    assert set(r["groups"]) == {"Algebra", "Intermediate Algebra", "Precalculus"}   # math500 grouped by subject


def test_budget_capped_to_the_model_positions_in_one_line_and_a_prompt_too_long_refused(walk_jsonl, tmp_path, capsys):
    """The embedded model has 256 positions; the longer of these two walk prompts is 21 tokens (BOS
    included): 500 new tokens become 235, said once. A prompt that leaves no room is scored wrong
    without generating; when none fits, a one-line error."""
    assert main(["eval", "--data", str(walk_jsonl), "--preset", "greedy", "limit=2", "max_new_tokens=500",
                 f"out={tmp_path}", "bootstrap=0", "threads=1"]) == 0
    out = capsys.readouterr().out
    notes = [x for x in out.splitlines() if x.startswith("note:")]
    assert notes == ["note: max_new_tokens 500 capped to 235: the longest prompt (21 tokens) leaves that much "
                     "of the model's 256 positions"]
    (r,) = results(tmp_path)
    assert r["protocol"]["max_new_tokens"] == 235
    assert max(json.loads(x)["length"] for x in Path(r["samples_file"]).read_text().splitlines()) <= 235
    f = tmp_path / "long.jsonl"
    long_row = json.dumps({"id": "long", "problem": "1+" * 200 + "1", "answer": "201"}) + "\n"
    f.write_text(long_row + json.dumps({"id": "short", "problem": "1+1", "answer": "2"}) + "\n")
    assert main(["eval", "--data", str(f), "--preset", "greedy", "max_new_tokens=300", f"out={tmp_path}",
                 "verifier=exact", "bootstrap=0"]) == 0
    out = capsys.readouterr().out
    assert "note: 1 of 2 long prompts leave fewer than 64 of the model's 256 positions: scored wrong" in out
    (r,) = [x for x in results(tmp_path) if x["benchmark"] == "long"]
    rows = {x["id"]: x for x in map(json.loads, Path(r["samples_file"]).read_text().splitlines())}
    assert rows["long"]["verdict"] == "wrong" and rows["long"]["reason"].startswith("too_long: a 402-token prompt")
    assert r["metrics"]["problems"] == 2 and r["protocol"]["max_new_tokens"] < 300
    f.write_text(long_row)
    assert main(["eval", "--data", str(f), "--preset", "greedy", f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "the model has 256 positions (max_position_embeddings): nothing fits" in err and err.count("\n") == 1


def test_progress_bar_on_stderr(walk_jsonl, tmp_path, capsys):
    assert main(["eval", "--data", str(walk_jsonl), "--preset", "quick", "k=2", "max_new_tokens=30",
                 f"out={tmp_path}", "bootstrap=0", "threads=1", "batch_size=4"]) == 0
    err = capsys.readouterr().err.splitlines()
    bars = [x for x in err if x.startswith("walk_heldout [")]
    assert bars[-1].startswith("walk_heldout [####################] 16/16 samples")
    assert 1 < len(bars) <= 10                      # not a terminal: one line per tenth done, at most


def test_missing_verifier_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delitem(VERIFIERS, "math", raising=False)
    f = tmp_path / "q.jsonl"
    f.write_text('{"problem": "1+1", "answer": "2"}\n')
    assert main(["eval", "--data", str(f), f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reasonrl: error: benchmark 'q'") and "needs verifier 'math'" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("args,message", [
    (["--data", "walk", "steps=3"], "unknown config key 'steps'"),
    (["--data", "walk", "nonsense"], "unexpected argument 'nonsense'"),
    (["--data", "nonesuch"], "--data 'nonesuch': no such file"),
    (["--data", "walk", "--preset", "greedy", "k=3"], "greedy decoding gives one answer"),
    (["--model", "/no/such/dir", "--data", "walk"], "model path '/no/such/dir' does not exist"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    assert main(["eval", *args, f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    for name in EvalRunConfig.__dataclass_fields__:
        assert f"  {name}=" in out
    assert "r1: T=0.6 top-p=0.95 max_new_tokens=32768 k=per benchmark" in out


def test_help_lists_only_task_names_that_run_without_a_file(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    line = next(x for x in capsys.readouterr().out.splitlines() if "task names:" in x)
    names = line.split("task names:")[1].split(";")[0]
    assert "walk" in names and "dataset" not in names and "--data FILE" in line
