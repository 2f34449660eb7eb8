"""In-process vLLM rollout backend (optional extra `reasonrl[vllm]`, imported only when selected).

CONTRACT-TESTED: not yet run against a real vLLM on a GPU (docs/verified.md).
tests/rollout/test_vllm_contract.py drives it through a fake `vllm` module that wraps the
tiny embedded model and implements the interface below.

    engine:        VLLM_ENABLE_V1_MULTIPROCESSING=0 (unless set), then
                   vllm.LLM(model=<the policy's HF folder>, dtype=..., gpu_memory_utilization=...,
                            enable_prefix_caching=True, logprobs_mode="processed_logprobs", seed=...)
                   colocated: it lives in the trainer's process and shares its GPU.
    sync_weights:  the policy's state dict, pushed in-process (no disk), before every rollout:
                   llm.apply_model(lambda m: m.load_weights(weights=...)) where `LLM.apply_model` exists,
                   else llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights=...)
    generate:      llm.generate([{"prompt_token_ids": ids}, ...], SamplingParams(n=G, temperature=..., top_p=...,
                   top_k=..., max_tokens=..., logprobs=0, seed=...)); row i*G + j is outputs[j] of prompt i;
                   sampler_logp[i, t] = outputs[j].logprobs[t][token].logprob.

What was followed (read via search, not run):
  - vLLM `LLM` / `SamplingParams` API reference (docs.vllm.ai, `vllm.LLM.generate`, `SamplingParams`:
    `logprobs=0` returns the sampled token's logprob only; `top_k=-1` disables top-k).
  - vLLM engine argument `logprobs_mode` (added in vLLM 0.10.x; values raw_logprobs | processed_logprobs |
    raw_logits | processed_logits; "processed" = after temperature, logits processors and top-k/top-p;
    an older vLLM without it fails at `vllm.LLM(...)` with its own TypeError). The default
    (raw) would report log_softmax(logits) at temperature 1, which is NOT what the trainer recomputes.
  - TRL's vLLM integration guide (huggingface/trl docs/source/vllm_integration.md, colocate mode) and
    vLLM's docs/training/trl.md: colocated engine in the trainer's process, weights pushed through the
    driver worker's `model.load_weights`; vLLM's `LLM.apply_model(func)` (runs func on the model in each
    worker) is the newer way to reach the same `load_weights`; `VLLM_ENABLE_V1_MULTIPROCESSING=0` (vLLM's
    environment variables page) keeps the V1 engine core in this process so both paths stay in-process.

Settings are config keys (reasonrl.config.RolloutConfig):
  rollout.vllm_gpu_memory  0.3    gpu_memory_utilization (the trainer shares the GPU)
  rollout.vllm_dtype       auto   engine dtype ("auto" = the policy's dtype)
  rollout.vllm_seed        0      engine seed; request r of the run gets SamplingParams(seed=vllm_seed + r)

CPU:  not supported (vLLM needs a GPU); the contract tests run on CPU with the fake engine:
      .venv/bin/pytest tests/rollout/test_vllm_contract.py
GPUs: pip install -e '.[vllm]'; reasonrl train rollout.backend=vllm

Departures / not done: no sleep mode (`enable_sleep_mode`, `llm.sleep()`) to free the KV cache during
the update; single GPU only (no tensor parallel); greedy requests (temperature 0) report the logprobs
vLLM gives for greedy rows (temperature 1). vLLM's processed logprobs are taken AFTER top-k/top-p
(log_softmax of the truncated logits, in vLLM's TopKTopPSampler), while the trainer's recomputation
(reasonrl.algo.logprobs.token_logprobs) applies temperature only: the two agree (to float error) with
top_k=0 and top_p=1, the defaults; with truncation the sampler's are higher by -log(kept mass).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from reasonrl.algo.logprobs import completion_mask
from reasonrl.scale.lora import merged
from reasonrl.models import eos_ids
from reasonrl.rollout.hf import encode_prompts
from reasonrl.types import Generations

INSTALL_HINT = "pip install -e '.[vllm]'"


def import_vllm():
    """The `vllm` module, or a one-line ConfigError telling how to install it."""
    from reasonrl.config import ConfigError

    try:
        import vllm
    except ImportError as e:
        raise ConfigError(f"config key 'rollout.backend': 'vllm' needs vLLM, which is not importable "
                          f"({str(e).splitlines()[0] if str(e) else 'ImportError'}): {INSTALL_HINT}") from None
    return vllm


@dataclass(frozen=True)
class VLLMSettings:
    gpu_memory_utilization: float = 0.3
    dtype: str = "auto"
    seed: int = 0

    @classmethod
    def from_rollout(cls, rollout) -> "VLLMSettings":
        """From a RolloutConfig (rollout.vllm_*); None = the defaults."""
        if rollout is None:
            return cls()
        return cls(gpu_memory_utilization=rollout.vllm_gpu_memory, dtype=rollout.vllm_dtype, seed=rollout.vllm_seed)


def engine_dtype(model, setting: str) -> str:
    """'auto' -> the policy's dtype name ('bfloat16', 'float32', ...); anything else as given."""
    if setting != "auto":
        return setting
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def push_weights(llm, named_tensors: list[tuple[str, torch.Tensor]]) -> None:
    """Load (name, tensor) pairs (HF names) into the engine's model in this process."""
    if hasattr(llm, "apply_model"):
        llm.apply_model(lambda m: m.load_weights(weights=iter(named_tensors)))
    else:
        llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights=iter(named_tensors))


