"""Contract tests of the vLLM backend against a FAKE `vllm` module (vLLM cannot be installed here).

The fake implements the documented surface the backend uses: `vllm.LLM(model=..., dtype=...,
gpu_memory_utilization=..., enable_prefix_caching=..., logprobs_mode=..., seed=...)`,
`LLM.generate(prompts | [{"prompt_token_ids": ...}], SamplingParams(...))` -> RequestOutput with
`.outputs[i].token_ids / .logprobs (list of {token_id: Logprob}) / .finish_reason`, `LLM.apply_model`
and `llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights=...)`.
Its engine is a separate copy of the tiny embedded model, so weights only change when pushed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import torch

from reasonrl.algo.logprobs import sequence_logprobs
from reasonrl.config import ConfigError
from reasonrl.models import eos_ids, load_model
from reasonrl.rollout import make_backend
from reasonrl.rollout.fast import process_logits
from reasonrl.rollout.hf import encode_prompts

PROMPTS = ["walk: 3 4", "walk: 1"]


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 16
    logprobs: int | None = None
    seed: int | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)


class FakeModel:
    """What `model_runner.model` is in vLLM: the engine's nn.Module with `load_weights`."""

    def __init__(self, module):
        self.module = module

    @torch.no_grad()
    def load_weights(self, weights):
        params = self.module.state_dict()
        loaded = set()
        for name, t in weights:
            params[name].copy_(t)
            loaded.add(name)
        return loaded


class FakeLLM:
    """An engine over its own copy of the embedded model; logprobs honour `logprobs_mode`."""
    instances: list["FakeLLM"] = []

    def __init__(self, model: str, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
                 enable_prefix_caching: bool = False, logprobs_mode: str = "raw_logprobs", seed: int = 0):
        self.in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"
        self.applied = 0
        self.kwargs = dict(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                           enable_prefix_caching=enable_prefix_caching, logprobs_mode=logprobs_mode, seed=seed)
        module, self.tok = load_model(model, device="cpu")
        self.worker_model = FakeModel(module)
        self.llm_engine = SimpleNamespace(model_executor=SimpleNamespace(driver_worker=SimpleNamespace(
            model_runner=SimpleNamespace(model=self.worker_model))))
        self.eos = eos_ids(module, self.tok)
        self.calls: list[SamplingParams] = []
        FakeLLM.instances.append(self)

    def apply_model(self, func):
        self.applied += 1
        return [func(self.worker_model)]

    @torch.no_grad()
    def _sample(self, ids: list[int], sp: SamplingParams, gen: torch.Generator) -> list[CompletionOutput]:
        """sp.n samples of one prompt, decoded together (full forward each step; tiny model)."""
        greedy = sp.temperature < 1e-5
        temp = 1.0 if greedy else sp.temperature
        processed = self.kwargs["logprobs_mode"] == "processed_logprobs"
        seqs = torch.tensor([ids] * sp.n)
        toks, lps = [[] for _ in range(sp.n)], [[] for _ in range(sp.n)]
        done = [False] * sp.n
        for _ in range(sp.max_tokens):
            logits = self.worker_model.module(input_ids=seqs).logits[:, -1].float()          # (n, V)
            if greedy:      # vLLM: greedy rows report logprobs at temperature 1
                nxt, lp = logits.argmax(-1), torch.log_softmax(logits, dim=-1)
            else:           # vLLM: processed = log_softmax after temperature and top-k/top-p
                scores = process_logits(logits, temp, max(sp.top_k, 0), sp.top_p)
                nxt = torch.multinomial(scores.softmax(-1), 1, generator=gen).squeeze(1)
                lp = torch.log_softmax(scores if processed else logits, dim=-1)
            for j in range(sp.n):
                if not done[j]:
                    tok = int(nxt[j])
                    toks[j].append(tok)
                    lps[j].append({tok: Logprob(logprob=float(lp[j, tok]), rank=1)})
                    done[j] = tok in self.eos
            if all(done):
                break
            seqs = torch.cat([seqs, nxt[:, None]], 1)
        return [CompletionOutput(j, self.tok.decode(toks[j]), toks[j], lps[j] if sp.logprobs is not None else None,
                                 "stop" if done[j] else "length") for j in range(sp.n)]

    def generate(self, prompts, sampling_params: SamplingParams, use_tqdm: bool = True):
        self.calls.append(sampling_params)
        gen = torch.Generator().manual_seed(sampling_params.seed or 0)
        outs = []
        for p in prompts:
            ids = list(p["prompt_token_ids"]) if isinstance(p, dict) else self.tok(p).input_ids
            outs.append(RequestOutput(ids, self._sample(ids, sampling_params, gen)))
        return outs


