"""reasonrl: train reasoning into language models with reinforcement learning from verifiable,
rule-based rewards (GRPO and its family), R1-style. See README.md and DESIGN.md."""
__version__ = "0.1.0"
