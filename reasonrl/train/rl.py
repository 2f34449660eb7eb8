"""`reasonrl train`: the GRPO-family RL loop, top to bottom.

    sample -> verify -> advantages -> update -> log -> (evaluate) -> checkpoint

Each step draws B = train.prompts_per_step problems, samples G = rollout.num_generations completions
per problem, scores them with the configured rewards, turns the rewards of each group into
advantages, and updates the policy with the configured surrogate, aggregation and KL (reasonrl.algo).

Departures from the paper: the embedded default is a 0.87M-parameter model on a synthetic task
(walk), not DeepSeek-V3 on math and code; everything else (group advantages, clipped ratio, k3 KL
to a frozen reference, rule-based rewards, <think>/<answer> template) is the R1-Zero recipe.

CPU:   reasonrl train                                   # the embedded tiny default, a few minutes
       reasonrl train configs/tiny.yaml algo.preset=dr_grpo out=runs/dr
GPUs:  reasonrl train my.yaml model.path=/models/Qwen2.5-7B model.dtype=bfloat16 model.attn_implementation=sdpa
Re-running the same command on the same `out` resumes from its newest checkpoint.
Data parallel (reasonrl.dist): torchrun --nproc_per_node=2 --no-python reasonrl train train.threads=1
(gloo on CPU, nccl on GPUs; B = train.prompts_per_step is the global batch and must divide by the
number of processes; only rank 0 writes; resuming with another number of processes is allowed).
Asynchronous: train.async_staleness=k >= 1 samples in a rollout worker process up to k steps ahead
(reasonrl.train.worker, docs/async.md); k = 0 is this loop as it always was.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import torch

from reasonrl import checkpoint, dist
from reasonrl.algo.presets import describe, warnings
from reasonrl.config import Config, ConfigError, summary_line
from reasonrl.logging import progress_line, shown_step
from reasonrl.models import load_model, load_tokenizer, n_params, resolve_model_path, threads_note, torch_threads
from reasonrl.rollout import make_backend, prompt_token_counter
from reasonrl.runlock import owned_while_running
from reasonrl.safeio import atomic_write_text
from reasonrl.scale import fsdp, lora
from reasonrl.tasks import make_task
from reasonrl.tasks.base import StyledTask
from reasonrl.tasks.curriculum import CurriculumTask, replay
from reasonrl.templates import Renderer
from reasonrl.train.collect import collect, finish, sampling_seed
from reasonrl.train.guards import (EXIT_DIVERGED, EXIT_NONFINITE, EXIT_STOPPED, DivergenceGuard, GracefulStop,
                                   NonFiniteGuard, available_bytes, estimate_peak_bytes)
from reasonrl.train.hooks import Hooks
from reasonrl.train.record import RunRecord, length_band
from reasonrl.train.rundir import check_or_write_config
from reasonrl.train.update import policy_update
from reasonrl.train.watchdog import StallWatchdog
from reasonrl.train.worker import AsyncSampler, sampler_for, trainer_threads
from reasonrl.types import RolloutBatch
from reasonrl.verifiers.compose import RewardFn


def batch_metrics(batch: RolloutBatch, task) -> dict:
    """Reward, accuracy, length and style statistics of one rollout batch."""
    lens = batch.gen.completion_mask.sum(dim=1).float()
    r = batch.rewards.view(-1, batch.group_size)
    m = {"reward/mean": batch.rewards.mean().item(), "reward/std": batch.rewards.std().item(),
         "len/mean": lens.mean().item(), "len/max": lens.max().item(),
         "truncated/rate": batch.gen.truncated.float().mean().item(),
         "groups/zero_variance": (r == r[:, :1]).all(dim=1).float().mean().item(),
         "tokens/generated": int(lens.sum().item())}
    for name, v in batch.components.items():
        m[f"reward/{name}"] = torch.nan_to_num(v, nan=0.0).mean().item()
        m[f"reward/{name}_na"] = v.isnan().float().mean().item()
    if "answer" in batch.components:
        m["acc/train"] = torch.nan_to_num(batch.components["answer"], nan=0.0).mean().item()
    if isinstance(task, StyledTask):
        m["style/worked"] = sum(task.style(t) == "worked" for t in batch.gen.texts) / len(batch.gen.texts)
    return m


def _lr_lambda(warmup: int):
    return lambda s: min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0


def _task_and_template(cfg: Config, log):
    """Build the task (loading and validating its data) with the prompt template of the model."""
    resolve_model_path(cfg.model.path)          # fail on a bad path before touching the run directory
    tok = load_tokenizer(cfg.model.path)
    render = Renderer(tok, cfg.model.template, cfg.model.prefill_think)
    return make_task(cfg.task, prompt_len=prompt_token_counter(tok, render), log=log), render


def setup(cfg: Config, log):
    """Load policy (from the newest checkpoint when resuming), reference, optimizer, task, rewards."""
    out = Path(cfg.out)
    existed, found = None, None
    if dist.is_main():                 # rank 0 owns the run directory; the others follow its choice
        existed = check_or_write_config(cfg, out)
        found = checkpoint.latest(out, log) if existed else None
    existed, found = dist.broadcast_object((existed, found))
    m, device = cfg.model, dist.rank_device(cfg.model.device)
    lora.check(m)
    if m.lora_r and cfg.algo.ref_reset_every:
        raise ConfigError("config key 'algo.ref_reset_every' is not supported with model.lora_r > 0")
    _check_fsdp(cfg)
    full = found[1] if found and not m.lora_r else None     # with LoRA the base always comes from model.path
    model, tok = load_model(full or m.path, m.dtype, device, m.attn_implementation)
    log(f"device: {next(model.parameters()).device} ({'CUDA available' if torch.cuda.is_available() else 'no CUDA'}), "
        f"dtype {m.dtype}, attention {m.attn_implementation}, {threads_note()}")
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ref = None
    if cfg.algo.beta > 0:   # the reference is always the starting model, also after a resume
        ref = load_model(m.path, m.dtype, device, m.attn_implementation)[0] if full else copy.deepcopy(model)
        ref.requires_grad_(False).eval()
    if m.lora_r:            # only the adapters train; resume restores them from the checkpoint
        model = lora.wrap(model, m, seed=cfg.seed, adapter_dir=found[1] if found else None)
        log(lora.describe(model, m))
    if cfg.train.fsdp and dist.world_size() > 1:      # after the reference was copied from the full model
        model, ref = fsdp.shard(model), ref if ref is None else fsdp.shard(ref)
        log(f"FSDP2: parameters, gradients and optimizer state sharded over {dist.world_size()} processes")
    elif cfg.train.fsdp:
        log("train.fsdp: one process, nothing to shard (launch with torchrun to shard)")
    opt = torch.optim.AdamW(lora.trainable(model), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                            betas=(cfg.train.adam_beta1, cfg.train.adam_beta2), fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.train.warmup_steps))
    start = 0
    if found:
        state = checkpoint.restore(found[1], opt, sched, model)
        start = state["step"]
        if ref is not None and "reference" in state:
            fsdp.load_full_state(ref, state["reference"])
        log(f"resuming {out} from step {start} ({found[1]})")
    elif existed and (out / "metrics.jsonl").exists():
        log(f"no complete checkpoint in {out}: starting from step 0")
    return model, tok, ref, opt, sched, start


def _check_fsdp(cfg: Config) -> None:
    if not cfg.train.fsdp:
        return
    if cfg.model.lora_r:
        raise ConfigError("config key 'train.fsdp': not supported together with model.lora_r > 0 (LoRA runs "
                          "with plain data parallel: leave train.fsdp=false)")
    if cfg.rollout.backend not in ("hf", "fast"):
        raise ConfigError(f"config key 'train.fsdp': not supported with rollout.backend={cfg.rollout.backend} "
                          f"(use hf or fast)")


@dataclasses.dataclass
class Run:
    """Everything one training process holds; built once by `build`, read by the loop."""
    cfg: Config
    local_cfg: Config      # the per-rank view: prompts_per_step = B / world
    out: Path
    rank: int
    world: int
    log: object
    task: object
    render: Renderer
    model: object
    tok: object
    ref: object
    opt: object
    sched: object
    start: int
    backend: object
    reward_fn: RewardFn
    record: RunRecord
    guard: NonFiniteGuard
    hooks: Hooks
    sampler: AsyncSampler | None = None   # train.async_staleness >= 1: the rollout worker (reasonrl.train.worker)


def build(cfg: Config, log, hooks: Hooks | None = None) -> Run:
    """Task, model, reference, optimizer, rollout backend, rewards and run record (resuming if asked)."""
    out, world, rank = Path(cfg.out), dist.world_size(), dist.rank()
    if cfg.train.prompts_per_step % world:
        raise ConfigError(f"config key 'train.prompts_per_step': {cfg.train.prompts_per_step} prompts cannot be "
                          f"split evenly over {world} processes")
    log = log if rank == 0 else (lambda *a, **k: None)  # noqa: E731   only rank 0 speaks
    task, render = _task_and_template(cfg, log)          # bad data fails before the run directory exists
    model, tok, ref, opt, sched, start = setup(cfg, log)
    # each rank trains on its B / world prompts (whole groups); collect() sees the local share
    local_cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, prompts_per_step=cfg.train.prompts_per_step // world)) if world > 1 else cfg
    task = dist.ShardedTask(task, rank, world) if world > 1 else task
    log(summary_line(cfg, out / "config.yaml"))
    log(f"model: {cfg.model.path} ({n_params(model):,} params) | algo: {describe(cfg.algo)}")
    for w in warnings(cfg.algo):
        log(f"warning: {w}")
    heldout = task.heldout()[:cfg.eval.size]
    backend = make_backend(cfg.rollout.backend, model, tok, cfg.rollout)
    render = Renderer(tok, cfg.model.template, cfg.model.prefill_think)
    record = (RunRecord(cfg, out, start, backend, task, heldout, render, n_params(model), log) if rank == 0
              else _QuietRecord(cfg, task, render, n_params(model), backend))
    _preflight_memory(cfg, model, tok, heldout, render, log)
    replay(task, out / "metrics.jsonl", start)           # a resumed curriculum continues where it was
    guard = NonFiniteGuard(out if rank == 0 else out / f"rank-{rank}", cfg.train.max_nonfinite_steps)
    return Run(cfg, local_cfg, out, rank, world, log, task, render, model, tok, ref, opt, sched, start, backend,
               RewardFn(cfg.reward.functions, cfg.reward.weights, settings=cfg.verify), record, guard,
               hooks or Hooks())


def train_step(r: Run, step: int) -> tuple[RolloutBatch, dict]:
    """sample -> verify -> advantages -> update for one step; -> (the batch trained on, metrics).
    Metrics of rewards and lengths describe the batch as sampled (before dynamic sampling's filter);
    token and FLOP counts are those the update reports."""
    cfg, t0 = r.cfg, time.time()
    # each step's sampling depends on (seed, step, rank) only
    torch.manual_seed(sampling_seed(cfg.seed, step, r.rank))
    level = r.task.begin_step(step) if isinstance(r.task, CurriculumTask) else {}   # task.curriculum
    if r.sampler is not None:             # asynchronous: the rollout worker sampled and verified it
        batch, sampled, m = r.sampler.take(step)
        batch, sampled = finish(batch, sampled, r.local_cfg)
    else:
        with fsdp.gathered(r.model):      # FSDP: full weights for generation, no collectives inside
            batch, sampled, m = collect(step, r.local_cfg, r.task, r.backend, r.reward_fn, r.render)
    t1 = time.time()
    m.update(level)
    m.update(batch_metrics(sampled, r.task))
    if r.hooks.before_update is not None:               # fault injection (bench/faults.py, tests)
        batch = r.hooks.before_update(step, batch)
    update = policy_update(r.model, r.ref, r.opt, batch, cfg.algo, max_new_tokens=cfg.rollout.max_new_tokens,
                           micro_batch_size=cfg.train.micro_batch_size, max_grad_norm=cfg.train.max_grad_norm,
                           step_seed=cfg.seed * 7919 + step, autocast=cfg.model.autocast)
    m.update(r.record.step_extras(sampled, update.usage))
    m = dist.reduce_metrics(m)              # this rank's counts summed, its means averaged, over ranks
    m.update(update.stats)                  # already combined over ranks by the update
    if isinstance(r.task, CurriculumTask):
        r.task.end_step(step, m)
    if dist.any_rank(r.guard.check(step, batch, m)):
        m["guard/nonfinite_steps"] = r.guard.total
        r.log(f"warning: step {step} had a non-finite reward/loss/gradient: update skipped "
              f"({r.guard.consecutive} in a row; prompts saved in {r.out / 'nonfinite'})")
    r.sched.step()
    r.backend.sync_weights(r.model)
    if r.sampler is not None:
        r.sampler.publish(r.model, step)   # version `step`: the weights after this step's update
    if getattr(r.backend, "probe_logp_diff", None) is not None:   # rollout server: max |server - trainer| logprob
        m["rollout/probe_logp_diff"] = r.backend.probe_logp_diff
    if r.ref is not None and cfg.algo.ref_reset_every and step % cfg.algo.ref_reset_every == 0:
        r.ref.load_state_dict(r.model.state_dict())      # R1: the reference follows the policy
    m.update({"time/update_s": time.time() - t1, "lr": r.sched.get_last_lr()[0], "time/step_s": time.time() - t0})
    return batch, m


def train(cfg: Config, log=print, hooks: Hooks | None = None) -> dict:
    """Run (or resume) RL training; returns {'before': eval, 'after': eval, 'steps': n, 'out': dir}.
    hooks: explicit hooks into the loop (fault injection, reasonrl.train.hooks)."""
    with torch_threads(trainer_threads(cfg)), owned_while_running(cfg.out):   # async: the trainer's share
        return _train(cfg, log, hooks)


def _train(cfg: Config, log, hooks: Hooks | None = None) -> dict:
    t_begin = time.time()
    started_dist = dist.init(cfg.model.device) and dist.world_size() > 1
    r = build(cfg, log, hooks)
    with sampler_for(r) as r.sampler:    # k >= 1: the worker starts (loads its model) while the start is evaluated
        with fsdp.gathered(r.model):
            before = r.record.first_eval(r.start)
        step, exit_code = _loop(r)
    result = _finish(r, step, exit_code, before, t_begin)
    if started_dist:
        dist.close()
    return result


def _loop(r: Run) -> tuple[int, int]:
    """Train steps r.start + 1 .. train.steps (evaluate, log, checkpoint, stop on a guard or a signal);
    -> (the last step run, exit code)."""
    cfg = r.cfg
    t_start, t_ckpt, step, exit_code = time.time(), time.time(), r.start, 0
    diverge = DivergenceGuard(cfg, r.out, r.record.history, r.log)
    with GracefulStop(r.log) as stopper, StallWatchdog(r.out, cfg.train.stall_factor, cfg.train.stall_min_s,
                                                       r.rank) as watchdog:
        for step in range(r.start + 1, cfg.train.steps + 1):
            try:
                trained, m = train_step(r, step)
            except RuntimeError as e:          # sampling from blown-up weights: the divergence guard's stop
                if not diverge.sampling_failed(step, e):
                    raise
                exit_code = EXIT_DIVERGED
                break
            last = step == cfg.train.steps
            out_of_time = cfg.train.time_budget_s and time.time() - t_start > cfg.train.time_budget_s
            exhausted = dist.any_rank(r.guard.exhausted)
            stopping = dist.any_rank(bool(stopper.requested) or out_of_time or exhausted)
            # a stop never changes the record; only rank 0 evaluates
            if last or (cfg.eval.every and step % cfg.eval.every == 0):
                t2 = time.time()
                with fsdp.gathered(r.model):
                    m.update(r.record.evaluate(step))
                if r.rank == 0:
                    m["time/eval_s"] = time.time() - t2
                    m["time/step_s"] += m["time/eval_s"]
            r.record.write(step, m, trained)
            if shown_step(step, cfg.train.steps, m):
                r.log(progress_line(step, cfg.train.steps, m))
            if exhausted:
                r.log(f"error: {r.guard.consecutive} consecutive non-finite steps: stopping; the last good "
                      f"checkpoint is intact")
                exit_code = EXIT_NONFINITE
                break
            if dist.any_rank(diverge.check(step, m)):
                exit_code = EXIT_DIVERGED
                break
            watchdog.beat(step)
            timed = dist.any_rank(bool(cfg.train.checkpoint_minutes) and
                                  time.time() - t_ckpt > 60 * cfg.train.checkpoint_minutes)
            if last or stopping or timed or step % cfg.train.checkpoint_every == 0:
                _save(r, step, m)
                t_ckpt = time.time()
            if stopping and not last:
                why = f"{stopper.requested} received" if stopper.requested else \
                    f"time budget of {cfg.train.time_budget_s:.0f}s reached"
                r.log(f"{why} at step {step}: checkpoint saved; re-run the same command to continue")
                exit_code = EXIT_STOPPED          # signal or time budget: unfinished, re-run to continue
                break
    return step, exit_code


def _finish(r: Run, step: int, exit_code: int, before: dict, t_begin: float) -> dict:
    """Export final/, write summary.json, the cost ledger and the report; -> the run's result."""
    evals = [row for row in r.record.history if "acc/heldout" in row]
    after = {k: v for k, v in (evals[-1] if evals else {}).items()
             if k.startswith(("acc/heldout", "len/heldout", "worked/heldout"))}
    if step == r.cfg.train.steps and exit_code == 0:
        full = fsdp.full_state(r.model)       # FSDP: gathered on every rank, written by rank 0
        if r.rank == 0:
            checkpoint.export(r.model, r.tok, r.out / "final", state_dict=full)
    result = {"out": str(r.out), "steps": step, "seconds": round(time.time() - t_begin, 1), "before": before,
              "after": after, "after_step": evals[-1].get("step", 0) if evals else 0, "exit_code": exit_code}
    if r.rank == 0:
        atomic_write_text(r.out / "summary.json", json.dumps(result, indent=2) + "\n", what="summary")
    r.record.finish(r.model)
    if r.rank:
        result["rank"] = r.rank
    return result


class _QuietRecord(RunRecord):
    """The run record of ranks other than 0: per-step extras for the metric reduction, no files."""

    def __init__(self, cfg, task, render, n_params: int, backend):
        self.cfg, self.task, self.render, self.n_params, self.history = cfg, task, render, n_params, []
        self.length_band = length_band(task, backend)

    def first_eval(self, start: int) -> dict:
        return {}

    def evaluate(self, step: int) -> dict:
        return {}

    def write(self, step: int, m: dict, trained=None) -> None:
        pass

    def finish(self, model) -> None:
        pass


def _save(r: Run, step: int, m: dict) -> None:
    """Checkpoint on rank 0; called on every rank (an FSDP model's full state is gathered collectively)."""
    weights, opt_state = fsdp.full_state(r.model), fsdp.optim_state(r.model, r.opt)
    state = {"optimizer": opt_state, "scheduler": r.sched.state_dict()}
    if r.ref is not None and r.cfg.algo.ref_reset_every:
        state["reference"] = fsdp.full_state(r.ref) or r.ref.state_dict()
    if r.rank:
        return
    if m.get("acc/heldout") is not None:
        checkpoint.mark_best(r.out, step, m["acc/heldout"])
    checkpoint.save(r.out, step, r.model, r.tok, state, keep=r.cfg.train.keep_checkpoints, state_dict=weights)


def _preflight_memory(cfg, model, tok, heldout, render, log) -> None:
    """Warn before step 1 when the longest possible micro-batch may not fit in memory."""
    device = next(model.parameters()).device
    prompt_len = max(len(tok(render(s.prompt)).input_ids) for s in heldout[:64]) + 1 if heldout else 64
    n = min(cfg.train.micro_batch_size, cfg.train.prompts_per_step * cfg.rollout.num_generations)
    need = estimate_peak_bytes(model, n, prompt_len + cfg.rollout.max_new_tokens, len(tok),
                               reference=bool(cfg.algo.beta))
    have = available_bytes(device)
    if have is not None and need > 0.8 * have:
        log(f"warning: a micro-batch of {n} x {prompt_len + cfg.rollout.max_new_tokens} tokens may need "
            f"~{need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB available on {device}: lower "
            f"train.micro_batch_size or rollout.max_new_tokens")


def before_after_table(result: dict) -> str:
    """The demo's closing table: held-out accuracy, length and reasoning share, before vs after."""
    b, a = result["before"], result["after"]
    rows = [("held-out accuracy (greedy)", "acc/heldout", "{:.0%}"),
            ("held-out accuracy (sampled, T=1)", "acc/heldout_sampled", "{:.0%}"),
            ("mean response length, tokens (greedy)", "len/heldout", "{:.1f}"),
            ("mean response length, tokens (sampled)", "len/heldout_sampled", "{:.1f}"),
            ("answers that reason step by step (greedy)", "worked/heldout", "{:.0%}"),
            ("answers that reason step by step (sampled)", "worked/heldout_sampled", "{:.0%}")]
    at = result.get("after_step", result["steps"])
    a = a if at else {}                   # no evaluation since step 0: nothing to show as "after"
    head = "after" if at == result["steps"] else f"step {at}" if at else "not evaluated"
    w = max(8, len(head))
    lines = [f"{'':44s} {'before':>8s} {head:>{w}s}"]
    for label, key, fmt in rows:
        if key in b or key in a:
            f = lambda d: fmt.format(d[key]) if d.get(key) is not None else "-"  # noqa: E731
            lines.append(f"{label:44s} {f(b):>8s} {f(a):>{w}s}")
    if at != result["steps"]:
        resumable = result.get("exit_code", 0) in (0, EXIT_STOPPED)  # a guard's stop is not fixed by re-running
        lines.append(f"stopped at step {result['steps']}: the model there was not evaluated"
                     + (f" (last evaluation: step {at})" if at else "")
                     + ("; re-run the same command to continue" if resumable else
                        f"; exit {result['exit_code']}: see the guard's message above (docs/faults.md)"))
    lines.append(f"run directory: {result['out']}  (steps: {result['steps']}, "
                 f"wall time this invocation: {result.get('seconds', 0):.0f}s)")
    return "\n".join(lines)
