"""RL math as small pure functions over tensors: advantages, surrogates, aggregation, KL, logprobs.

Shapes: `B` prompts, `G` samples per prompt, `N = B*G` sequences, `T` completion tokens.
"""
