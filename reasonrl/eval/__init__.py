"""Evaluation. heldout.py: the one generate -> verify path (reasonrl eval and the training loop's
held-out evaluation). metrics.py: pass@1, unbiased pass@k, maj@k (cons@k) and bootstrap intervals over
a correctness matrix. benchmarks.py: local benchmark files and field mappings. presets.py: the paper's
protocol (r1), quick, greedy, and the protocol diff. runner.py + summary.py + cli.py: `reasonrl eval`;
endpoint.py: OpenAI-compatible servers as a generation path; refusal.py: the per-topic refusal audit;
thinking.py: accuracy when the reasoning is cut; textgen.py: their shared text generation;
progress.py: the progress bar."""
