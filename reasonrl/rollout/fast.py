"""`rollout.backend=fast`: a lean decode loop over a preallocated KV cache for any HF causal LM.

Same contract and sampling semantics as `hf` (reasonrl/rollout/hf.py): prompts left-padded, position
ids from the attention mask (cumsum - 1), temperature, then top-k, then top-p (HF's processor order),
stop at any EOS id; greedy mode gives the same tokens as `model.generate`. What it leaves out of
`generate` is the per-token machinery: no logits-processor/stopping-criteria objects, no
`prepare_inputs_for_generation`, no `torch.cat` of the KV cache at every token (the cache is written
in place into buffers sized prompt + max_new_tokens), logits of the last position only, and rows that
finished are dropped from the decode batch (the cache is compacted when a quarter of the live rows
are done), so padded positions cost nothing after they stop.

Departure from `hf`: in sampling mode the random draws differ once a row has finished (HF keeps
sampling a pad for it, consuming random numbers; this loop does not), so sampled tokens match `hf`
only up to the first finished row; greedy decoding is identical. It also returns `sampler_logp`, the
logprob of each sampled token under softmax(logits / temperature) (before top-k/top-p), which is what
the trainer's forward recomputes.

CPU:   reasonrl train rollout.backend=fast
GPUs:  reasonrl train my.yaml rollout.backend=fast model.dtype=bfloat16 model.attn_implementation=sdpa
"""
from __future__ import annotations

import inspect

import torch

from reasonrl.algo.logprobs import completion_mask
from reasonrl.models import eos_ids
from reasonrl.rollout.hf import encode_prompts
from reasonrl.rollout.routing import RouterHooks, replay_hooks
from reasonrl.types import Generations

COMPACT_FRACTION = 0.25     # compact the cache once this share of the live rows has finished


def make_cache(n_layers: int, max_len: int):
    """An HF `Cache` whose layers write keys/values into preallocated (N, H, max_len, D) buffers."""
    from transformers.cache_utils import Cache, DynamicLayer

    class PreallocLayer(DynamicLayer):
        """Keys/values live in a fixed buffer; `keys`/`values` are views of its filled part."""

        def lazy_initialization(self, key_states, value_states):
            n, h, _, d = key_states.shape          # values may be narrower (DeepSeek-V3's latent attention)
            self.device = key_states.device
            self.kbuf = key_states.new_empty((n, h, max_len, d))
            self.vbuf = value_states.new_empty((n, value_states.shape[1], max_len, value_states.shape[-1]))
            self.length = 0
            self.is_initialized = True

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            self.kbuf[:, :, self.length:end] = key_states
            self.vbuf[:, :, self.length:end] = value_states
            self.length = end
            self.keys, self.values = self.kbuf[:, :, :end], self.vbuf[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length if self.is_initialized else 0

        def get_max_length(self) -> int:
            return max_len

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            """Keep rows `indices` (copying only the filled positions into fresh buffers)."""
            if not self.is_initialized:
                return
            k = self.kbuf.new_empty((len(indices), *self.kbuf.shape[1:]))
            v = self.vbuf.new_empty((len(indices), *self.vbuf.shape[1:]))
            k[:, :, :self.length] = self.kbuf[indices, :, :self.length]
            v[:, :, :self.length] = self.vbuf[indices, :, :self.length]
            self.kbuf, self.vbuf = k, v
            self.keys, self.values = k[:, :, :self.length], v[:, :, :self.length]

    return Cache(layers=[PreallocLayer() for _ in range(n_layers)])


def process_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """HF's sampling processors in HF's order: logits (N, V) / temperature, keep the top_k largest
    (0 = all), keep the smallest set with probability mass >= top_p (1 = all; the top token always
    stays). Removed entries become -inf. -> (N, V) float32."""
    scores = logits.float() / temperature
    if top_k > 0:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]))[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cum <= (1 - top_p)
        remove[..., -1:] = False
        scores = scores.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
    return scores


def _cache_kwarg(model) -> str:
    """transformers 5 names the cache argument `cache` (older: `past_key_values`)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.no_grad()
def decode(model, ids: torch.Tensor, mask: torch.Tensor, *, max_new_tokens: int, eos: list[int], pad_id: int,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, greedy: bool = False,
           generator: torch.Generator | None = None, routing: RouterHooks | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample up to max_new_tokens per row of left-padded ids/mask (N, P).

    -> completion ids (N, T) with pad after each row's first EOS, and sampler logprobs (N, T) of the
    chosen tokens under softmax(logits / temperature) (0 after EOS); T = steps actually decoded.
    routing (MoE replay): its table records each fed position's experts, (N, P + max_new_tokens, L, k)."""
    if routing is None:
        return _decode(model, ids, mask, max_new_tokens, eos, pad_id, temperature, top_k, top_p, greedy, generator)
    routing.start_record(ids.shape[0], ids.shape[1] + max_new_tokens, ids.device)
    with routing:
        return _decode(model, ids, mask, max_new_tokens, eos, pad_id, temperature, top_k, top_p, greedy, generator,
                       routing)


def _decode(model, ids, mask, max_new_tokens, eos, pad_id, temperature, top_k, top_p, greedy, generator,
            routing=None):
    """decode's loop; routing (installed hooks) learns which original rows each forward carries."""
    n, p = ids.shape
    dev = ids.device
    out = torch.full((n, max_new_tokens), pad_id, dtype=torch.long, device=dev)
    logp_out = torch.zeros((n, max_new_tokens), dtype=torch.float32, device=dev)
    if max_new_tokens == 0 or n == 0:
        return out, logp_out
    cache = make_cache(model.config.get_text_config().num_hidden_layers, p + max_new_tokens)
    attn = torch.zeros((n, p + max_new_tokens), dtype=mask.dtype, device=dev)
    attn[:, :p] = mask
    pos = (mask.long().cumsum(dim=1) - 1).clamp_min(0)                # (N, P)
    next_pos = mask.long().sum(dim=1)                                 # (N,) position of the next token
    eos_t = torch.tensor(eos, dtype=torch.long, device=dev)
    rows = torch.arange(n, device=dev)                                # live row -> original row
    kw = {_cache_kwarg(model): cache}
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                   **kw).logits[:, -1]
    finished = torch.zeros(n, dtype=torch.bool, device=dev)           # per live row
    steps = 0
    for t in range(max_new_tokens):
        steps = t + 1
        lp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
        if greedy:
            tok = logits.argmax(dim=-1)
        else:
            probs = process_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
            tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        tok = torch.where(finished, torch.full_like(tok, pad_id), tok)
        out[rows, t] = tok
        logp_out[rows, t] = torch.where(finished, 0.0, lp_all.gather(1, tok[:, None]).squeeze(1))
        if eos:
            finished = finished | torch.isin(tok, eos_t)
        n_done = int(finished.sum())
        if t == max_new_tokens - 1 or n_done == rows.numel():
            break
        if n_done and n_done >= max(1, int(COMPACT_FRACTION * rows.numel())):
            keep = (~finished).nonzero().squeeze(1)
            rows, tok, next_pos, attn, finished = rows[keep], tok[keep], next_pos[keep], attn[keep], finished[keep]
            cache.batch_select_indices(keep)
            if routing is not None:
                routing.rows = rows
        attn[:, p + t] = 1
        logits = model(input_ids=tok[:, None], attention_mask=attn[:, :p + t + 1], position_ids=next_pos[:, None],
                       use_cache=True, logits_to_keep=1, **kw).logits[:, -1]
        next_pos = next_pos + 1
    comp, logp = out[:, :steps], logp_out[:, :steps]
    return comp, logp


