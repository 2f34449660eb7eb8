"""Plain text generation for the audits that grade no answer key (refusal.py) or build their own
prompts (thinking.py): one interface over a local rollout backend and an endpoint.

    complete(prompts, seeds, sampling, rendered=False) -> [Reply]   (endpoint.Reply: text, content,
                                                                      reasoning, tokens, finish_reason)

`prompts` are problems (rendered with the template here, or by the server for api=chat) unless
`rendered`, when they are sent as they are (completions only). Sample i is fixed by seeds[i]
for an endpoint; a local backend seeds torch once per batch from the batch's first seed.
"""
from __future__ import annotations

import torch

from reasonrl.eval.endpoint import EndpointClient, EndpointError, Reply


def reply_of(text: str, tokens: int, cut: bool) -> Reply:
    """A local completion as a Reply: reasoning and content split as `reasonrl serve` splits them."""
    from reasonrl.serve.split import split_reasoning

    reasoning, content = split_reasoning(text)
    return Reply(text, content, reasoning, int(tokens), "length" if cut else "stop")


def room(model, tokenizer, texts: list[str], max_new_tokens: int) -> int:
    """max_new_tokens lowered so the longest of `texts` (rendered, BOS included) plus it fits the model's
    positions (max_position_embeddings); UserError when a text alone does not fit."""
    from reasonrl.errors import UserError
    from reasonrl.rollout.hf import encode_prompts

    ctx = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not ctx:
        return max_new_tokens
    longest = int(encode_prompts(tokenizer, texts, "cpu")[1].sum(dim=1).max())
    if longest >= ctx:
        raise UserError(f"a prompt of {longest} tokens does not fit the model's {ctx} positions")
    return min(max_new_tokens, ctx - longest)


class LocalCompleter:
    def __init__(self, backend, render, batch_size: int = 64, name: str = "local"):
        self.backend, self.render, self.batch_size, self.name = backend, render, batch_size, name
        self.prompt_mode = "completions"

    def complete(self, prompts: list[str], seeds: list[int], sampling: dict, rendered: bool = False) -> list[Reply]:
        """Per batch, max_new_tokens is lowered to what the model's positions leave (see room)."""
        out = []
        for i in range(0, len(prompts), self.batch_size):
            part = prompts[i:i + self.batch_size]
            texts = part if rendered else [self.render(p) for p in part]
            fit = room(self.backend.model, self.backend.tokenizer, texts, sampling["max_new_tokens"])
            torch.manual_seed(seeds[i])
            gen = self.backend.generate(texts, n=1, **{**sampling, "max_new_tokens": fit})
            prefill = "" if rendered else self.render.prefill
            out += [reply_of(prefill + t, n, c) for t, n, c in
                    zip(gen.texts, gen.completion_mask.sum(dim=1).tolist(), gen.truncated.tolist())]
        return out


class EndpointCompleter:
    def __init__(self, client: EndpointClient, render):
        self.client, self.render = client, render
        self.name = f"{client.model()} @ {client.s.url}"
        self.prompt_mode = client.s.api

    def complete(self, prompts: list[str], seeds: list[int], sampling: dict, rendered: bool = False) -> list[Reply]:
        if rendered and self.client.s.api != "completions":
            raise EndpointError(f"endpoint {self.client.s.url}: this needs api=completions (it continues a "
                                f"prompt that ends inside the answer, which a chat API cannot)")
        send = prompts if rendered or self.client.s.api == "chat" else [self.render(p) for p in prompts]
        prefill = "" if rendered or self.client.s.api == "chat" else self.render.prefill
        got: dict[int, Reply] = {}
        for i, r in self.client.run(list(range(len(prompts))),
                                    lambda i: self.client.complete(send[i], seed=seeds[i], **sampling)):
            if isinstance(r, EndpointError):
                raise r
            got[i] = Reply(prefill + r.text, r.content, r.reasoning, r.tokens, r.finish_reason) if prefill else r
        return [got[i] for i in range(len(prompts))]


def completers(cfg, models: list[str]) -> list:
    """One completer per target: each URL of cfg.endpoint (comma-separated), then each local model
    folder of `models` (loaded here on cfg.device in cfg.dtype, generating with cfg.backend)."""
    from reasonrl.eval.endpoint import EndpointGenerator
    from reasonrl.eval.runner import local_backend
    from reasonrl.models import load_model
    from reasonrl.templates import Renderer

    out = []
    for url in [u.strip() for u in cfg.endpoint.split(",") if u.strip()]:
        from dataclasses import replace

        g = EndpointGenerator.from_config(replace(cfg, endpoint=url))
        out.append(EndpointCompleter(g.client, g.render))
    for m in models:
        model, tok = load_model(m, cfg.dtype, cfg.device, cfg.attn_implementation)
        out.append(LocalCompleter(local_backend(cfg, model, tok), Renderer(tok, cfg.template, cfg.prefill_think),
                                  cfg.batch_size, name=m))
    return out
