"""Tiny random-weight model folders of nine real families, built offline from each family's
`transformers` config class, with a tokenizer in that family's format: its special tokens, its EOS
ids (tokenizer + generation_config.json) and its chat template (tests/fixtures/families/*.jinja,
sources in tests/fixtures/families/SOURCES.md). The vocabulary is a small byte-level BPE trained in
milliseconds on the R1-Zero template text, so nothing large is committed."""
from __future__ import annotations

import json
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "families"
_ATTN = dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8)
_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1,
            norm_topk_prob=True)
_DSV3 = dict(num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4, n_shared_experts=1,
             num_experts_per_tok=2, moe_intermediate_size=32, n_group=1, topk_group=1, first_k_dense_replace=1,
             q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8,
             rope_scaling=None)
_QWEN = dict(tokenizer_class="Qwen2Tokenizer", bos=None, eos="<|im_end|>", pad="<|endoftext|>",
             specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], gen_eos=["<|im_end|>", "<|endoftext|>"])

# family -> transformers config class and architecture kwargs, tokenizer format, LoRA target modules.
# tokenizer_class: the class the family's folders name, except for the SentencePiece families (Gemma 3,
# Mistral, Phi-3): their classes rebuild a SentencePiece pipeline from the vocabulary, which a byte-level
# fixture does not have, so their fixtures name the generic PreTrainedTokenizerFast.
SPECS = {
    "qwen2.5": dict(_QWEN, config="Qwen2Config", arch=dict(num_attention_heads=4, num_key_value_heads=2),
                    template="qwen2.5"),
    "qwen3": dict(_QWEN, config="Qwen3Config", arch=_ATTN, template="qwen3", added=["<think>", "</think>"]),
    "qwen3-moe": dict(_QWEN, config="Qwen3MoeConfig", arch={**_ATTN, **_MOE}, template="qwen3",
                      added=["<think>", "</think>"]),
    "llama3": dict(config="LlamaConfig", arch=dict(num_attention_heads=4, num_key_value_heads=2),
                   tokenizer_class="PreTrainedTokenizerFast", bos="<|begin_of_text|>", eos="<|eot_id|>",
                   pad=None, specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                       "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"],
                   gen_eos=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"], template="llama3"),
    "gemma3": dict(config="Gemma3TextConfig", arch={**_ATTN, "sliding_window": 64},
                   tokenizer_class="PreTrainedTokenizerFast", bos="<bos>", eos="<eos>", pad="<pad>",
                   specials=["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
                   gen_eos=["<eos>", "<end_of_turn>"], template="gemma3"),
    "mistral": dict(config="MistralConfig", arch=_ATTN, tokenizer_class="PreTrainedTokenizerFast", bos="<s>",
                    eos="</s>", pad=None, specials=["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], gen_eos=["</s>"],
                    template="mistral"),
    "phi3": dict(config="Phi3Config", arch=dict(num_attention_heads=4, num_key_value_heads=2),
                 tokenizer_class="PreTrainedTokenizerFast", bos="<s>", eos="<|endoftext|>", pad="<|endoftext|>",
                 specials=["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>",
                           "<|user|>"], gen_eos=["<|endoftext|>", "<|assistant|>", "<|end|>"], template="phi3",
                 lora_targets="[qkv_proj,o_proj]"),
    "olmo2": dict(config="Olmo2Config", arch=dict(num_attention_heads=4, num_key_value_heads=2),
                  tokenizer_class="GPT2Tokenizer", bos="<|endoftext|>", eos="<|endoftext|>", pad="<|pad|>",
                  specials=["<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"],
                  gen_eos=["<|endoftext|>"], template="olmo2"),
    "deepseek-v3": dict(config="DeepseekV3Config", arch=_DSV3, tokenizer_class="LlamaTokenizerFast",
                        bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>",
                        pad="<｜end▁of▁sentence｜>",
                        specials=["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
                        added=["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"],
                        gen_eos=["<｜end▁of▁sentence｜>"], template="deepseek-v3",
                        lora_targets="[q_b_proj,kv_b_proj,o_proj]"),
}


def build_tokenizer(spec: dict, vocab_size: int = 400):
    """A byte-level BPE PreTrainedTokenizerFast with the family's special and added tokens and chat template."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    from reasonrl.models import byte_level_bpe

    bos = spec["bos"] if spec["bos"] != spec["eos"] else None     # OLMo 2's BOS is its EOS: not prepended
    core = byte_level_bpe(spec["specials"], bos, vocab_size)
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in spec.get("added", [])])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=spec["bos"], eos_token=spec["eos"],
                                  pad_token=spec["pad"], unk_token="<unk>" if "<unk>" in spec["specials"] else None,
                                  clean_up_tokenization_spaces=False)
    tok.chat_template = (FIXTURES / f"{spec['template']}.jinja").read_text()
    return tok


def build_model(spec: dict, tok, hidden: int = 32, layers: int = 2, seed: int = 0):
    import transformers

    eos = [tok.convert_tokens_to_ids(t) for t in spec["gen_eos"]]
    cfg = getattr(transformers, spec["config"])(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        max_position_embeddings=1024, tie_word_embeddings=spec["config"] == "Gemma3TextConfig",
        bos_token_id=tok.bos_token_id, eos_token_id=eos, pad_token_id=tok.pad_token_id, **spec["arch"])
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


def save_family(out: Path, family: str) -> Path:
    """Write config.json, model.safetensors, generation_config.json and the tokenizer files of `family`."""
    spec = SPECS[family]
    tok = build_tokenizer(spec)
    build_model(spec, tok).save_pretrained(out)
    tok.save_pretrained(out)
    meta = out / "tokenizer_config.json"                 # the class name the family's real folders carry
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "tokenizer_class": spec["tokenizer_class"]},
                               indent=2))
    return out
