"""Run records: metrics (JSONL, one object per step), rollout log, progress lines on stdout."""
from __future__ import annotations

import json
import math
from pathlib import Path

from reasonrl.safeio import append_line, atomic_write_text


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class JsonlLog:
    """Append-only JSONL keyed by `step`. On resume, rows after the resumed step are dropped so
    the file ends exactly as if the run had never stopped; a torn last line (a kill mid-write) is
    dropped too. Each row is appended in one write and cut back if the disk is full
    (reasonrl.safeio), so the file never ends in half a row."""

    def __init__(self, path: Path, resume_step: int | None = None, log=print):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            rows, torn = read_jsonl(self.path)
            if torn:
                log(f"{self.path}: dropped {torn} unreadable line(s) left by an interrupted write")
            keep = [json.dumps(r) for r in rows if r.get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(line + "\n" for line in keep), what="log")
        elif resume_step is None and self.path.exists():
            self.path.unlink()

    def write(self, row: dict) -> None:
        append_line(self.path, json.dumps({k: _clean(v) for k, v in row.items()}), what="log")

    def rows(self) -> list[dict]:
        return read_jsonl(self.path)[0] if self.path.exists() else []


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """The JSON objects of a run log and how many lines were unreadable (a torn last line after a
    kill or a full disk; such lines are skipped, never fatal)."""
    rows, bad = [], 0
    for line in Path(path).read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def shown_step(step: int, total: int, m: dict, lines: int = 20) -> bool:
    """Whether a step gets a progress line: about `lines` lines per run (every step with -v, i.e.
    REASONRL_VERBOSE=1), plus the first, the last and every step with a held-out evaluation."""
    import os

    every = 1 if os.environ.get("REASONRL_VERBOSE") else max(1, -(-total // lines))
    return step % every == 0 or step in (1, total) or "acc/heldout" in m


def progress_line(step: int, total: int, m: dict) -> str:
    """One line with the key numbers of a step."""
    parts = [f"{progress_bar(step, total)} step {step:4d}/{total}",
             f"reward {m.get('reward/mean', 0):.3f}",
             f"acc {m.get('acc/train', 0):.2f}",
             f"len {m.get('len/mean', 0):5.1f}"]
    if "style/worked" in m:
        parts.append(f"worked {m['style/worked']:.2f}")
    if m.get("kl") is not None:
        parts.append(f"kl {m['kl']:.4f}")
    if "acc/heldout" in m:
        parts.append(f"heldout {m['acc/heldout']:.2f}")
    if "async/staleness_mean" in m:           # train.async_staleness >= 1 (docs/async.md)
        parts.append(f"stale {m['async/staleness_mean']:.2f}/{m.get('async/staleness_max', 0)} "
                     f"idle trainer {m.get('async/trainer_idle_s', 0):.1f}s worker {m.get('async/worker_idle_s', 0):.1f}s")
    parts.append(f"{m.get('time/step_s', 0):.1f}s")
    return " | ".join(parts)


def progress_bar(step: int, total: int, width: int = 20) -> str:
    """`[########------------]` for step of total."""
    done = min(width, round(width * step / max(total, 1)))
    return "[" + "#" * done + "-" * (width - done) + "]"


class ExternalSinks:
    """Optional TensorBoard and Weights & Biases sinks for the step metrics (off by default).

    names: any of "tensorboard" (events under RUN_DIR/tensorboard, needs the `tensorboard` package)
    and "wandb" (needs `wandb`; set WANDB_MODE=offline to log without an account or network).
    A sink that cannot be imported is a one-line error at start, never a crash mid-run."""

    def __init__(self, names: tuple[str, ...], run_dir: Path, config: dict, run_name: str):
        from reasonrl.config import ConfigError

        self.tb = self.wandb = None
        for name in names:
            if name == "tensorboard":
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    raise ConfigError("config key 'train.log_to': tensorboard needs the `tensorboard` package "
                                      "(pip install -e '.[tensorboard]')") from None
                self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
            elif name == "wandb":
                try:
                    import wandb
                except ImportError:
                    raise ConfigError("config key 'train.log_to': wandb needs the `wandb` package "
                                      "(pip install -e '.[wandb]')") from None
                try:
                    self.wandb = wandb.init(project="reasonrl", name=run_name, dir=str(run_dir), config=config,
                                            resume="allow", id=_wandb_id(run_dir))
                except Exception as e:       # no login, no network, a bad key: one line, not 38
                    why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                    try:                     # wandb keeps the failed settings process-wide: a later
                        wandb.teardown()     # start in this process (e.g. offline) must begin afresh
                    except Exception:
                        pass
                    raise ConfigError(f"config key 'train.log_to': wandb did not start ({why}); run `wandb login`, "
                                      f"or set WANDB_MODE=offline to log without an account") from None
            else:
                raise ConfigError(f"config key 'train.log_to': unknown sink '{name}' (choose from tensorboard, wandb)")

    def write(self, step: int, metrics: dict) -> None:
        scalars = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _wandb_id(run_dir: Path) -> str:
    """A stable W&B run id per run directory, so a resumed run continues the same W&B run."""
    import hashlib
    return hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
