"""Plain transformers generation: left-padded prompts, KV cache, sampling or greedy."""
from __future__ import annotations

import contextlib

import torch

from reasonrl.algo.logprobs import completion_mask
from reasonrl.models import eos_ids
from reasonrl.rollout.routing import replay_hooks
from reasonrl.types import Generations


def encode_prompts(tokenizer, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded (ids, mask) of shape (len(prompts), P). A BOS is prepended when the tokenizer has
    one and does not add it itself."""
    rows = []
    for p in prompts:
        # chat templates that write the BOS themselves must not get a second one
        has_bos = bool(tokenizer.bos_token) and p.startswith(tokenizer.bos_token)
        ids = tokenizer(p, add_special_tokens=not has_bos).input_ids
        bos = tokenizer.bos_token_id
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        rows.append(ids)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


class HFBackend:
    """Generation with `model.generate` on the policy itself (weights always in sync). With
    routing_replay the experts each MoE layer chose are recorded for every fed token (Generations.routing)."""

    def __init__(self, model, tokenizer, routing_replay: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.eos = eos_ids(model, tokenizer)
        self.routing_replay = routing_replay
        self.routing = replay_hooks(model, routing_replay)

    def sync_weights(self, model) -> None:
        if model is not self.model:
            self.routing = replay_hooks(model, self.routing_replay)
        self.model = model

    @torch.no_grad()
    def generate(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int = 0, max_new_tokens: int = 64, greedy: bool = False) -> Generations:
        """Each prompt is repeated n times consecutively: row i*n + j is sample j of prompt i."""
        device = next(self.model.parameters()).device
        ids, mask = encode_prompts(self.tokenizer, [p for p in prompts for _ in range(n)], device)
        was_training = self.model.training
        self.model.eval()
        kwargs = dict(do_sample=False) if greedy else dict(do_sample=True, temperature=temperature,
                                                           top_p=top_p, top_k=top_k)
        if self.routing is not None:      # generate's forwards: the prefill, then one position per row each
            self.routing.start_record(ids.shape[0], ids.shape[1] + max_new_tokens, device)
        with self.routing if self.routing is not None else contextlib.nullcontext():
            out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                      eos_token_id=self.eos, pad_token_id=self.tokenizer.pad_token_id,
                                      use_cache=True, synced_gpus=False, **kwargs)   # FSDP: each rank runs alone
        self.model.train(was_training)
        comp = out[:, ids.shape[1]:]
        if comp.shape[1] == 0:
            comp = torch.full((ids.shape[0], 1), self.tokenizer.pad_token_id, dtype=torch.long, device=device)
        cmask, truncated = completion_mask(comp, self.eos)
        comp = torch.where(cmask.bool(), comp, torch.full_like(comp, self.tokenizer.pad_token_id))
        texts = [self.tokenizer.decode(row[m.bool()].tolist(), skip_special_tokens=True)
                 for row, m in zip(comp, cmask)]
        routing = None if self.routing is None else self.routing.take_record(torch.cat([mask, cmask], dim=1))
        return Generations(prompt_ids=ids, prompt_mask=mask, completion_ids=comp, completion_mask=cmask,
                           truncated=truncated, texts=texts, temperature=temperature, routing=routing)
