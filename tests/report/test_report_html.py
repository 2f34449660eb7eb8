"""The HTML report: built from any run directory; missing parts are skipped with a note."""
import json

import pytest

from reasonrl.errors import UserError
from reasonrl.report import build_report, write_report
from reasonrl.report.html import read_jsonl
from reasonrl.report.samples import pick_steps, probe, same_prompt_table


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run_dir(tmp_path):
    rows = [{"step": 0, "acc/heldout": 0.3}]
    for s in range(1, 7):
        rows.append({"step": s, "reward/mean": 0.1 * s, "acc/train": 0.05 * s, "len/mean": 10 + s, "kl": 0.001 * s,
                     "entropy": 0.5, "tokens/generated": 100, "time/generate_s": 1.0, "time/update_s": 0.5,
                     "time/step_s": 1.6, "reflect/per1k": 1.0, "reflect/wait_per1k": 1.0})
    rows[3]["acc/heldout"] = 0.4
    rows[6]["acc/heldout"] = 0.2        # reward (mean of steps 1-3 vs 1-6) rose 0.2 -> 0.35; held-out fell 0.4 -> 0.2
    _jsonl(tmp_path / "metrics.jsonl", rows)
    (tmp_path / "config.yaml").write_text("out: x\nseed: 0\n")
    _jsonl(tmp_path / "samples.jsonl", [{"step": s, "prompt": p, "answer": "1", "completion": f"<answer>{s}</answer>",
                                         "status": "wrong"} for s in (0, 3, 6) for p in ("1+0=", "2-1=")])
    return tmp_path


def test_report_sections_and_skips(tmp_path):
    page = build_report(_run_dir(tmp_path), price_per_hour=4.0)
    # reward/acc, held-out, length, KL, entropy, reflective words, and the phase bars
    assert page.count("<img ") == 7
    assert "not plotted: Clip fraction" in page and "not plotted: Failure rates" in page
    assert "reward-hacking alarm at step 6" in page
    assert "$4/device-hour" in page and "147,000 GPU-h" in page
    assert page.count("<code>&lt;answer&gt;3&lt;/answer&gt;</code>") == 2     # same two prompts at step 3
    assert "<pre>out: x\nseed: 0\n</pre>" in page
    assert "no summary.json" in page
    assert "http" not in page.replace("http-equiv", "")   # self-contained: nothing fetched


def test_report_of_bare_run_dir(tmp_path):
    _jsonl(tmp_path / "metrics.jsonl", [{"step": 0, "acc/heldout": 0.5}])
    path = write_report(tmp_path)
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert "no samples.jsonl or rollouts.jsonl" in page and "(no config.yaml)" in page


def test_bad_inputs_name_file_and_line(tmp_path):
    with pytest.raises(UserError, match="metrics.jsonl: not found"):
        build_report(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\n{oops\n')
    with pytest.raises(UserError, match=r"metrics.jsonl:2: not valid JSON"):
        read_jsonl(tmp_path / "metrics.jsonl")


def test_pick_steps_and_same_prompt_table():
    assert pick_steps([5, 1, 3, 9, 7]) == [1, 5, 9]
    assert pick_steps([2, 2, 4]) == [2, 4]
    rows = [{"step": 0, "prompt": "a"}, {"step": 0, "prompt": "b"}, {"step": 5, "prompt": "a"}]
    steps, table = same_prompt_table(rows)
    assert steps == [0, 5]
    assert [(p, [c is not None for c in cells]) for p, _, cells in table] == [("a", [True, True]), ("b", [True, False])]


def test_probe_is_greedy_and_scored():
    from types import SimpleNamespace

    from reasonrl.types import Sample

    class Backend:
        def generate(self, prompts, **kw):
            self.kw = kw
            return SimpleNamespace(texts=["<answer>1</answer>" for _ in prompts])

    b = Backend()
    rows = probe(b, [Sample("1+0=", "1"), Sample("2+0=", "2"), Sample("3+0=", "3")], max_new_tokens=9, k=2)
    assert b.kw["greedy"] is True and b.kw["max_new_tokens"] == 9
    assert [(r["prompt"], r["status"]) for r in rows] == [("1+0=", "correct"), ("2+0=", "wrong")]


@pytest.mark.slow
def test_smoke_report_of_a_real_run(tmp_path):
    from reasonrl.config import load_config
    from reasonrl.train import rl

    cfg = load_config(None, ["train.steps=2", "train.prompts_per_step=2", "rollout.num_generations=4",
                             "eval.size=8", "eval.every=1", "rollout.max_new_tokens=30", f"out={tmp_path}"])
    rl.train(cfg, log=lambda *_: None)
    page = write_report(tmp_path).read_text()
    assert page.count("<img ") >= 6                      # reward, held-out, length, KL, entropy, ..., phases
    assert "867,840" in page                             # parameters read from final/model.safetensors
    assert "Sample completions" in page and "Resolved config" in page
