"""Shared fixtures: tiny models built from config (no downloads)."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (restoring the caller's count): tiny models run fastest so and
    two tests in parallel do not fight over the cores. Modules opt in with
    `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    from reasonrl.models import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def tiny_lm():
    """(model, tokenizer): a randomly initialised 2-layer Qwen2 with the character tokenizer."""
    from reasonrl.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)
    model.eval()
    return model, tok
