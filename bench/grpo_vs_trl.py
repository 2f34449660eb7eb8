"""reasonrl vs TRL's GRPOTrainer on the same GRPO step, side by side.

The workload is built once, from config, with no download: a Qwen2ForCausalLM (vocab = 95 printable
ASCII characters + pad/bos/eos/unk, hidden 256, intermediate 768, 4 layers, 4 heads, no GQA, untied
head, random init with seed 0, 3.46M parameters) and a character-level `tokenizers` tokenizer wrapped
as PreTrainedTokenizerFast, saved to a temporary folder that both frameworks load. Per step: 8
arithmetic prompts x 8 samples, 64 new tokens, temperature 1.0, beta 0.04 with a frozen reference
(`--beta 0` for the variant without one), one AdamW update per batch, fp32, the same plain Python
reward. reasonrl runs its real trainer pieces (reasonrl.train.collect.collect + reasonrl.train.update.
policy_update, as the loop in reasonrl/train/rl.py calls them); TRL runs GRPOTrainer.train() with its
defaults otherwise, including GRPOConfig's gradient checkpointing (on; `--trl-no-checkpointing` turns it off).
Memory: TRL saves activation memory by recomputing them (checkpointing); reasonrl by micro-batching the
64 sequences (`--micro 16` = train.micro_batch_size=16, the default here; 64 = one forward/backward for all).

Every run is a fresh subprocess pinned with `taskset -c CORE`, one torch thread, one warm-up step
then --steps measured steps; runs alternate reasonrl, TRL, reasonrl, TRL (--pairs pairs). Two length
modes: `fixed` (EOS never stops a completion: every completion is exactly 64 tokens, identical work;
TRL gets min_new_tokens=64) and `natural` (stop at EOS). Phases are measured the same way for both
frameworks: generation (the generate call), reference forward, policy forward (forward hooks),
backward (Tensor.backward), optimizer (global optimizer step hooks), rest = step - the others.
GFLOP/s counts the useful work of a step (real tokens only: generation + reference + policy forward
+ 2x for backward) against a measured single-thread fp32 matmul ceiling. Peak RSS is per process.

CPU:  .venv/bin/pip install -e '.[bench]'; python bench/grpo_vs_trl.py            (3-4 minutes on a shared 2-core box)
      python bench/grpo_vs_trl.py --beta 0 --modes fixed --pairs 2 --steps 2
GPU:  not wired yet (no bf16 GPU variant with a 0.5B-shaped model); this script pins to a CPU core.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HIDDEN, INTER, LAYERS, HEADS, NEW_TOKENS, PROMPTS, G = 256, 768, 4, 4, 64, 8, 8
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PHASES = ("generation", "ref_forward", "policy_forward", "backward", "optimizer")


# ---------------------------------------------------------------- workload (shared by both sides)
def build_workload(folder: Path) -> None:
    """Write the tokenizer and the random-init model (seed 0) to `folder`."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    vocab = {t: i for i, t in enumerate(SPECIALS + [chr(c) for c in range(32, 127)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIALS)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>", padding_side="left", clean_up_tokenization_spaces=False)
    cfg = Qwen2Config(vocab_size=len(vocab), hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=HEADS, tie_word_embeddings=False,
                      max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = 0, 2
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def problems(step: int) -> list[tuple[str, str]]:
    """8 arithmetic prompts of step `step` (pure in step): ('12+7=', '19')."""
    import random

    rng = random.Random(step)
    out = []
    for _ in range(PROMPTS):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        out.append((f"{a}+{b}=", str(a + b)))
    return out


def reward(text: str, answer: str) -> float:
    return 1.0 if text.strip().startswith(answer) else 0.0


# ---------------------------------------------------------------- phase timers (same for both sides)
class Phases:
    """Seconds per phase, from forward hooks, Tensor.backward, optimizer hooks and a generate wrapper."""

    def __init__(self):
        import torch

        self.t = dict.fromkeys(PHASES, 0.0)
        self.in_gen, self.starts, self.tokens = False, {}, []     # tokens: (prompt, completion) per sequence
        orig_backward = torch.Tensor.backward

        def backward(tensor, *a, **k):
            t0 = time.perf_counter()
            try:
                return orig_backward(tensor, *a, **k)
            finally:
                self.t["backward"] += time.perf_counter() - t0

        torch.Tensor.backward = backward
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        register_optimizer_step_pre_hook(lambda *a: self.starts.__setitem__("opt", time.perf_counter()))
        register_optimizer_step_post_hook(lambda *a: self._add("optimizer", "opt"))

    def _add(self, phase, key):
        self.t[phase] += time.perf_counter() - self.starts.pop(key)

    def watch(self, model, phase: str) -> None:
        def pre(*a):
            if not self.in_gen:
                self.starts[phase] = time.perf_counter()

        def post(*a):
            if not self.in_gen and phase in self.starts:
                self._add(phase, phase)

        model.register_forward_pre_hook(pre)
        model.register_forward_hook(post)

    def wrap_generate(self, obj, count):
        orig = obj.generate

        def generate(*a, **k):
            self.in_gen, t0 = True, time.perf_counter()
            try:
                out = orig(*a, **k)
            finally:
                self.in_gen = False
                self.t["generation"] += time.perf_counter() - t0
            self.tokens.extend(count(out, a, k))
            return out

        obj.generate = generate

    def reset(self):
        self.t, self.tokens = dict.fromkeys(PHASES, 0.0), []


# ---------------------------------------------------------------- the two workers
def run_reasonrl(folder: Path, mode: str, beta: float, steps: int, backend_name: str, micro: int = 64) -> list[dict]:
    import copy

    import torch

    from reasonrl.config import load_config
    from reasonrl.models import load_model
    from reasonrl.rollout import make_backend
    from reasonrl.train.collect import collect
    from reasonrl.train.update import policy_update
    from reasonrl.types import Sample

    cfg = load_config(None, [f"algo.beta={beta}", "algo.epochs=1", "algo.mini_batches=1", "algo.skip_zero_variance=false",
                             "algo.dynamic_sampling=false", "algo.mask_truncated=false", "rollout.temperature=1.0",
                             f"rollout.max_new_tokens={NEW_TOKENS}", f"rollout.num_generations={G}",
                             f"rollout.backend={backend_name}", f"train.prompts_per_step={PROMPTS}",
                             f"train.micro_batch_size={micro}", "train.lr=1e-6", "train.max_grad_norm=1.0"])
    model, tok = load_model(folder, "float32", "cpu", "sdpa")
    ref = copy.deepcopy(model).requires_grad_(False).eval() if beta > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=0.0)
    backend = make_backend(cfg.rollout.backend, model, tok, cfg.rollout)
    if mode == "fixed":
        backend.eos = [len(tok) + 1000]             # an id that is never sampled: every completion is 64 tokens

    class Task:
        def train_batch(self, seed, step, n):
            return [Sample(prompt=p, answer=a) for p, a in problems(step)][:n]

    render = lambda p: p  # noqa: E731
    render.prefill = ""

    def reward_fn(texts, per_seq, **_):
        r = torch.tensor([reward(t, s.answer) for t, s in zip(texts, per_seq)])
        return r, {"answer": r}, {"answer": ["ok"] * len(texts)}

    ph = Phases()
    ph.watch(model, "policy_forward")
    if ref is not None:
        ph.watch(ref, "ref_forward")
    ph.wrap_generate(backend, lambda g, a, k: list(zip(g.prompt_mask.sum(1).tolist(), g.completion_mask.sum(1).tolist())))
    out = []
    for step in range(1, steps + 2):
        ph.reset()
        t0 = time.perf_counter()
        torch.manual_seed(step)
        batch, _, _ = collect(step, cfg, Task(), backend, reward_fn, render)
        policy_update(model, ref, opt, batch, cfg.algo, max_new_tokens=NEW_TOKENS,
                      micro_batch_size=micro, max_grad_norm=1.0, step_seed=step)
        backend.sync_weights(model)
        out.append({"step_s": time.perf_counter() - t0, "phases": dict(ph.t), "tokens": ph.tokens})
    return out[1:]


