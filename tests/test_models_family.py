"""Real architectures from config with real-format tokenizers built offline: the folders load through
the normal path, pick the right template, and carry every EOS id of their family."""
import pytest

from reasonrl.models import eos_ids, load_model, save_tiny_family_model
from reasonrl.rollout.hf import HFBackend, encode_prompts
from reasonrl.templates import Renderer


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {(fam, inst): save_tiny_family_model(root / f"{fam}-{inst}", fam, inst)
            for fam in ("qwen2", "llama") for inst in (True, False)}


@pytest.mark.parametrize("family, instruct, arch, eos, kind", [
    ("qwen2", True, "Qwen2ForCausalLM", ["<|endoftext|>", "<|im_end|>"], "chat"),
    ("qwen2", False, "Qwen2ForCausalLM", ["<|endoftext|>"], "raw"),
    ("llama", True, "LlamaForCausalLM", ["<|end_of_text|>", "<|eot_id|>"], "chat"),
    ("llama", False, "LlamaForCausalLM", ["<|end_of_text|>"], "raw"),
])
def test_folder_loads_with_family_eos_and_template(folders, family, instruct, arch, eos, kind):
    model, tok = load_model(folders[family, instruct], device="cpu")
    assert type(model).__name__ == arch
    assert sorted(tok.convert_ids_to_tokens(eos_ids(model, tok))) == sorted(eos)   # generation_config adds the 2nd
    render = Renderer(tok, "auto", prefill_think=True)
    assert render.resolved() == kind
    text = render("What is 2+2?")
    assert text.endswith("<think>\n") and "What is 2+2?" in text
    if kind == "chat":
        marker = "<|im_start|>" if family == "qwen2" else "<|start_header_id|>"
        ids = encode_prompts(tok, [text], "cpu")[0][0].tolist()
        assert tok.convert_tokens_to_ids(marker) in ids          # a single special token, not split text


def test_r1zero_template_and_generation_on_a_base_model(folders):
    model, tok = load_model(folders["qwen2", False], device="cpu")
    text = Renderer(tok, "r1zero")("What is 2+2?")
    assert text.startswith("A conversation between User and Assistant.") and text.endswith("Assistant:")
    gen = HFBackend(model, tok).generate([text], n=2, max_new_tokens=5)
    assert gen.completion_ids.shape == (2, 5) and len(gen.texts) == 2


def test_qwen_tokenizer_loads_as_its_real_class(folders):
    _, tok = load_model(folders["qwen2", True], device="cpu")
    assert type(tok).__name__ == "Qwen2Tokenizer" and tok.bos_token is None and tok.pad_token == "<|endoftext|>"
