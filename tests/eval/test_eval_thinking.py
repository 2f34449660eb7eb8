"""Thinking probe: where the reasoning is cut (hand values), and the probe on the embedded model with
a scripted backend whose answer is the last value of its reasoning, so the curve is known."""
import pytest
import torch

from reasonrl.config import ConfigError
from reasonrl.eval.benchmarks import Benchmark, BenchmarkSpec
from reasonrl.eval.textgen import LocalCompleter
from reasonrl.eval.thinking import cut, forced_prefix, parse_fractions, probe_one, reflection
from reasonrl.templates import Renderer
from reasonrl.types import Generations, Sample


def test_cut_and_forced_prefix_hand_values():
    assert cut("5,3,3,1", 0.5) == "5,3,"            # 3.5 -> 4 chars "5,3," ends at a comma
    assert cut("5,3,3,1", 0.3) == "5,"              # 2 chars "5," already at a boundary
    assert cut("55,33", 0.5) == "55"                # 2 chars "55", followed by a comma: whole
    assert cut("abcdef", 0.5) == ""                 # no boundary before the cut
    assert cut("5,3", 1.0) == "5,3" and cut("5,3", 0.0) == ""
    assert forced_prefix("<think>5,3,3,1</think><answer>1</answer>", 0.5) == "<think>5,3,</think>"
    assert forced_prefix("x<think>a b</think>y", 0.0) == "x<think></think>"
    assert forced_prefix("<think>open", 0.5) is None and forced_prefix("no think", 1.0) is None


def test_fractions_parse_and_refuse_bad_values():
    assert parse_fractions("1,0,.5,0.5") == [0.0, 0.5, 1.0]
    for bad in ("a,b", "1.5", ""):
        with pytest.raises(ConfigError, match="fractions"):
            parse_fractions(bad)


def test_reflection_counts_changed_answers_fixes_and_breaks():
    s = [Sample("q", "4", "exact")] * 3
    texts = ["<answer>3</answer> wait, check: <answer>4</answer>", "<answer>4</answer> wait <answer>5</answer>",
             "<answer>4</answer>"]
    r = reflection(texts, s, ["4", "5", "4"], [True, False, True])
    assert (r["reflect/responses"], r["reflect/readable"], r["reflect/changed"]) == (2, 2, 2)
    assert (r["reflect/fixes"], r["reflect/breaks"]) == (1, 1)


class Scripted:
    """A backend that reasons 1,2,3,4 then answers the last number of its reasoning: forced at f the
    answer is the last number kept; the gold is 4, so only f = 1 (and the full answer) is right."""
    model = type("M", (), {"config": None})()
    tokenizer = None

    def generate(self, prompts, n=1, **kw):
        texts = []
        for p in prompts:
            if p.endswith("</think>"):
                kept = p.rsplit("<think>", 1)[1][:-len("</think>")].strip(",").split(",")
                texts.append(f"<answer>{kept[-1] or 0}</answer>")
            else:
                texts.append("<think>1,2,3,4</think><answer>4</answer>")
        z = torch.zeros(len(texts), 1, dtype=torch.long)
        return Generations(z, z, z, torch.ones_like(z), torch.zeros(len(texts), dtype=torch.bool), texts)


def test_probe_curve_of_a_scripted_model():
    samples = [Sample("q1", "4", "exact"), Sample("q2", "4", "exact")]
    bench = Benchmark("b", BenchmarkSpec("b"), "b", samples, ["a", "b"])
    comp = LocalCompleter(Scripted(), Renderer(None, "raw"))
    summary, rows = probe_one(comp, bench, k=2, sampling=dict(temperature=1.0, top_p=1.0, top_k=0,
                                                               max_new_tokens=20, greedy=False),
                              fractions=[0, 0.5, 1], seed=0, answer_tokens=8)
    acc = {f: r["acc"] for f, r in summary["fractions"].items()}
    assert acc == {"0": 0.0, "0.5": 0.0, "1": 1.0} and summary["full"]["acc"] == 1.0
    assert summary["with_thinking"] == 4 and len(rows) == 12
    assert {r["forced"] for r in rows if r["fraction"] == 0.5} == {"<think>1,2,</think><answer>2</answer>"}
