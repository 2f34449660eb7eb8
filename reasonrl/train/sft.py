"""`reasonrl sft`: supervised fine-tuning on prompt/completion or conversation JSONL (cold start, distillation).

The loss is the mean cross-entropy over completion tokens only. The prompt is rendered exactly as RL,
evaluation and serving render it (reasonrl.templates.Renderer, then reasonrl.rollout.hf.encode_prompts,
so BOS handling is shared); the completion is the tokenizer's encoding of the completion text (minus the
renderer's "<think>\\n" prefill when the template prefills it) followed by EOS, which is what a sampler
emits. Every example must contribute at least one completion token (checked): a row that does not fit
`data.max_length` is dropped and counted, never silently truncated to a prompt-only row.

Packing: the examples of one optimizer step are packed first-fit-decreasing into rows of
`data.max_length` tokens; position ids restart at 0 for each example and the attention mask is left to
transformers, which builds a block-diagonal causal mask from the position-id resets (masking_utils,
eager/sdpa/flash alike, when no KV cache is passed: use_cache=False), so packed examples never see
each other. The loss is normalized by the step's total completion tokens, so packing and
micro-batching change speed, never the math.

LoRA (reasonrl.scale.lora, `model.lora_r > 0`): only the adapters train; checkpoints hold the adapter, resume
loads the base from `model.path` and the adapter from the checkpoint, and `final/` is the merged plain HF
folder. `model.autocast=bfloat16` runs every forward under torch.autocast (loss in float32).

Departures from the paper (R1 v2 B.4.2: 2-3 epochs, cosine LR 5e-5 -> 5e-6, 32k context, batch 128):
the same cosine shape and epochs; sizes are scaled to the model. Multi-turn conversations are refused
(one optional system turn, one user turn, one assistant turn).

CPU:   reasonrl sft data.files=[runs/sample/traces.jsonl] train.lr=5e-4 out=runs/sft    (seconds; the embedded base)
GPUs:  reasonrl sft my.yaml model.path=/models/Qwen2.5-1.5B model.dtype=bfloat16 \\
           model.attn_implementation=flash_attention_2 data.max_length=16384 train.lr=5e-5
       (LoRA: add model.lora_r=64 model.lora_alpha=128 model.autocast=bfloat16 train.lr=2e-4)
Re-running the same command on the same `out` resumes from its newest checkpoint.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from reasonrl import checkpoint
from reasonrl.config import SFTConfig, SFTDataConfig, SFTEvalConfig, SFTTrainConfig, summary_line  # noqa: F401
from reasonrl.logging import JsonlLog
from reasonrl.models import load_model, n_params, resolve_model_path
from reasonrl.rollout.hf import HFBackend
from reasonrl.safeio import atomic_write_text
from reasonrl.scale import lora
from reasonrl.templates import Renderer
from reasonrl.train.rundir import check_or_write_config
from reasonrl.train.sft_data import (IGNORE, Example, check_assistant_mask, encode_dataset,  # noqa: F401 (re-exported)
                                     encode_example, pack, read_examples, read_rows, step_indices)


def completion_loss(model, ids, labels, pos, total_tokens: int, autocast: str = "none") -> torch.Tensor:
    """Sum of completion-token cross-entropies of a (micro-)batch divided by the step's total.
    ids, labels, pos (R, L) -> scalar. autocast='bfloat16' runs the forward under torch.autocast
    (the cross-entropy is computed in float32)."""
    with lora.autocast(autocast, ids.device):
        logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits[:, :-1]
    logits = logits.float()
    target = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                           ignore_index=IGNORE, reduction="sum")
    return ce / max(total_tokens, 1)


def sft_step(model, opt, batch, tcfg: SFTTrainConfig, autocast: str = "none") -> dict:
    """One optimizer step on packed rows `batch` = (ids, labels, pos), micro-batched by rows; only the
    trainable parameters (all, or the LoRA adapters) are clipped and stepped."""
    device = next(model.parameters()).device
    ids, labels, pos = (x.to(device) for x in batch)
    total = int((labels[:, 1:] != IGNORE).sum().item())
    opt.zero_grad(set_to_none=True)
    loss_sum = 0.0
    model.train()
    for i in range(0, ids.shape[0], tcfg.micro_batch_size):
        sl = slice(i, i + tcfg.micro_batch_size)
        loss = completion_loss(model, ids[sl], labels[sl], pos[sl], total, autocast)
        loss.backward()
        loss_sum += loss.item()
    norm = torch.nn.utils.clip_grad_norm_(lora.trainable(model), tcfg.max_grad_norm).item()
    if math.isfinite(norm):
        opt.step()
    return {"loss": loss_sum, "tokens/trained": total, "rows": int(ids.shape[0]),
            "fill": float((labels != IGNORE).sum().item() + 0.0) / max(ids.numel(), 1),
            "grad_norm": norm if math.isfinite(norm) else None}


def _lr_lambda(tcfg: SFTTrainConfig, total: int):
    def f(s: int) -> float:
        if s < tcfg.warmup_steps:
            return (s + 1) / tcfg.warmup_steps
        frac = min(1.0, (s - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps))
        return tcfg.min_lr_ratio + (1 - tcfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
    return f


def total_steps(cfg: SFTConfig, n_examples: int) -> int:
    return cfg.train.steps or cfg.train.epochs * math.ceil(n_examples / cfg.train.batch_size)


def _setup(cfg: SFTConfig, log):
    """Model (from the newest checkpoint when resuming; with LoRA the base from model.path and the adapter
    from the checkpoint), tokenizer, optimizer over the trainable parameters, scheduler, start step."""
    out = Path(cfg.out)
    resolve_model_path(cfg.model.path)
    examples = read_examples(cfg.data.files, cfg.data.prompt_field, cfg.data.completion_field)
    existed = check_or_write_config(cfg, out)
    found = checkpoint.latest(out, log) if existed else None
    m, t = cfg.model, cfg.train
    lora.check(m)
    full = found[1] if found and not m.lora_r else None     # with LoRA the base always comes from model.path
    model, tok = load_model(full or m.path, m.dtype, m.device, m.attn_implementation)
    if t.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if m.lora_r:            # only the adapters train; resume restores them from the checkpoint
        model = lora.wrap(model, m, seed=cfg.seed, adapter_dir=found[1] if found else None)
        log(lora.describe(model, m))
    opt = torch.optim.AdamW(lora.trainable(model), lr=t.lr, weight_decay=t.weight_decay,
                            betas=(t.adam_beta1, t.adam_beta2))
    render = Renderer(tok, m.template, m.prefill_think)
    enc = encode_dataset(render, tok, examples, cfg.data.max_length, log)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(t, total_steps(cfg, len(enc))))
    start = 0
    if found:
        start = checkpoint.restore(found[1], opt, sched)["step"]
        log(f"resuming {out} from step {start} ({found[1]})")
    return model, tok, render, opt, sched, enc, start


def first_eval(metrics: JsonlLog, start: int, evaluate) -> dict:
    """Step-0 evaluation of the starting model (read back from metrics.jsonl when resuming)."""
    if start:
        return next((r for r in metrics.rows() if r.get("step") == 0), {})
    ev = evaluate()
    metrics.write({"step": 0, **ev})
    return ev


def make_evaluator(cfg: SFTConfig, model, tok, render):
    """() -> held-out metrics dict (empty when eval.size is 0)."""
    if cfg.eval.size <= 0:
        return lambda: {}
    from reasonrl.eval.heldout import evaluate_heldout
    from reasonrl.tasks import make_task
    from reasonrl.rollout import prompt_token_counter

    task = make_task(cfg.task, prompt_len=prompt_token_counter(tok, render))
    heldout = task.heldout()[:cfg.eval.size]
    backend = HFBackend(model, tok)
    return lambda: evaluate_heldout(backend, task, heldout, render=render, max_new_tokens=cfg.eval.max_new_tokens,
                                    temperature=cfg.eval.temperature, sampled=cfg.eval.sampled, seed=cfg.seed)


def _steps(cfg: SFTConfig, model, tok, opt, sched, enc, start: int, metrics, evaluate, log) -> tuple[int, int]:
    """Optimizer steps start+1 .. total with logging, evaluation and checkpoints.
    -> (last step done, exit code: 0, or EXIT_STOPPED after a SIGTERM/SIGINT and its checkpoint)."""
    from reasonrl.train.guards import EXIT_STOPPED, GracefulStop

    out, total, t_start, step = Path(cfg.out), total_steps(cfg, len(enc)), time.time(), start
    with GracefulStop(log) as stopper:
        for step in range(start + 1, total + 1):
            t0 = time.time()
            idx = step_indices(step, len(enc), cfg.train.batch_size, cfg.seed)
            m = sft_step(model, opt, pack([enc[i] for i in idx], cfg.data.max_length, tok.pad_token_id,
                                          cfg.data.packing), cfg.train, cfg.model.autocast)
            sched.step()
            m["lr"] = sched.get_last_lr()[0]
            last = step == total
            out_of_time = cfg.train.time_budget_s and time.time() - t_start > cfg.train.time_budget_s
            stopping = bool(stopper.requested) or out_of_time
            if last or (cfg.eval.every and step % cfg.eval.every == 0):   # a stop never changes the record
                m.update(evaluate())
            m["time/step_s"] = time.time() - t0
            metrics.write({"step": step, **m})
            if last or step % cfg.train.log_every == 0 or "acc/heldout" in m:
                extra = f" | heldout {m['acc/heldout']:.2f}" if "acc/heldout" in m else ""
                log(f"step {step:5d}/{total} | loss {m['loss']:.4f} | lr {m['lr']:.2e}{extra}")
            if last or stopping or step % cfg.train.checkpoint_every == 0:
                checkpoint.save(out, step, model, tok, {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
                                keep=cfg.train.keep_checkpoints)
            if stopping and not last:
                why = f"{stopper.requested} received" if stopper.requested else \
                    f"time budget of {cfg.train.time_budget_s:.0f}s reached"
                log(f"{why} at step {step}: checkpoint saved; re-run the same command to continue")
                return step, EXIT_STOPPED             # signal or time budget: unfinished, re-run to continue
    return step, 0


def train(cfg: SFTConfig, log=print) -> dict:
    """Run (or resume) SFT; returns {'out', 'steps', 'examples', 'seconds', 'before', 'after',
    'exit_code'} (also summary.json). The model is exported to OUT/final after the last step."""
    from reasonrl.models import torch_threads
    from reasonrl.runlock import owned_while_running

    with torch_threads(cfg.train.threads), owned_while_running(cfg.out):
        return _train(cfg, log)


def _train(cfg: SFTConfig, log) -> dict:
    out, t_begin = Path(cfg.out), time.time()
    model, tok, render, opt, sched, enc, start = _setup(cfg, log)
    total = total_steps(cfg, len(enc))
    log(summary_line(cfg, out / "config.yaml"))
    log(f"sft: {cfg.model.path} ({n_params(model):,} params) | {len(enc)} examples | {total} steps")
    metrics = JsonlLog(out / "metrics.jsonl", resume_step=start if start else None)
    evaluate = make_evaluator(cfg, model, tok, render)
    before = first_eval(metrics, start, evaluate)
    step, exit_code = _steps(cfg, model, tok, opt, sched, enc, start, metrics, evaluate, log)
    evals = [r for r in metrics.rows() if "acc/heldout" in r]
    after = {k: v for k, v in (evals[-1] if evals else {}).items() if "heldout" in k}
    if step == total:
        checkpoint.export(model, tok, out / "final")
    result = {"out": str(out), "steps": step, "examples": len(enc), "seconds": round(time.time() - t_begin, 1),
              "before": before, "after": after, "exit_code": exit_code}
    atomic_write_text(out / "summary.json", json.dumps(result, indent=2) + "\n", what="summary")
    return result
