"""Guards that keep a long run alive and its last good state intact: graceful stop on signals,
non-finite detection, and a pre-flight memory estimate."""
from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import torch

EXIT_STOPPED = 75        # stopped by SIGTERM/SIGINT after a checkpoint: re-run the command to resume
EXIT_NONFINITE = 76      # too many consecutive non-finite steps: the last good checkpoint is intact
EXIT_KILLED = 130        # a second signal: exit at once (checkpoints are atomic, so none is damaged)


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
        with open(out, "w") as f:
            for i, s in enumerate(batch.samples):
                r = batch.rewards[i * batch.group_size:(i + 1) * batch.group_size].tolist()
                f.write(json.dumps({"prompt": s.prompt, "answer": s.answer,
                                    "rewards": [x if math.isfinite(x) else str(x) for x in r]}) + "\n")
        return True

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.consecutive >= self.limit


def estimate_peak_bytes(model, micro_batch: int, seq_len: int, vocab: int) -> int:
    """Rough peak memory of one training micro-batch: weights, grads and Adam state (4x params),
    activations (~ 34 * hidden * layers * tokens values, as for a transformer block with
    eager attention), and logits with their softmax and gradient (3 * tokens * vocab), in the
    model's dtype plus float32 logits."""
    cfg = model.config
    p = sum(x.numel() * x.element_size() for x in model.parameters())
    tokens = micro_batch * seq_len
    act = 34 * cfg.hidden_size * cfg.num_hidden_layers * tokens * next(model.parameters()).element_size()
    attn = micro_batch * cfg.num_attention_heads * seq_len * seq_len * cfg.num_hidden_layers * 4 * 2
    return 4 * p + act + attn + 3 * tokens * vocab * 4


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