def unpadded_rows(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    """Left-padded (N, P) ids/mask -> N lists of the real token ids."""
    return [row[m.bool()].tolist() for row, m in zip(ids.cpu(), mask.cpu())]


def collect_outputs(request_outputs, n: int, pad_id: int):
    """RequestOutputs (one per prompt, n samples each) -> completion ids (N, T) right-padded with pad_id,
    sampled-token logprobs (N, T) (0 at pads), length_stop (N,) True where finish_reason == 'length',
    and lengths (N,). T = the longest completion (at least 1)."""
    samples = [s for ro in request_outputs for s in ro.outputs[:n]]
    t = max([1] + [len(s.token_ids) for s in samples])
    ids = torch.full((len(samples), t), pad_id, dtype=torch.long)
    logp = torch.zeros((len(samples), t), dtype=torch.float32)
    for i, s in enumerate(samples):
        toks = list(s.token_ids)
        ids[i, :len(toks)] = torch.tensor(toks, dtype=torch.long)
        if s.logprobs is not None:
            logp[i, :len(toks)] = torch.tensor([float(step[tok].logprob) for tok, step in zip(toks, s.logprobs)])
    lengths = torch.tensor([len(s.token_ids) for s in samples])
    length_stop = torch.tensor([s.finish_reason == "length" for s in samples], dtype=torch.bool)
    return ids, logp, length_stop, lengths


class VLLMBackend:
    """A colocated vLLM engine; `sync_weights` pushes the policy's weights into it in-process."""

    def __init__(self, model, tokenizer, settings: VLLMSettings | None = None, rollout=None):
        self.vllm = import_vllm()
        self.settings = settings or VLLMSettings.from_rollout(rollout)
        self.tokenizer = tokenizer
        self.eos = eos_ids(model, tokenizer)
        self.device = next(model.parameters()).device
        self.requests = 0
        path = getattr(model, "name_or_path", "") or model.config._name_or_path
        # the V1 engine core in this process (not a child), so pushed tensors never leave it
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self.llm = self.vllm.LLM(model=str(path), dtype=engine_dtype(model, self.settings.dtype),
                                 gpu_memory_utilization=self.settings.gpu_memory_utilization,
                                 enable_prefix_caching=True, logprobs_mode="processed_logprobs",
                                 seed=self.settings.seed)
        self.sync_weights(model)     # the live policy may differ from the folder (resume, SFT warm start)

    @torch.no_grad()
    def sync_weights(self, model) -> None:
        # LoRA: vLLM holds the plain architecture, so push the merged weights
        push_weights(self.llm, [(k, v.detach()) for k, v in merged(model).state_dict().items()])

    def sampling_params(self, *, n, temperature, top_p, top_k, max_new_tokens, greedy):
        self.requests += 1
        return self.vllm.SamplingParams(
            n=n, temperature=0.0 if greedy else temperature, top_p=1.0 if greedy else top_p,
            top_k=-1 if greedy or top_k <= 0 else top_k, max_tokens=max_new_tokens, logprobs=0,
            seed=self.settings.seed + self.requests)

    def generate(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int = 0, max_new_tokens: int = 64, greedy: bool = False) -> Generations:
        """Each prompt is repeated n times consecutively: row i*n + j is sample j of prompt i."""
        pad = self.tokenizer.pad_token_id
        ids, mask = encode_prompts(self.tokenizer, prompts, "cpu")
        rows = unpadded_rows(ids, mask)
        params = self.sampling_params(n=n, temperature=temperature, top_p=top_p, top_k=top_k,
                                      max_new_tokens=max_new_tokens, greedy=greedy)
        outs = self.llm.generate([{"prompt_token_ids": r} for r in rows], params, use_tqdm=False)
        comp, logp, length_stop, lengths = collect_outputs(outs, n, pad)
        cmask, no_eos = completion_mask(comp, self.eos)
        # a row that stopped early without an EOS (stop string, context limit) ends at its length
        cmask = cmask * (torch.arange(comp.shape[1])[None, :] < lengths.clamp_min(1)[:, None]).long()
        truncated = no_eos | length_stop
        comp = torch.where(cmask.bool(), comp, torch.full_like(comp, pad))
        texts = self.tokenizer.batch_decode([r[m.bool()].tolist() for r, m in zip(comp, cmask)],
                                            skip_special_tokens=True)
        dev = self.device
        return Generations(prompt_ids=ids.repeat_interleave(n, 0).to(dev),
                           prompt_mask=mask.repeat_interleave(n, 0).to(dev), completion_ids=comp.to(dev),
                           completion_mask=cmask.to(dev), truncated=truncated.to(dev), texts=texts,
                           sampler_logp=(logp * cmask).to(dev), temperature=temperature)
