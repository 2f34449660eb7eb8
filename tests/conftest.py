"""Shared fixtures: tiny models built from config (no downloads)."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tiny_lm():
    """(model, tokenizer): a randomly initialised 2-layer Qwen2 with the character tokenizer."""
    from reasonrl.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)
    model.eval()
    return model, tok
