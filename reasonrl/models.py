"""Models and tokenizers: load any local Hugging Face causal-LM folder; build the tiny default.

The embedded default is a normal HF folder shipped inside the package (`reasonrl/assets/tiny-walk`):
a Qwen2-architecture model of ~0.87M parameters with a character-level tokenizer made with the
`tokenizers` library, where the four reasoning tags are single tokens. `reasonrl pretrain` rebuilds it.
`embedded-moe` (`reasonrl/assets/tiny-walk-moe`) is its DeepSeek-V3-architecture sibling (mixture of
experts with a shared expert, multi-head latent attention, the V3 sigmoid router), rebuilt by
`reasonrl pretrain arch=moe` (the command is in its pretrain_config.yaml and docs/results.md).
Nothing is ever downloaded: a path that is not a local folder is an error.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from reasonrl.errors import UserError

EMBEDDED_DIR = Path(__file__).parent / "assets" / "tiny-walk"
# model.path names of the shipped bases -> their folders
EMBEDDED = {"embedded": EMBEDDED_DIR, "embedded-moe": EMBEDDED_DIR.parent / "tiny-walk-moe"}
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
CHARS = [chr(c) for c in range(32, 127)]       # printable ASCII, one token per character


class ModelError(UserError):
    """A model path or model file problem, stated in one line."""


def resolve_model_path(path: str | Path) -> Path:
    """'embedded' / 'embedded-moe' -> a shipped tiny base; otherwise a local folder that must hold config.json."""
    p = EMBEDDED.get(str(path)) or Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"model path '{path}' does not exist (expected a local Hugging Face model folder; "
                         f"nothing is downloaded)")
    if not (p / "config.json").is_file():
        raise ModelError(f"model path '{path}' has no config.json (not a Hugging Face model folder)")
    return p


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ModelError(f"model.device={name}: not a device (auto | cpu | cuda | cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"model.device={name}: this torch build sees no CUDA GPU "
                         f"(torch {torch.__version__}); use model.device=cpu or auto") from None
    return device


@contextlib.contextmanager
def torch_threads(n: int = 0):
    """Run a block with n torch CPU threads (0 = auto_threads(), or the enclosing block's choice),
    restoring the previous count after, so a command called as a library (pipeline stages, tests)
    does not change its caller's setting. `threads_note()` says what was chosen and why."""
    global _THREADS_NOTE
    before, note = torch.get_num_threads(), _THREADS_NOTE
    if n or not note:
        n, _THREADS_NOTE = (n, "set by threads") if n else auto_threads()
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        _THREADS_NOTE = note


_THREADS_NOTE = ""


def auto_threads(cores: int | None = None, load: float | None = None, procs: int | None = None) -> tuple[int, str]:
    """Threads for one process when the user set none: the cores left free by other work (the 1-minute
    load average, rounded), shared among the processes of a torchrun launch, at least 1. On a busy
    2-core laptop that is 1 thread, which is what keeps a run from crawling (docs/first-hour.md)."""
    import os

    cores = cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    load = os.getloadavg()[0] if load is None and hasattr(os, "getloadavg") else (load or 0.0)
    procs = procs or int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    n = max(1, (cores - round(load)) // max(1, procs))
    return n, f"auto: {cores} cores, load average {load:.1f}" + (f", {procs} processes" if procs > 1 else "")


def threads_note() -> str:
    """'N CPU threads (why)' for the start-of-run line; threads=N chooses."""
    return f"{torch.get_num_threads()} CPU threads ({_THREADS_NOTE or 'torch default'}; threads=N to choose)"


def pick_dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ModelError(f"unknown dtype '{name}' (choose from {', '.join(table)})")
    return table[name]


# A folder needs one of these to have a tokenizer (vocab.json comes with merges.txt).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "vocab.txt")


def load_tokenizer(path: str | Path):
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = resolve_model_path(path)
    cfg_file = p / "tokenizer_config.json"
    cls = json.loads(cfg_file.read_text()).get("tokenizer_class") if cfg_file.is_file() else None
    # A generic tokenizers-backed tokenizer (like the embedded one) must not be re-typed from the
    # model's config (AutoTokenizer would pick e.g. Qwen2Tokenizer and change its pre-tokenizer).
    loader = PreTrainedTokenizerFast if cls in ("TokenizersBackend", "PreTrainedTokenizerFast") else AutoTokenizer
    if not p.is_dir() or not any((p / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"model path '{path}': no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); "
                         f"copy the tokenizer of the model into the folder")
    try:
        tok = loader.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelError(f"model path '{path}': cannot load the tokenizer ({str(e).splitlines()[0][:200]})") from None
    if len(tok) < 2:                  # transformers can build an empty shell from a config alone
        raise ModelError(f"model path '{path}': the tokenizer has {len(tok)} entries; the folder's tokenizer "
                         f"files are incomplete")
    if tok.pad_token_id is None:      # decoder-only models often have no pad: pad with EOS
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(path: str | Path, dtype: str = "float32", device: str = "auto",
               attn_implementation: str = "eager"):
    """Load (model, tokenizer) from a local HF folder (or 'embedded'), in eval mode on `device`."""
    from transformers import AutoModelForCausalLM

    p = resolve_model_path(path)
    tok = load_tokenizer(p)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(p), dtype=pick_dtype(dtype), attn_implementation=attn_implementation, local_files_only=True)
    except OSError as e:
        raise ModelError(f"model path '{path}': cannot load weights ({str(e).splitlines()[0]})") from None
    model.to(pick_device(device))
    model.eval()
    return model, tok


def build_char_tokenizer():
    """Character-level PreTrainedTokenizerFast: printable ASCII + 4 specials + 4 tags as single tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + TAGS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS])
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
        padding_side="left", clean_up_tokenization_spaces=False)


def build_tiny_model(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4,
                     intermediate: int = 384, max_positions: int = 256, seed: int = 0,
                     pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
    """A randomly initialised Qwen2ForCausalLM of the embedded default's shape (tied embeddings)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, intermediate_size=intermediate,
                      max_position_embeddings=max_positions, tie_word_embeddings=True,
                      pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, use_cache=True)
    return _instantiate(Qwen2ForCausalLM, cfg, seed)


def _instantiate(model_cls, cfg, seed: int):
    """model_cls(cfg) initialised from `seed`, eager attention, its generation config naming the
    config's pad/bos/eos ids."""
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(cfg)
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.generation_config.bos_token_id = cfg.bos_token_id
    model.generation_config.eos_token_id = cfg.eos_token_id
    return model


def build_tiny_moe_model(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4,
                         intermediate: int = 384, max_positions: int = 256, seed: int = 0,
                         pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, bias_update_speed: float = 1e-3):
    """A randomly initialised DeepseekV3ForCausalLM, DeepSeek-V3's layout at toy scale (tied embeddings):
    the first layer dense (an `intermediate`-wide MLP), the others MoE: 8 routed experts of width
    intermediate / 6 (a multiple of 4: torch's CPU grouped matmul needs 16-byte strides) in 4 groups,
    the V3 router (sigmoid scores + correction bias, top-2 groups, then top-2 experts, weights
    renormalised and scaled by 2.5) plus 1 shared expert; multi-head latent attention with
    q_lora_rank = 3/4 hidden, kv_lora_rank = hidden / 4, per-head nope/rope/value dims d, d/2, d
    (d = hidden // heads; V3: 128/64/128). No multi-token-prediction module.
    In train mode the routers apply V3's auxiliary-loss-free balancing (`balance_routers`)."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    d = hidden // heads
    cfg = DeepseekV3Config(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=heads, intermediate_size=intermediate, first_k_dense_replace=1,
        n_routed_experts=8, n_group=4, topk_group=2, num_experts_per_tok=2, n_shared_experts=1,
        moe_intermediate_size=max(4, intermediate // 24 * 4), routed_scaling_factor=2.5, norm_topk_prob=True,
        q_lora_rank=3 * hidden // 4, kv_lora_rank=hidden // 4, qk_nope_head_dim=d, qk_rope_head_dim=d // 2,
        v_head_dim=d, num_nextn_predict_layers=0, max_position_embeddings=max_positions,
        tie_word_embeddings=True, pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, use_cache=True)
    model = _instantiate(DeepseekV3ForCausalLM, cfg, seed)
    balance_routers(model, bias_update_speed)
    return model


def balance_routers(model, speed: float = 1e-3) -> list:
    """DeepSeek-V3's auxiliary-loss-free load balancing: after each train-mode forward of a router,
    its `e_score_correction_bias` (E,) moves by `speed` toward balance, + for the experts that got
    fewer than the mean number of tokens of that batch, - for those that got more:
    b_i += speed * sign(mean(load) - load_i). The bias only steers which experts are chosen (the
    gating weights use the unbiased scores). Hooks live on the in-memory model (a loaded folder has a
    fixed bias); -> the hook handles (`.remove()` stops balancing)."""
    def hook(router, _inputs, out):
        if router.training and speed:
            load = torch.bincount(out[2].flatten(), minlength=router.e_score_correction_bias.numel()).float()
            router.e_score_correction_bias.add_(speed * torch.sign(load.mean() - load))
    return [m.register_forward_hook(hook) for m in model.modules() if hasattr(m, "e_score_correction_bias")]


# `reasonrl pretrain arch=...`: name -> builder(vocab_size, hidden, layers, heads, intermediate, seed=, pad_id=,
# bos_id=, eos_id=) of a randomly initialised tiny base
TINY_BUILDERS = {"dense": build_tiny_model, "moe": build_tiny_moe_model}


def eos_ids(model, tok) -> list[int]:
    """All EOS ids: the tokenizer's plus the generation config's (which may list several)."""
    ids = {tok.eos_token_id}
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    if isinstance(extra, int):
        ids.add(extra)
    elif extra:
        ids.update(extra)
    return sorted(i for i in ids if i is not None)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# Real-format tokenizers built offline (byte-level BPE trained on a few local sentences), with the
# special tokens, chat template and EOS ids of the families they imitate: a model folder made by
# `save_tiny_family_model` loads and renders like a real Qwen2.5 / Llama-3 folder, with random weights.
FAMILIES = {
    "qwen2": dict(tokenizer_class="Qwen2Tokenizer", bos=None, pad="<|endoftext|>",
                  specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                  eos={"base": ["<|endoftext|>"], "instruct": ["<|im_end|>", "<|endoftext|>"]},
                  template="{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
                           "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
                           "{{ '<|im_start|>assistant\n' }}{% endif %}"),
    "llama": dict(tokenizer_class="PreTrainedTokenizerFast", bos="<|begin_of_text|>", pad="<|end_of_text|>",
                  specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                            "<|eot_id|>"],
                  eos={"base": ["<|end_of_text|>"], "instruct": ["<|eot_id|>", "<|end_of_text|>"]},
                  template="{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
                           "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
                           "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
                           "{% endif %}"),
}


def byte_level_bpe(specials: list[str], bos: str | None, vocab_size: int = 400):
    """A `tokenizers.Tokenizer`: byte-level BPE with `specials` trained on the R1-Zero template text;
    `bos` (one of `specials`, or None) is prepended to every encoding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from reasonrl.templates import R1ZERO

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator([R1ZERO.format(prompt="What is 12 + 7?")] * 4, trainer)
    if bos:
        core.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, core.token_to_id(bos))])
    return core


