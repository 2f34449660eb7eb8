"""Guards that keep a long run alive and its last good state intact: graceful stop on signals,
non-finite detection, divergence detection, and a pre-flight memory estimate.

EXIT_CODES is the one table of what `reasonrl train` (and sft) exit with; docs/faults.md shows it."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from reasonrl.safeio import atomic_write_text

EXIT_OK = 0              # finished: final/ written
EXIT_FAILED = 1          # an unexpected error (a bug: the traceback is printed)
EXIT_USAGE = 2           # bad input, a busy run directory, a full disk, an unreachable rollout server: one line
EXIT_STOPPED = 75        # stopped by SIGTERM/SIGINT or train.time_budget_s after a checkpoint: re-run to resume
EXIT_NONFINITE = 76      # too many consecutive non-finite steps: the last good checkpoint is intact
EXIT_DIVERGED = 77       # divergence guard: later checkpoints set aside, the last good one is resumed
EXIT_STALLED = 78        # stall watchdog: no step finished in time; thread stacks in RUN_DIR/stall-*.txt
EXIT_KILLED = 130        # a second signal: exit at once (checkpoints are atomic, so none is damaged)
EXIT_CODES = {EXIT_OK: "finished", EXIT_FAILED: "unexpected error", EXIT_USAGE: "bad input or environment",
              EXIT_STOPPED: "stopped (signal or time budget)", EXIT_NONFINITE: "non-finite steps",
              EXIT_DIVERGED: "diverged", EXIT_STALLED: "stalled", EXIT_KILLED: "killed by a second signal"}


class GracefulStop:
    """First SIGTERM/SIGINT: finish the current step, checkpoint, exit EXIT_STOPPED.
    Second: exit at once with EXIT_KILLED. Handlers are restored on exit of the context."""

    def __init__(self, log=print):
        self.requested = None
        self.log = log
        self._old = {}

    def _handler(self, signum, _frame):
        name = signal.Signals(signum).name
        if self.requested:
            self.log(f"second {name}: exiting now (the last checkpoint is intact)")
            sys.stdout.flush()
            os._exit(EXIT_KILLED)
        self.requested = name
        self.log(f"{name} received: finishing this step, then writing a checkpoint "
                 f"(send it again to exit at once)")

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class NonFiniteGuard:
    """Counts consecutive steps whose reward, loss or gradient norm was not finite; saves the
    offending batch's prompts to `nonfinite/step-N.jsonl` for inspection."""

    def __init__(self, run_dir: Path, limit: int):
        self.run_dir, self.limit, self.consecutive, self.total = Path(run_dir), limit, 0, 0

    def check(self, step: int, batch, stats: dict) -> bool:
        """True if this step was bad (its update skipped or poisoned)."""
        bad_reward = not bool(torch.isfinite(batch.rewards).all()) if batch.rewards.numel() else False
        bad_update = stats.get("update/skipped_nonfinite", 0) > 0
        loss = stats.get("loss/policy")
        bad_loss = loss is not None and not math.isfinite(loss)
        if not (bad_reward or bad_update or bad_loss):
            self.consecutive = 0
            return False
        self.consecutive += 1
        self.total += 1
        out = self.run_dir / "nonfinite" / f"step-{step}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, s in enumerate(batch.samples):
            r = batch.rewards[i * batch.group_size:(i + 1) * batch.group_size].tolist()
            lines.append(json.dumps({"prompt": s.prompt, "answer": s.answer,
                                     "rewards": [x if math.isfinite(x) else str(x) for x in r]}) + "\n")
        atomic_write_text(out, "".join(lines), what="non-finite batch")
        return True

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.consecutive >= self.limit


INVALID_DISTRIBUTION = ("probability tensor contains", "invalid multinomial distribution")


def invalid_distribution(e: BaseException) -> bool:
    """True for the error torch raises when sampling from NaN/inf/negative probabilities (weights blown up)."""
    return isinstance(e, RuntimeError) and any(s in str(e) for s in INVALID_DISTRIBUTION)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2


