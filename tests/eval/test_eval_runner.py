"""reasonrl.eval.runner: call planning, verification and voting, training-time metrics, output paths."""
from collections import defaultdict

import numpy as np
import pytest
import torch

from reasonrl.eval.benchmarks import Benchmark, BenchmarkSpec
from reasonrl.eval.metrics import maj_at_k_rows
from reasonrl.eval.runner import (VerifierMissing, check_verifiers, default_out, equivalence, heldout_metrics,
                                  plan_calls)
from reasonrl.templates import Renderer
from reasonrl.types import Generations, Sample
from reasonrl.verifiers import VERIFIERS


class ScriptedBackend:
    """Returns, for each prompt, the next completions of its script (and marks 'TRUNC' ones truncated)."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.used, self.calls = script, defaultdict(int), []

    def generate(self, prompts, *, n, temperature, top_p, top_k, max_new_tokens, greedy=False):
        self.calls.append(len(prompts) * n)
        texts = []
        for p in prompts:
            texts += self.script[p][self.used[p]:self.used[p] + n]
            self.used[p] += n
        lens = torch.tensor([len(t) for t in texts])
        mask = (torch.arange(int(lens.max()))[None, :] < lens[:, None]).long()
        return Generations(prompt_ids=torch.zeros(len(texts), 1), prompt_mask=torch.ones(len(texts), 1),
                           completion_ids=torch.zeros_like(mask), completion_mask=mask,
                           truncated=torch.tensor(["TRUNC" in t for t in texts]), texts=texts)


def test_plan_calls_covers_every_missing_sample_once_within_the_batch():
    missing = {0: [0, 1, 2, 3], 1: [2, 3], 2: [0, 1, 2, 3]}
    calls = plan_calls(missing, batch_size=3)
    # n=3: p0[0:3], p2[0:3] (one problem per call); n=2: p1[2,3]; n=1: p0[3], p2[3] together
    assert calls == [(3, [(0, [0, 1, 2])]), (3, [(2, [0, 1, 2])]), (2, [(1, [2, 3])]), (1, [(0, [3]), (2, [3])])]
    assert plan_calls(missing, batch_size=8) == [(4, [(0, [0, 1, 2, 3]), (2, [0, 1, 2, 3])]), (2, [(1, [2, 3])])]


def test_heldout_metrics_hand_values():
    samples = [Sample("p0", "1"), Sample("p1", "2")]
    backend = ScriptedBackend({"p0": ["<answer>1</answer>", "<answer>1</answer>", "<answer>3</answer>", "TRUNC"],
                               "p1": ["<answer>5</answer>"] * 4})
    m = heldout_metrics(backend, Renderer(None, "raw"), samples, k=4, temperature=1.0, max_new_tokens=8, batch_size=3)
    assert m["pass@1/heldout"] == pytest.approx(0.25, abs=1e-12)      # (2/4 + 0/4) / 2
    assert m["pass@4/heldout"] == pytest.approx(0.5, abs=1e-12)       # (1 + 0) / 2
    assert m["maj@4/heldout"] == pytest.approx(0.5, abs=1e-12)        # p0 votes "1" (2 of 3), p1 votes "5"
    assert m["truncated@4/heldout"] == pytest.approx(1 / 8, abs=1e-12)
    assert m["len@4/heldout"] == pytest.approx((7 * 18 + 5) / 8, abs=1e-12)  # 7 x 18-char "<answer>d</answer>", "TRUNC"
    assert max(backend.calls) <= 3


def test_equivalence_exact_and_code():
    same = equivalence("exact")
    assert same("5", " 5") and not same("5", "6")
    assert not equivalence("code")("def f(): return 1", "def f():  return 1")


@pytest.mark.skipif("math" not in VERIFIERS, reason="the math verifier is not registered yet")
def test_maj_at_k_through_the_math_verifier_counts_spellings_as_one_vote():
    same = equivalence("math")
    assert same("0.5", "1/2") and same("\\frac{1}{2}", "0.5") and not same("0.5", "2")
    answers = [["3", "1/2", "0.5", "3", "\\frac{1}{2}", None]]     # gold 1/2: three spellings vs "3" twice
    correct = np.array([[0, 1, 1, 0, 1, 0]])
    assert maj_at_k_rows(answers, correct, 6, same) == pytest.approx([1.0], abs=0)
    assert maj_at_k_rows(answers, correct, 6, equivalence("exact")) == pytest.approx([0.0], abs=0)  # "3" would win


def test_missing_verifier_is_named(monkeypatch):
    monkeypatch.delitem(VERIFIERS, "math", raising=False)
    bench = Benchmark("b", BenchmarkSpec("b"), "f.jsonl", [Sample("p", "1", verifier="math")], ["0"])
    with pytest.raises(VerifierMissing, match="benchmark 'b' \\(f.jsonl\\) needs verifier 'math', which is not "
                                              "registered in reasonrl.verifiers.VERIFIERS \\(registered: .*exact"):
        check_verifiers(bench)


def test_default_out_is_the_run_holding_the_model(tmp_path):
    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    (run / "final" / "config.json").write_text("{}")
    (run / "config.yaml").write_text("")
    (run / "metrics.jsonl").write_text("")
    assert default_out(str(run / "final")) == run
    assert str(default_out("embedded")) == "runs/eval"


def test_torn_line_and_error_verdicts_are_repaired(tmp_path):
    from reasonrl.eval.runner import read_samples, reverify_errors, write_samples

    row = {"id": "0", "sample": 0, "completion": "<answer>1</answer>", "answer": None, "gold": "1",
           "verdict": "error", "score": None, "reason": "pool died", "length": 5, "finish_reason": "stop"}
    f = tmp_path / "s.jsonl"
    f.write_text(json_line(row) + '{"id": "0", "sample": 1, "compl')          # killed mid-write
    rows = read_samples(f)
    assert list(rows) == [("0", 0)]
    bench = Benchmark("b", BenchmarkSpec("b"), "f", [Sample("p", "1")], ["0"])
    assert reverify_errors(rows, bench) == 1                                   # the exact verifier now answers
    assert (rows[("0", 0)]["verdict"], rows[("0", 0)]["answer"]) == ("correct", "1")
    write_samples(f, rows)
    assert f.read_text().count("\n") == 1 and read_samples(f) == rows


def json_line(row: dict) -> str:
    import json
    return json.dumps(row) + "\n"
