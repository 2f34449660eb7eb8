"""reasonrl.eval.presets: the paper's protocol pinned, per-benchmark k, and the protocol diff."""
import pytest

from reasonrl.config import ConfigError
from reasonrl.eval.benchmarks import BOXED_SUFFIX
from reasonrl.eval.presets import PRESETS, EvalRunConfig, departures, resolve


def proto(preset="r1", paper_k=16, n=500, suffix=BOXED_SUFFIX, **kw):
    return resolve(EvalRunConfig(preset=preset, **kw), bench_paper_k=paper_k, n_problems=n,
                   prompt_suffix=suffix, template="chat")


def test_r1_preset_is_the_papers_protocol():
    # R1 v1 §3 / README: T=0.6, top-p 0.95, 32,768 tokens; v2 D.1: k=64 AIME, 16 MATH-500. A drift fails here.
    r1 = PRESETS["r1"]
    assert (r1.temperature, r1.top_p, r1.top_k, r1.max_new_tokens, r1.greedy) == (0.6, 0.95, 0, 32768, False)
    assert proto(paper_k=16).k == 16 and proto(paper_k=64, n=30).k == 64


def test_r1_k_by_size_where_the_paper_gives_none():
    assert (proto(paper_k=0, n=40).k, proto(paper_k=0, n=1319).k, proto(paper_k=0, n=500).k) == (64, 4, 16)
    assert "size rule" in proto(paper_k=0, n=40).k_rule


def test_paper_protocol_has_no_departures():
    p = proto(prefill_think=True)
    assert departures(p, math=True, verifiers=["math"]) == []


def test_quick_and_overrides_are_listed_as_departures():
    p = proto("quick", max_new_tokens=64)
    assert (p.k, p.max_new_tokens, p.temperature) == (4, 64, 0.6)
    d = departures(p, math=True, verifiers=["exact"])
    assert d[0].startswith("answers checked by exact")
    assert "max_new_tokens 64 (paper: 32768); long reasoning gets truncated and scored wrong" in d
    assert "k=4 samples per problem (paper: 16); pass@1 is noisier" in d
    assert any(x.startswith("no '<think>\\n' prefill") for x in d)
    d = departures(proto(temperature=1.0, suffix="", prefill_think=True), math=True)
    assert d == ["temperature 1.0 (paper: 0.6)",
                 "no 'put your final answer within \\boxed{}' instruction (paper/R1 README: added for maths)"]


def test_greedy_preset():
    p = proto("greedy")
    assert (p.greedy, p.k, p.max_new_tokens) == (True, 1, 32768)
    assert departures(p, math=False, verifiers=["exact"])[0].startswith("greedy decoding")
    with pytest.raises(ConfigError, match="greedy decoding gives one answer per problem; k=4"):
        proto("greedy", k=4)


@pytest.mark.parametrize("kw,message", [
    (dict(preset="fast"), "unknown preset"),
    (dict(temperature=0.0), "'temperature' must be > 0 when sampling"),
    (dict(batch_size=0), "'batch_size' must be >= 1"),
    (dict(k=-1), "'k' must be >= 1"),
])
def test_bad_settings(kw, message):
    with pytest.raises(ConfigError, match=message):
        proto(**kw)
