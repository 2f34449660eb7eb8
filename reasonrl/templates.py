"""Prompt templates: how a task's prompt text is shown to the model. One place, used by RL, SFT,
evaluation and serving, so the tokens a model trains on are the tokens inference renders.

  raw     the prompt text as is (BOS prepended by the rollout encoder when the tokenizer has one)
  r1zero  the R1-Zero plain-text template for base models (DeepSeek-R1 paper, Table 1)
  chat    the tokenizer's own chat template, user turn + generation prompt (instruct models)
  auto    chat if the tokenizer has a chat template, else raw

`prefill_think` appends "<think>\n" after the rendered prompt (as DeepSeek's R1 chat template does);
completions then start inside the think block, and `Renderer.prefill` is prepended to them before
rewards are computed.
"""
from __future__ import annotations

from dataclasses import dataclass

R1ZERO = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
          "The assistant first thinks about the reasoning process in the mind and then provides the user "
          "with the answer. The reasoning process and answer are enclosed within <think> </think> and "
          "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
          "<answer> answer here </answer>. User: {prompt}. Assistant:")
TEMPLATES = ("auto", "raw", "r1zero", "chat")
THINK_PREFILL = "<think>\n"


@dataclass(frozen=True)
class Renderer:
    tokenizer: object
    template: str = "auto"
    prefill_think: bool = False

    def __post_init__(self):      # checked when a command starts, not at its first prompt
        from reasonrl.errors import ConfigError

        if self.template == "chat" and not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError("template 'chat' (model.template / --template) needs a tokenizer with a chat "
                              "template and this model's has none: use auto, raw or r1zero")

    @property
    def prefill(self) -> str:
        return THINK_PREFILL if self.prefill_think else ""

    def resolved(self) -> str:
        if self.template != "auto":
            return self.template
        return "chat" if getattr(self.tokenizer, "chat_template", None) else "raw"

    def __call__(self, prompt: str, system: str | None = None) -> str:
        kind = self.resolved()
        if kind == "raw":
            text = prompt
        elif kind == "r1zero":
            text = R1ZERO.format(prompt=prompt)
        elif kind == "chat":
            if not getattr(self.tokenizer, "chat_template", None):
                raise ValueError("template 'chat' needs a tokenizer with a chat_template")
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
            text = self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        else:
            raise ValueError(f"unknown template '{self.template}' (choose from {', '.join(TEMPLATES)})")
        if self.prefill_think and not text.rstrip().endswith("<think>"):
            text += THINK_PREFILL
        return text