def run_trl(folder: Path, mode: str, beta: float, steps: int, workdir: str, checkpointing: bool = True) -> list[dict]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from reasonrl.algo.logprobs import completion_mask

    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
    rows = [{"prompt": "<bos>" + p, "answer": a} for s in range(1, steps + 2) for p, a in problems(s)]

    def reward_func(prompts, completions, answer, **_):
        return [reward(c, a) for c, a in zip(completions, answer)]

    args = GRPOConfig(output_dir=workdir, per_device_train_batch_size=PROMPTS * G, num_generations=G,
                      max_completion_length=NEW_TOKENS, temperature=1.0, top_k=0, top_p=1.0, beta=beta,
                      learning_rate=1e-6, max_grad_norm=1.0, num_iterations=1, gradient_accumulation_steps=1,
                      max_steps=steps + 1, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
                      bf16=False, fp16=False, seed=0, shuffle_dataset=False, disable_tqdm=True,
                      gradient_checkpointing=checkpointing,     # GRPOConfig's default is True
                      generation_kwargs={"min_new_tokens": NEW_TOKENS} if mode == "fixed" else None)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_func, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=tok)
    ph = Phases()
    ph.watch(trainer.model, "policy_forward")
    if trainer.ref_model is not None:
        ph.watch(trainer.ref_model, "ref_forward")

    def count(out, a, k):
        p = k["input_ids"].shape[1]
        cmask, _ = completion_mask(out[:, p:], [2])
        return list(zip(k["attention_mask"].sum(1).tolist(), cmask.sum(1).tolist()))

    ph.wrap_generate(trainer.model, count)
    res = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            ph.reset()
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            res.append({"step_s": time.perf_counter() - self.t0, "phases": dict(ph.t), "tokens": ph.tokens})

    trainer.add_callback(Timer())
    trainer.train()
    return res[1:]


