"""Evaluation: held-out accuracy during training (heldout.py)."""
