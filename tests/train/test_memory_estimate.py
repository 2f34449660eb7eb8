"""estimate_peak_bytes on a config small enough to count by hand: a 2-layer Qwen2, vocab 10, hidden 8,
2 heads (head dim 4), 2 KV heads, MLP 16, tied embeddings, float32 (4 bytes per value).

Parameters: embedding 10*8 = 80; per layer q, k, v 3 * (8*8 + 8) = 216, o 64, gate/up/down 3 * 8*16 = 384,
two norms 16 -> 680; final norm 8: 80 + 2*680 + 8 = 1448 values = 5792 bytes (P).
A micro-batch of 2 x 5 tokens (T = 10): activations per layer 34 * 8 * 10 * 4 = 10880, attention scores
and probabilities 2 seqs * 2 heads * 5 * 5 * 4 bytes * 2 = 800 per layer; logits 3 * 10 * 10 * 4 = 1200."""
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from reasonrl.train.guards import estimate_peak_bytes

P, ACT, ATTN, LOGITS = 5792, 10880, 800, 1200


def _model():
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=10, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=2, intermediate_size=16, tie_word_embeddings=True))


def test_full_training_counts_weights_grads_adam_activations_and_logits():
    m = _model()
    assert sum(p.numel() for p in m.parameters()) == 1448
    assert estimate_peak_bytes(m, 2, 5, 10) == 4 * P + 2 * (ACT + ATTN) + LOGITS == 47728


def test_reference_model_adds_one_copy_of_the_weights():
    assert estimate_peak_bytes(_model(), 2, 5, 10, reference=True) == 5 * P + 2 * (ACT + ATTN) + LOGITS == 53520


def test_only_trainable_weights_get_grads_and_adam_state():
    m = _model()
    m.requires_grad_(False)
    m.model.embed_tokens.weight.requires_grad_(True)          # 80 values = 320 bytes trainable, as LoRA's share
    assert estimate_peak_bytes(m, 2, 5, 10) == P + 3 * 320 + 2 * (ACT + ATTN) + LOGITS == 31312


def test_gradient_checkpointing_keeps_layer_inputs_and_one_layer():
    m = _model()
    m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    kept = 2 * 8 * 10 * 4                                      # each layer's input: layers * hidden * T * 4
    assert estimate_peak_bytes(m, 2, 5, 10) == 4 * P + kept + ACT + ATTN + LOGITS == 36688
