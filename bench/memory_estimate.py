"""Start-up memory estimate vs measured peak, at a real size without real weights: a randomly
initialised model with Qwen2.5-0.5B's exact shape (24 layers, hidden 896, 14 heads / 2 KV heads,
MLP 4864, vocabulary 151,936, tied embeddings: 494M parameters; no download) runs one RL step on
this CPU (1 prompt x 2 generations, short completions) in each dtype and variant asked for.

    nice -n 10 python bench/memory_estimate.py                          # bf16 and fp32, a few minutes
    python bench/memory_estimate.py --dtypes float32 --variants plain,lora,checkpointing

Each step runs in its own process. `estimate` is reasonrl.train.guards.estimate_peak_bytes for the
micro-batch `reasonrl train` warns about at start-up (the same call as its pre-flight check: the
longest held-out prompt + rollout.max_new_tokens, the reference model when algo.beta > 0, LoRA's
trainable share, gradient checkpointing). `measured` is the process's peak resident memory
(ru_maxrss) minus its resident memory before the model was loaded (Python, torch, transformers).
error = (estimate - measured) / measured: positive = the estimate is on the safe side. `at load`
is the process's peak resident memory once the policy, the reference and the optimizer are built,
before the step (loading a checkpoint briefly holds the file and the model together).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
VARIANTS = {"plain": [], "lora": ["model.lora_r=16"], "checkpointing": ["train.gradient_checkpointing=true"]}


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def build(out: Path) -> None:
    """Save the 0.5B-shaped folder (bf16 weights) with a Qwen2.5-format tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from reasonrl.models import build_family_tokenizer

    tok = build_family_tokenizer("qwen2", instruct=True)
    eos = [tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    cfg = Qwen2Config(**QWEN25_05B, bos_token_id=None, eos_token_id=eos, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config.eos_token_id = eos
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _two_signs(step: int, batch):
    """Random weights earn equal rewards, and a group without reward variance is skipped without a
    backward pass; rewards 1, 0 and advantages +1, -1 make the step a full update (the case to size)."""
    import dataclasses

    import torch

    rewards = torch.tensor([1.0, 0.0] * (len(batch.rewards) // 2))
    return dataclasses.replace(batch, rewards=rewards, advantages=2 * rewards - 1)


def one_step(folder: Path, dtype: str, variant: str, new_tokens: int) -> dict:
    """One RL step in this process; -> the estimate and the measured peak, in bytes."""
    import torch  # noqa: F401  (counted in the baseline)
    import transformers  # noqa: F401

    from reasonrl.config import load_config
    from reasonrl.models import n_params
    from reasonrl.train import rl
    from reasonrl.train.guards import estimate_peak_bytes
    from reasonrl.train.hooks import Hooks

    base = rss_bytes()
    out = Path(tempfile.mkdtemp(prefix="memest-"))        # the run directory: config.yaml only
    cfg = load_config(None, [f"model.path={folder}", f"model.dtype={dtype}", "train.prompts_per_step=1",
                             "rollout.num_generations=2", f"rollout.max_new_tokens={new_tokens}", "eval.size=1",
                             "train.threads=2", "algo.mask_truncated=false", f"out={out}",
                             *VARIANTS[variant]])
    r = rl.build(cfg, log=lambda *_: None, hooks=Hooks(before_update=_two_signs))
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024       # peak while loading
    heldout = r.task.heldout()[:cfg.eval.size]
    prompt_len = max(len(r.tok(r.render(s.prompt)).input_ids) for s in heldout) + 1
    n = min(cfg.train.micro_batch_size, cfg.train.prompts_per_step * cfg.rollout.num_generations)
    est = estimate_peak_bytes(r.model, n, prompt_len + new_tokens, r.model.config.vocab_size,
                              reference=bool(cfg.algo.beta))
    t0 = time.time()
    _, m = rl.train_step(r, 1)
    shutil.rmtree(out, ignore_errors=True)
    assert m.get("update/optimizer_steps", 0) >= 1, m          # a full update ran: grads and Adam state exist
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"dtype": dtype, "variant": variant, "params": n_params(r.model), "reference": r.ref is not None,
            "tokens": n * (prompt_len + new_tokens), "estimate": est, "baseline": base, "peak": peak, "loaded": loaded,
            "measured": peak - base, "step_s": round(time.time() - t0, 1), "loss": m.get("loss/policy")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--variants", default="plain", help=f"comma-separated: {', '.join(VARIANTS)}")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--_step", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._step:
        print(json.dumps(one_step(Path(args._step[0]), args._step[1], args._step[2], args.new_tokens)))
        return
    with tempfile.TemporaryDirectory(prefix="qwen25-05b-shape-") as tmp:
        measure(Path(tmp), args)


def measure(folder: Path, args) -> None:
    """Build the folder, then one step per dtype x variant, each in its own process; print the table."""
    t0 = time.time()
    build(folder)
    print(f"built {folder} (Qwen2.5-0.5B shape, random bf16 weights) in {time.time() - t0:.0f}s")
    gib = 2 ** 30
    print(f"{'dtype':9s} {'variant':14s} {'params':>7s} {'ref':>4s} {'tokens':>6s} {'estimate':>9s} "
          f"{'measured':>9s} {'error':>7s} {'peak RSS':>9s} {'at load':>9s} {'step':>6s}")
    for dtype in args.dtypes.split(","):
        for variant in args.variants.split(","):
            cmd = [sys.executable, __file__, "--new-tokens", str(args.new_tokens), "--_step", str(folder), dtype,
                   variant]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                print(f"{dtype:9s} {variant:14s} failed: {res.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            err = (r["estimate"] - r["measured"]) / r["measured"]
            print(f"{dtype:9s} {variant:14s} {r['params'] / 1e6:6.0f}M {'yes' if r['reference'] else 'no':>4s} "
                  f"{r['tokens']:6d} {r['estimate'] / gib:7.2f}Gi {r['measured'] / gib:7.2f}Gi {err:+7.0%} "
                  f"{r['peak'] / gib:7.2f}Gi {r['loaded'] / gib:7.2f}Gi {r['step_s']:5.0f}s")


if __name__ == "__main__":
    main()
