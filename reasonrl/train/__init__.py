"""Training loops: rl.py (the GRPO family), pretrain.py (the embedded default's base model)."""