def worker(a) -> None:
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        if a.worker == "reasonrl":
            steps = run_reasonrl(Path(a.folder), a.mode, a.beta, a.steps, a.backend, a.micro)
        else:
            steps = run_trl(Path(a.folder), a.mode, a.beta, a.steps, work, not a.trl_no_checkpointing)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB -> MiB (Linux)
    print("RESULT " + json.dumps({"steps": steps, "peak_rss_mib": rss}))


# ---------------------------------------------------------------- driver: A B A B, table
def matmul_ceiling() -> float:
    """Best single-thread fp32 GFLOP/s of (2048 x 256) @ (256 x 768), the MLP's shape."""
    import torch

    torch.set_num_threads(1)
    x, w = torch.randn(2048, 256), torch.randn(256, 768)
    best = 0.0
    for _ in range(20):
        t0 = time.perf_counter()
        for _ in range(5):
            x @ w
        best = max(best, 5 * 2 * 2048 * 256 * 768 / (time.perf_counter() - t0) / 1e9)
    return best


def step_flops(tokens: list[tuple[int, int]], beta: float) -> float:
    """Useful FLOPs of one step: per real token 2 x matmul params + causal attention; generation,
    reference (beta > 0) and policy forwards, backward = 2 x forward."""
    mm = LAYERS * (4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTER) + (len(SPECIALS) + 95) * HIDDEN
    fwd = sum(2 * mm * (p + c) + 4 * LAYERS * HIDDEN * (p + c) * (p + c + 1) / 2 for p, c in tokens)
    return fwd * (1 + (1 if beta > 0 else 0) + 3)


def launch(fw: str, folder: Path, a) -> dict:
    cmd = ["taskset", "-c", str(a.core), sys.executable, __file__, "--worker", fw, "--folder", str(folder),
           "--mode", a.mode_now, "--beta", str(a.beta), "--steps", str(a.steps), "--backend", a.backend,
           "--micro", str(a.micro)]
    cmd += ["--trl-no-checkpointing"] if a.trl_no_checkpointing else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        sys.exit(f"{fw} worker failed:\n{p.stderr[-3000:]}")
    return json.loads(line[-1][7:])