def build_family_tokenizer(family: str, instruct: bool = True, vocab_size: int = 400):
    """A byte-level BPE PreTrainedTokenizerFast with `family`'s special tokens (and chat template when
    `instruct`), trained in milliseconds on the R1-Zero template text."""
    from transformers import PreTrainedTokenizerFast

    f = FAMILIES[family]
    core = byte_level_bpe(f["specials"], f["bos"], vocab_size)
    eos = f["eos"]["instruct" if instruct else "base"][0]
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=f["bos"], eos_token=eos, pad_token=f["pad"],
                                  clean_up_tokenization_spaces=False)
    if instruct:
        tok.chat_template = f["template"]
    return tok


def save_tiny_family_model(out: str | Path, family: str = "qwen2", instruct: bool = True, seed: int = 0,
                           hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2) -> Path:
    """Write a randomly initialised Qwen2ForCausalLM or LlamaForCausalLM folder (config.json,
    model.safetensors, generation_config.json with the family's EOS ids, tokenizer files)."""
    import json

    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    tok = build_family_tokenizer(family, instruct)
    f = FAMILIES[family]
    eos = [tok.convert_tokens_to_ids(t) for t in f["eos"]["instruct" if instruct else "base"]]
    cfg_cls, model_cls = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}[family]
    cfg = cfg_cls(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv_heads, intermediate_size=2 * hidden, max_position_embeddings=1024,
                  tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=eos,
                  pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = model_cls(cfg)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    meta = out / "tokenizer_config.json"          # the class name real folders carry
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "tokenizer_class": f["tokenizer_class"]}, indent=2))
    return out