class FakeLLMWithoutApplyModel(FakeLLM):
    """An older vLLM: weights only through the driver worker's model runner."""
    apply_model = property(lambda self: (_ for _ in ()).throw(AttributeError("apply_model")))


def fake_vllm(llm_cls=FakeLLM) -> types.ModuleType:
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = llm_cls, SamplingParams
    return mod


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny forwards are far faster on one thread on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def engine_env(monkeypatch):
    """VLLM_ENABLE_V1_MULTIPROCESSING absent during each test (the backend sets it), restored after."""
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "x")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")


@pytest.fixture
def policy():
    return load_model("embedded", device="cpu")


@pytest.fixture
def backend(policy, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm())
    return make_backend("vllm", *policy)


def trainer_logp(model, gen, temperature):
    ids = torch.cat([gen.prompt_ids, gen.completion_ids], 1)
    mask = torch.cat([gen.prompt_mask, gen.completion_mask], 1)
    with torch.no_grad():
        return sequence_logprobs(model, ids, mask, gen.prompt_ids.shape[1], temperature)[0]


def test_contract_importing_reasonrl_does_not_import_vllm():
    code = ("import sys, reasonrl, reasonrl.rollout, reasonrl.train.rl, reasonrl.cli; "
            "assert 'vllm' not in sys.modules and 'reasonrl.rollout.vllm' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_contract_missing_vllm_is_a_one_line_config_error(policy, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)       # `import vllm` raises ImportError
    with pytest.raises(ConfigError) as e:
        make_backend("vllm", *policy)
    msg = str(e.value)
    assert "\n" not in msg and "rollout.backend" in msg and "pip install -e '.[vllm]'" in msg


def test_contract_engine_settings_and_sampling_params(backend, policy):
    llm = backend.llm
    assert llm.kwargs["logprobs_mode"] == "processed_logprobs" and llm.kwargs["enable_prefix_caching"]
    assert llm.in_process
    assert llm.kwargs["model"] == policy[0].name_or_path and llm.kwargs["dtype"] == "float32"
    backend.generate(PROMPTS, n=2, temperature=0.7, top_p=0.9, top_k=5, max_new_tokens=3)
    backend.generate(PROMPTS, n=1, temperature=0.7, top_p=0.9, top_k=0, max_new_tokens=3, greedy=True)
    s, g = llm.calls
    assert (s.n, s.temperature, s.top_p, s.top_k, s.max_tokens, s.logprobs) == (2, 0.7, 0.9, 5, 3, 0)
    assert (g.temperature, g.top_p, g.top_k) == (0.0, 1.0, -1) and s.seed != g.seed


def test_contract_settings_come_from_the_rollout_config(policy, monkeypatch):
    from reasonrl.config import load_config
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm())
    cfg = load_config(None, ["rollout.backend=vllm", "rollout.vllm_gpu_memory=0.55", "rollout.vllm_dtype=bfloat16",
                             "rollout.vllm_seed=7"])
    b = make_backend(cfg.rollout.backend, *policy, cfg.rollout)
    kw = b.llm.kwargs
    assert (kw["gpu_memory_utilization"], kw["dtype"], kw["seed"]) == (0.55, "bfloat16", 7)
    b.generate(PROMPTS, n=1, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=2)
    assert b.llm.calls[0].seed == 7 + 1          # request r (counted from 1) of the run: vllm_seed + r


def test_contract_tokens_masks_texts_shapes(backend, policy):
    model, tok = policy
    n = 3
    gen = backend.generate(PROMPTS, n=n, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=6)
    ids, mask = encode_prompts(tok, [p for p in PROMPTS for _ in range(n)], "cpu")
    assert torch.equal(gen.prompt_ids, ids) and torch.equal(gen.prompt_mask, mask)
    N, T = gen.completion_ids.shape
    assert N == 6 and 1 <= T <= 6 and gen.completion_mask.shape == gen.sampler_logp.shape == (N, T)
    for i in range(N):
        m = gen.completion_mask[i].bool()
        real = gen.completion_ids[i][m].tolist()
        assert gen.texts[i] == tok.decode(real, skip_special_tokens=True)
        assert (gen.completion_ids[i][~m] == tok.pad_token_id).all() and (gen.sampler_logp[i][~m] == 0).all()
        assert (gen.sampler_logp[i][m] < 0).all()
        assert bool(gen.truncated[i]) == (tok.eos_token_id not in real)


