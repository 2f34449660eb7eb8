"""Rejection sampling: readability checks by hand, the drop order, selection, and a smoke run that
resumes by batch."""
import json

import pytest

from reasonrl.config import ConfigError, load_config
from reasonrl.train import rejection
from reasonrl.train.rejection import FilterConfig, SampleConfig, judge, longest_repeat, select
from reasonrl.types import Sample

GOOD = "<think>1,2</think><answer>2</answer>"


def test_longest_repeat_hand_computed():
    assert longest_repeat("abcabcabcx") == (9, 3)          # "abc" x3 covers 9 chars
    assert longest_repeat("5,3,3,3,1") == (7, 3)           # ",3" x3 plus the unit's head: ",3,3,3," = 7 chars
    assert longest_repeat("wait wait wait wait ok") == (20, 4)
    assert longest_repeat("abcd") == (0, 0)


@pytest.mark.parametrize("completion,status,truncated,fcfg,reason", [
    (GOOD, "correct", True, FilterConfig(), "runaway_length"),
    (GOOD, "correct", False, FilterConfig(max_tokens=5), "runaway_length"),
    ("<answer>2</answer>", "correct", False, FilterConfig(), "missing_tags"),
    ("<think>1,3</think><answer>3</answer>", "wrong", False, FilterConfig(), "wrong"),
    ("<think></think>", "unparseable", False, FilterConfig(require_tags=False), "unparseable"),
    ("<think></think><answer>2</answer>", "correct", False, FilterConfig(require_reasoning=True), "no_reasoning"),
    ("<think>" + "so " * 10 + "</think><answer>2</answer>", "correct", False, FilterConfig(), "repetition"),
    # 1 Latin word ("ok") and 4 Han words: English share 1/5 < 0.95
    ("<think>ok 所以答案</think><answer>2</answer>", "correct", False, FilterConfig(), "language_mixing"),
    ("<think>所以答案</think><answer>2</answer>", "correct", False, FilterConfig(language="zh"), None),
    ("<think>ok 所以答案</think><answer>2</answer>", "correct", False, FilterConfig(language=""), None),
    (GOOD, "correct", False, FilterConfig(), None),
])
def test_judge_gives_the_first_failing_reason(completion, status, truncated, fcfg, reason):
    s = Sample("1+1=", "2")
    assert judge(completion, s, status=status, truncated=truncated, n_tokens=10, fcfg=fcfg) == reason


def _row(prompt, completion, tokens, reason=None):
    return {"prompt": prompt, "completion": completion, "tokens": tokens, "reason": reason}


def test_select_dedupes_then_keeps_the_shortest():
    rows = [_row("a", "x1", 5), _row("a", "x1", 5), _row("a", "x22", 3), _row("b", "y", 4, "wrong"),
            _row("b", "z", 9)]
    kept = select(rows, FilterConfig(keep="shortest"))
    assert [(r["prompt"], r["completion"]) for r in kept] == [("a", "x22"), ("b", "z")]
    assert [r["reason"] for r in rows] == ["not_shortest", "duplicate", None, "wrong", None]
    rows = [_row("a", f"c{i}", i) for i in range(3)]
    assert len(select(rows, FilterConfig(max_per_prompt=2))) == 2 and rows[2]["reason"] == "over_cap"


def test_summary_counts_add_up():
    rows = [_row("a", "x", 1), _row("a", "y", 1, "wrong"), _row("b", "y", 1, "repetition")]
    rows[0]["status"] = "correct"
    s = rejection.summarize(rows, rows[:1])
    assert (s["samples"], s["kept"], s["problems"], s["problems_with_kept"]) == (3, 1, 2, 1)
    assert s["dropped"] == {"wrong": 1, "repetition": 1} and s["pass_rate"] == pytest.approx(1 / 3)


def test_bad_filter_keep_is_a_config_error(tmp_path):
    cfg = load_config(None, [f"out={tmp_path}", "filter.keep=longest"], cls=SampleConfig)
    with pytest.raises(ConfigError, match="filter.keep"):
        rejection.run_sample(cfg, log=lambda *_: None)


def test_smoke_sample_writes_sft_ready_traces_and_resumes(tmp_path):
    out = tmp_path / "s"
    cfg = load_config(None, [f"out={out}", "prompts.count=6", "sample.k=3", "sample.batch_prompts=4",
                             "sample.max_new_tokens=30"], cls=SampleConfig)
    s1 = rejection.run_sample(cfg, log=lambda *_: None)
    assert s1["samples"] == 18 and s1["kept"] + sum(s1["dropped"].values()) == 18 and s1["kept"] > 0
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["batch-00000.jsonl", "batch-00001.jsonl"]
    traces = [json.loads(x) for x in (out / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == s1["kept"] and all({"prompt", "completion", "answer"} <= set(t) for t in traces)
    (out / "parts" / "batch-00001.jsonl").unlink()          # a run killed before its second batch ...
    s2 = rejection.run_sample(cfg, log=lambda *_: None)     # ... resumes there with the same result
    assert s2 == s1
    from reasonrl.train.sft import read_examples
    assert len(read_examples([out / "traces.jsonl"])) == len(traces)


def test_filter_files_rejudges_existing_traces(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"prompt": "1+1=", "completion": GOOD, "answer": "2"}) + "\n"
                 + json.dumps({"prompt": "1+1=", "completion": GOOD.replace(">2<", ">3<"), "answer": "2"}) + "\n")
    s = rejection.filter_files([f], tmp_path / "out", FilterConfig(), log=lambda *_: None)
    assert s["kept"] == 1 and s["dropped"] == {"wrong": 1}