class FastBackend:
    """`decode` on the policy itself (weights always in sync). `eos` may be overridden (e.g. [] to
    always decode max_new_tokens, as the benchmark's fixed-length mode does)."""

    def __init__(self, model, tokenizer, eos: list[int] | None = None, routing_replay: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.eos = eos_ids(model, tokenizer) if eos is None else list(eos)
        self.routing_replay = routing_replay
        self.routing = replay_hooks(model, routing_replay)

    def sync_weights(self, model) -> None:
        if model is not self.model:
            self.routing = replay_hooks(model, self.routing_replay)
        self.model = model

    def generate(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int = 0, max_new_tokens: int = 64, greedy: bool = False) -> Generations:
        """Each prompt is repeated n times consecutively: row i*n + j is sample j of prompt i."""
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        ids, mask = encode_prompts(self.tokenizer, [p for p in prompts for _ in range(n)], device)
        was_training = self.model.training
        self.model.eval()
        try:
            comp, logp = decode(self.model, ids, mask, max_new_tokens=max_new_tokens, eos=self.eos, pad_id=pad,
                                temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy,
                                routing=self.routing)
        finally:
            self.model.train(was_training)
        if comp.shape[1] == 0:
            comp = torch.full((ids.shape[0], 1), pad, dtype=torch.long, device=device)
            logp = torch.zeros(comp.shape, dtype=torch.float32, device=device)
        cmask, truncated = completion_mask(comp, self.eos or [-1])
        texts = self.tokenizer.batch_decode([row[m.bool()].tolist() for row, m in zip(comp, cmask)],
                                            skip_special_tokens=True)
        routing = None if self.routing is None else self.routing.take_record(torch.cat([mask, cmask], dim=1))
        return Generations(prompt_ids=ids, prompt_mask=mask, completion_ids=comp, completion_mask=cmask,
                           truncated=truncated, texts=texts, sampler_logp=logp * cmask, temperature=temperature,
                           routing=routing)