def test_contract_logprobs_are_processed_and_match_the_trainer(backend, policy):
    model = policy[0]
    gen = backend.generate(PROMPTS, n=4, temperature=0.7, top_p=1.0, top_k=0, max_new_tokens=6)
    m = gen.completion_mask.bool()
    ours = trainer_logp(model, gen, 0.7)
    assert torch.allclose(gen.sampler_logp[m], ours[m], atol=1e-5)
    # the raw (temperature 1) logprobs differ: the backend really asked for the processed ones
    assert (gen.sampler_logp[m] - trainer_logp(model, gen, 1.0)[m]).abs().max() > 1e-3


def test_contract_top_k_logprobs_are_renormalised_above_the_trainers(backend, policy):
    # vLLM's processed logprobs come after top-k: log p_kept(x) = log p(x) - log(kept mass) >= log p(x)
    gen = backend.generate(PROMPTS, n=2, temperature=0.7, top_p=1.0, top_k=3, max_new_tokens=4)
    m = gen.completion_mask.bool()
    gap = gen.sampler_logp[m] - trainer_logp(policy[0], gen, 0.7)[m]
    assert (gap > -1e-5).all() and gap.max() > 1e-3


@pytest.mark.parametrize("llm_cls", [FakeLLM, FakeLLMWithoutApplyModel])
def test_contract_weight_push_changes_the_engine_outputs(policy, monkeypatch, llm_cls):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(llm_cls))
    model, _ = policy
    backend = make_backend("vllm", *policy)
    kw = dict(n=1, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=5, greedy=True)
    before = backend.generate(PROMPTS, **kw)
    with torch.no_grad():                       # an "update": the policy moves, the engine does not yet
        g = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g))
    stale = backend.generate(PROMPTS, **kw)
    assert torch.equal(stale.completion_ids, before.completion_ids)
    assert torch.equal(stale.sampler_logp, before.sampler_logp)
    backend.sync_weights(model)
    after = backend.generate(PROMPTS, **kw)
    assert not torch.allclose(after.sampler_logp, before.sampler_logp)
    m = after.completion_mask.bool()
    assert torch.allclose(after.sampler_logp[m], trainer_logp(model, after, 1.0)[m], atol=1e-5)
    # the newer `apply_model` path when the engine has it, else the driver worker's model runner
    assert (backend.llm.applied > 0) == (llm_cls is FakeLLM)


class ScriptedLLM(FakeLLM):
    """Canned samples: [5, EOS] stopped, [5, 6, 7] cut at max_tokens, [] (nothing generated)."""

    def generate(self, prompts, sampling_params, use_tqdm=True):
        eos = self.eos[0]
        rows = [([5, eos], "stop"), ([5, 6, 7], "length"), ([], "length")]
        outs = [CompletionOutput(j, "", t, [{x: Logprob(-0.5)} for x in t], f) for j, (t, f) in enumerate(rows)]
        return [RequestOutput([1], outs)]


def test_contract_truncation_flags_and_padding(policy, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(ScriptedLLM))
    tok = policy[1]
    gen = make_backend("vllm", *policy).generate(PROMPTS[:1], n=3, max_new_tokens=3)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    assert gen.completion_ids.tolist() == [[5, eos, pad], [5, 6, 7], [pad, pad, pad]]
    assert gen.completion_mask.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0]]
    assert gen.truncated.tolist() == [False, True, True]
    # logprob -0.5 on kept tokens, 0 on pads and on the empty row's placeholder
    assert gen.sampler_logp.tolist() == [[-0.5, -0.5, 0.0], [-0.5, -0.5, -0.5], [0.0, 0.0, 0.0]]


def test_smoke_train_with_the_fake_vllm_engine(tmp_path, monkeypatch):
    import json

    from reasonrl.config import load_config
    from reasonrl.train import rl

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm())
    cfg = load_config(None, [f"out={tmp_path / 'run'}", "rollout.backend=vllm", "train.steps=2",
                             "train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=8",
                             "eval.size=4", "eval.every=0", "eval.sampled=false", "algo.tis=token",
                             "train.threads=1"])
    result = rl.train(cfg, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 2 and [r["step"] for r in rows] == [0, 1, 2]
    # the engine's logprobs match the trainer's after every push: importance weights stay at 1
    assert all(abs(r["tis/weight_mean"] - 1.0) < 1e-3 for r in rows[1:] if r.get("tis/weight_mean") is not None)
    assert any(r.get("tis/weight_mean") is not None for r in rows[1:])
