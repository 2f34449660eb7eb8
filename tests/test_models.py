"""Model and tokenizer loading from local folders; the embedded default."""
import pytest
import torch

from reasonrl.models import (EMBEDDED_DIR, ModelError, build_char_tokenizer, build_tiny_model, load_model,
                             n_params)


def test_save_load_round_trip(tmp_path):
    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    m2, t2 = load_model(tmp_path)
    text = "5-2+0= <think>5,3</think><answer>3</answer>"
    assert t2(text).input_ids == tok(text).input_ids
    assert t2.decode(t2(text).input_ids) == text
    ids = torch.tensor([tok(text).input_ids])
    torch.testing.assert_close(m2(ids).logits, model.eval()(ids).logits, atol=0, rtol=0)


def test_tags_are_single_tokens():
    tok = build_char_tokenizer()
    assert len(tok("<think></think><answer>7</answer>").input_ids) == 5


def test_embedded_default_is_shipped():
    model, tok = load_model("embedded")
    assert (EMBEDDED_DIR / "pretrain_config.yaml").is_file()
    assert 500_000 < n_params(model) < 2_000_000 and type(model).__name__ == "Qwen2ForCausalLM"


def test_missing_path_is_one_line_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelError, match="no config.json"):
        load_model(tmp_path)


def test_a_folder_without_tokenizer_files_is_one_line_everywhere(tmp_path, capsys):
    """A model folder with weights but no tokenizer used to load a one-entry tokenizer and crash later."""
    import shutil

    from reasonrl.cli import main
    from reasonrl.models import load_tokenizer, resolve_model_path

    src, folder = resolve_model_path("embedded"), tmp_path / "no-tok"
    folder.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(src / name, folder / name)
    with pytest.raises(ModelError, match="no tokenizer files"):
        load_tokenizer(folder)
    for argv in (["train", f"model.path={folder}", f"out={tmp_path / 'run'}"],
                 ["serve", str(folder), "--port", "0"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no tokenizer files" in err[0], err
