"""reasonrl: train reasoning into language models with reinforcement learning from verifiable,
rule-based rewards (GRPO and its family), R1-style. See README.md; docs/design.md maps the package
(its layers, what may import what, and where each kind of change goes)."""
__version__ = "0.1.0"