@dataclass(frozen=True)
class DivergenceRule:
    """Thresholds of the divergence guard (config keys train.diverge_*); a collapse must also exceed
    3 standard errors of the best value it is compared with (`samples_per_step` completions a step,
    `heldout_n` held-out problems), so a small batch or evaluation set cannot trip it by chance."""
    window: int = 5
    reward_drop: float = 0.9
    heldout_drop: float = 0.75
    max_kl: float = 10.0
    grad_factor: float = 1000.0
    samples_per_step: int = 0         # 0 = no significance check
    heldout_n: int = 0

    @classmethod
    def from_config(cls, cfg) -> "DivergenceRule":
        t = cfg.train
        return cls(t.diverge_window, t.diverge_reward_drop, t.diverge_heldout_drop, t.diverge_max_kl,
                   t.diverge_grad_factor, t.prompts_per_step * cfg.rollout.num_generations,
                   min(cfg.eval.size, cfg.task.heldout_size))


def divergence(rows: list[dict], rule: DivergenceRule) -> tuple[str, int] | None:
    """Why the run whose step metrics are `rows` (oldest first, the newest last) has diverged, and the
    first step of the collapse; None if it has not (or rule.window == 0). Pure.

    KL: the newest `kl` > max_kl (0 = off); gradient: the newest `grad_norm` > grad_factor x the median
    of the earlier ones (at least `window` of them; 0 = off); held-out: the newest `acc/heldout` is below
    (1 - heldout_drop) x the best earlier one (>= 0.05); reward: the mean `reward/mean` of the last
    `window` steps is below (1 - reward_drop) x the best such window mean so far (> 0)."""
    if rule.window <= 0 or not rows:
        return None
    new, step = rows[-1], rows[-1].get("step", 0)
    kl, g = new.get("kl"), new.get("grad_norm")
    if rule.max_kl and kl is not None and math.isfinite(kl) and kl > rule.max_kl:
        return f"KL to the reference {kl:.3g} > train.diverge_max_kl={rule.max_kl:g}", step
    norms = [r["grad_norm"] for r in rows[:-1] if _finite(r.get("grad_norm"))]
    if rule.grad_factor and g is not None and len(norms) >= rule.window and g > rule.grad_factor * _median(norms) > 0:
        return (f"gradient norm {g:.3g} > train.diverge_grad_factor={rule.grad_factor:g} x its median "
                f"{_median(norms):.3g}"), step
    return _heldout_collapse(rows, rule) or _reward_collapse(rows, rule)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _heldout_collapse(rows: list[dict], rule: DivergenceRule) -> tuple[str, int] | None:
    evals = [(r.get("step", 0), r["acc/heldout"]) for r in rows if _finite(r.get("acc/heldout"))]
    if "acc/heldout" not in rows[-1] or len(evals) < 2:
        return None
    (best_step, best), now = max(evals[:-1], key=lambda x: x[1]), evals[-1][1]
    se = math.sqrt(best * (1 - best) / rule.heldout_n) if rule.heldout_n else 0.0
    if best >= 0.05 and now < (1 - rule.heldout_drop) * best and best - now > 3 * se:
        return (f"held-out accuracy {now:.2f}, best {best:.2f} at step {best_step} "
                f"(train.diverge_heldout_drop={rule.heldout_drop:g})"), evals[-2][0] + 1
    return None


def _reward_collapse(rows: list[dict], rule: DivergenceRule) -> tuple[str, int] | None:
    w = rule.window
    steps = [r for r in rows if _finite(r.get("reward/mean"))]
    if len(steps) <= w:
        return None
    means = [sum(r["reward/mean"] for r in steps[i - w:i]) / w for i in range(w, len(steps) + 1)]
    b = max(range(len(means) - 1), key=means.__getitem__)
    best, now = means[b], means[-1]
    std = sum(r.get("reward/std") or 0.0 for r in steps[b:b + w]) / w
    se = std / math.sqrt(w * rule.samples_per_step) if rule.samples_per_step else 0.0
    if best > 0 and now < (1 - rule.reward_drop) * best and best - now > 3 * se:
        return (f"mean reward {now:.3f} over steps {steps[-w]['step']}-{rows[-1].get('step', 0)}, best window "
                f"{best:.3f} (train.diverge_reward_drop={rule.reward_drop:g})"), steps[-w]["step"]
    return None


