"""Evaluation. heldout.py: held-out accuracy during training (greedy + one sample). metrics.py: pass@1,
unbiased pass@k, maj@k (cons@k) and bootstrap intervals over a correctness matrix. benchmarks.py: local
benchmark files and field mappings. presets.py: the paper's protocol (r1), quick, greedy, and the
protocol diff. runner.py + summary.py + cli.py: `reasonrl eval`."""