def summarize(name: str, runs: list[dict], beta: float, ceiling: float) -> tuple[str, float]:
    steps = [s for r in runs for s in r["steps"]]
    times = [s["step_s"] for s in steps]
    med = statistics.median(times)
    comp = statistics.median([sum(c for _, c in s["tokens"]) / s["step_s"] for s in steps])
    gflops = statistics.median([step_flops(s["tokens"], beta) / s["step_s"] / 1e9 for s in steps])
    ph = {k: statistics.median([s["phases"][k] for s in steps]) for k in PHASES}
    rest = med - sum(ph.values())
    share = " ".join(f"{ph[k]:5.2f}" for k in PHASES) + f" {rest:5.2f}"
    rss = max(r["peak_rss_mib"] for r in runs)
    return (f"{name:9s} {med:6.2f} {min(times):5.2f}-{max(times):5.2f} {comp:7.0f} {share} "
            f"{gflops:6.1f} {100 * gflops / ceiling:4.0f}% {rss:7.0f}"), med


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--modes", default="fixed,natural", help="comma list of fixed, natural")
    ap.add_argument("--beta", type=float, default=0.04, help="KL coefficient (0 = no reference model)")
    ap.add_argument("--pairs", type=int, default=2, help="reasonrl/TRL run pairs per mode (A B A B)")
    ap.add_argument("--steps", type=int, default=2, help="measured steps per run, after one warm-up step")
    ap.add_argument("--core", type=int, default=1, help="CPU core to pin every run to (taskset -c)")
    ap.add_argument("--backend", default="fast", help="reasonrl rollout backend (fast or hf)")
    ap.add_argument("--micro", type=int, default=16,
                    help="reasonrl train.micro_batch_size (sequences per forward/backward; 64 = the whole batch in one)")
    ap.add_argument("--trl-no-checkpointing", action="store_true",
                    help="turn off gradient checkpointing in TRL (GRPOConfig's default is on; reasonrl never uses it)")
    ap.add_argument("--worker", choices=["reasonrl", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    load = os.getloadavg()
    print(f"# grpo_vs_trl  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.machine()} "
          f"{os.cpu_count()} cores, pinned to core {a.core}, 1 thread  load average at start: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    ceiling = matmul_ceiling()
    print(f"# workload: Qwen2 {HIDDEN}h x {LAYERS}L, {PROMPTS} prompts x {G} samples x {NEW_TOKENS} new tokens, "
          f"fp32, AdamW, beta {a.beta}; reasonrl backend '{a.backend}', micro-batch {a.micro}; "
          f"matmul ceiling {ceiling:.1f} GFLOP/s")
    if a.trl_no_checkpointing:
        print("# TRL gradient checkpointing: off (not TRL's default)")
    print(f"# {a.pairs} pairs x {a.steps} measured steps per run (1 warm-up step each); phases in seconds (median)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        build_workload(folder)
        for mode in a.modes.split(","):
            a.mode_now = mode
            runs = {"reasonrl": [], "trl": []}
            ratios = []
            for _ in range(a.pairs):
                for fw in ("reasonrl", "trl"):
                    runs[fw].append(launch(fw, folder, a))
                med = lambda r: statistics.median(s["step_s"] for s in r["steps"])  # noqa: E731
                ratios.append(med(runs["trl"][-1]) / med(runs["reasonrl"][-1]))
            print(f"\n## mode {mode}")
            print(f"{'framework':9s} {'s/step':>6s} {'spread':>11s} {'tok/s':>7s} {'gen':>5s} {'ref':>5s} {'pol':>5s} "
                  f"{'bwd':>5s} {'opt':>5s} {'rest':>5s} {'GFLOP/s':>6s} {'roof':>5s} {'RSS MiB':>7s}")
            for fw in ("reasonrl", "trl"):
                print(summarize(fw, runs[fw], a.beta, ceiling)[0])
            print(f"ratio TRL/reasonrl per pair: {' '.join(f'{r:.2f}' for r in ratios)}  "
                  f"median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