class DivergenceGuard:
    """Stops a run that has diverged (see `divergence`) or whose sampling distribution became invalid:
    checkpoints written since the collapse began are moved to checkpoints/diverged/ (kept, not
    deleted), so re-running the command (with looser train.diverge_* thresholds) resumes from the last
    good one."""

    def __init__(self, cfg, run_dir: Path, history: list[dict], log=print):
        self.rule = DivergenceRule.from_config(cfg)
        self.run_dir, self.rows, self.log = Path(run_dir), [dict(r) for r in history], log

    def check(self, step: int, m: dict) -> bool:
        """Record step `step`'s metrics; True (after logging why and setting checkpoints aside) if the run
        diverged."""
        self.rows = [r for r in self.rows if r.get("step", 0) < step] + [{"step": step, **m}]
        found = divergence(self.rows, self.rule)
        if found is not None:
            self.stop(step, *found)
        return found is not None

    def sampling_failed(self, step: int, e: BaseException) -> bool:
        """True (after logging and setting checkpoints aside) if `e` is an invalid sampling distribution."""
        if not invalid_distribution(e):
            return False
        self.stop(step, f"the sampling distribution is invalid ({str(e).splitlines()[0][:80]})", step)
        return True

    def stop(self, step: int, why: str, since: int) -> None:
        from reasonrl.checkpoint import checkpoint_dirs

        aside = [d for s, d in checkpoint_dirs(self.run_dir) if s >= since]
        for d in aside:
            target = d.parent / "diverged" / d.name
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(d, target)
        good = checkpoint_dirs(self.run_dir)
        keep = f"checkpoint {good[-1][1]}" if good else "no earlier checkpoint (a re-run starts from step 0)"
        moved = f"; {len(aside)} later checkpoint(s) moved to {aside[0].parent / 'diverged'}" if aside else ""
        self.log(f"error: training diverged at step {step}: {why}; stopping (exit {EXIT_DIVERGED}). Last good: "
                 f"{keep}{moved}. Start again with a lower train.lr in a new out=DIR, or loosen train.diverge_* "
                 f"and re-run to continue from it")


def estimate_peak_bytes(model, micro_batch: int, seq_len: int, vocab: int, reference: bool = False) -> int:
    """Rough peak memory of one training micro-batch: weights, plus grads and Adam state (3x) of the
    trainable ones only (LoRA: the adapters), a frozen reference copy of the weights when `reference`,
    activations (~ 34 * hidden * tokens values per layer, as for a transformer block with eager
    attention, plus float32 attention scores and probabilities; with gradient checkpointing only each
    layer's input is kept and one layer is recomputed at a time), and logits with their softmax and
    gradient (3 * tokens * vocab float32 values). Bytes in the model's dtype."""
    cfg, params = model.config, list(model.parameters())
    p = sum(x.numel() * x.element_size() for x in params)
    trained = sum(x.numel() * x.element_size() for x in params if x.requires_grad)
    tokens, layers = micro_batch * seq_len, cfg.num_hidden_layers
    act = 34 * cfg.hidden_size * tokens * params[0].element_size()
    attn = micro_batch * cfg.num_attention_heads * seq_len * seq_len * 4 * 2
    ckpt = getattr(model, "is_activation_checkpointing", None)
    if ckpt is None:                                   # transformers < 5
        ckpt = getattr(model, "is_gradient_checkpointing", False)
    kept = layers * cfg.hidden_size * tokens * params[0].element_size()     # each layer's input
    acts = kept + act + attn if ckpt else layers * (act + attn)
    return p + 3 * trained + (p if reference else 0) + acts + 3 * tokens * vocab * 4


def available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
