"""Curricula over difficulty levels: which levels a training step may draw (docs/difficulty.md).

A task with levels 0..n-1 (walk: chain lengths task.min_terms..task.max_terms) draws each training
problem uniformly from the open levels 0..top. `task.curriculum` sets `top` per step:

    none      every level is open at every step (top = n - 1)
    steps     level i (i >= 1) opens at step task.curriculum_steps[i - 1]: top = #{u : u <= step}
    adaptive  level 0 opens first; the next level opens after a step that leaves the mean `acc/train` of
              the last task.curriculum_window steps trained at the current top >= task.curriculum_accuracy
              (the count restarts at each opening, so every level is trained for at least `window` steps)

Held-out problems always cover every level. The RL loop calls `begin_step` before drawing a step
and `end_step` with the step's metrics after it; a resumed run replays the metrics it logged, so a
curriculum is a pure function of the step (steps) or of the accuracies logged before it (adaptive).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from reasonrl.errors import ConfigError
from reasonrl.logging import read_jsonl

KINDS = ("none", "steps", "adaptive")
SIGNAL = "acc/train"        # the running accuracy the adaptive rule reads (the `answer` reward's mean)


@runtime_checkable
class CurriculumTask(Protocol):
    def begin_step(self, step: int) -> dict:
        """Set the open levels of training step `step`; -> metrics to log for it ({} without a curriculum)."""
        ...

    def end_step(self, step: int, metrics: dict) -> None:
        """The step's metrics (combined over ranks), read by an adaptive curriculum."""
        ...


def scheduled_top(step: int, unlock_steps: tuple[int, ...]) -> int:
    """curriculum=steps: the highest open level at `step` (level i >= 1 opens at unlock_steps[i - 1])."""
    return sum(step >= u for u in unlock_steps)


def adaptive_update(top: int, recent: tuple[float, ...], acc: float, n_levels: int, threshold: float,
                    window: int) -> tuple[int, tuple[float, ...]]:
    """curriculum=adaptive, one observation: (top, accuracies of the steps at this top, newest last) and the
    accuracy of the step just trained -> the pair for the next step. Opens the next level when the
    last `window` accuracies at this top average >= threshold; the count then starts again."""
    recent = (recent + (acc,))[-window:]
    if top < n_levels - 1 and len(recent) == window and sum(recent) / window >= threshold:
        return top + 1, ()
    return top, recent


def adaptive_tops(accs: list[float], n_levels: int, threshold: float, window: int) -> list[int]:
    """The top open level of steps 1..len(accs)+1 given the accuracies of steps 1..len(accs)."""
    top, recent, out = 0, (), [0]
    for acc in accs:
        top, recent = adaptive_update(top, recent, acc, n_levels, threshold, window)
        out.append(top)
    return out


@dataclass
class Curriculum:
    """The open levels of each training step. Built with `from_config`; `top` is None (every level)
    until the loop calls `begin`, so commands other than `reasonrl train` draw every level."""
    kind: str
    n_levels: int
    unlock_steps: tuple[int, ...] = ()
    threshold: float = 0.8
    window: int = 10
    top: int | None = None
    _adaptive: tuple[int, tuple[float, ...]] = field(default=(0, ()), repr=False)
    _seen: int = field(default=0, repr=False)

    @classmethod
    def from_config(cls, cfg, n_levels: int) -> "Curriculum":
        """TaskConfig -> Curriculum; a bad combination is a one-line ConfigError naming the key."""
        kind = cfg.curriculum
        if kind not in KINDS:
            raise ConfigError(f"config key 'task.curriculum': unknown curriculum '{kind}' "
                              f"(choose from {', '.join(KINDS)})")
        steps = tuple(int(s) for s in cfg.curriculum_steps)
        if kind == "steps" and len(steps) != n_levels - 1:
            raise ConfigError(f"config key 'task.curriculum_steps': curriculum=steps needs one step per level "
                              f"after the first ({n_levels - 1}), got {len(steps)}")
        if list(steps) != sorted(steps):
            raise ConfigError(f"config key 'task.curriculum_steps': steps must not decrease, got {list(steps)}")
        if kind != "none" and n_levels < 2:
            raise ConfigError(f"config key 'task.curriculum': curriculum={kind} needs more than one level "
                              f"(a range such as task.min_terms=4 task.max_terms=10)")
        return cls(kind, n_levels, steps, float(cfg.curriculum_accuracy), int(cfg.curriculum_window))

    def begin(self, step: int) -> int | None:
        """Fix the top open level of `step` (None = every level: curriculum=none)."""
        if self.kind == "steps":
            self.top = scheduled_top(step, self.unlock_steps)
        elif self.kind == "adaptive":
            self.top = self._adaptive[0]
        return self.top

    def end(self, step: int, metrics: dict) -> None:
        """Feed step `step`'s metrics to the adaptive rule (each step once, in order)."""
        if self.kind != "adaptive" or step <= self._seen:
            return
        if SIGNAL not in metrics:
            raise ConfigError(f"config key 'task.curriculum': curriculum=adaptive reads {SIGNAL}, which needs the "
                              f"'answer' reward in reward.functions")
        self._adaptive = adaptive_update(*self._adaptive, float(metrics[SIGNAL]), self.n_levels, self.threshold,
                                         self.window)
        self._seen = step


def replay(task, metrics_path: Path, start: int) -> None:
    """Resuming at step `start`: feed the task the metrics rows of steps 1..start that the run logged."""
    if not start or not isinstance(task, CurriculumTask) or not Path(metrics_path).exists():
        return
    rows = sorted((r for r in read_jsonl(Path(metrics_path))[0] if 0 < r.get("step", 0) <= start),
                  key=lambda r: r["step"])
    for row in rows:
        task.end_step(row["step"], row)
