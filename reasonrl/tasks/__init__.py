"""Tasks: one per file, each following reasonrl.tasks.base.Task. A task makes problems (seeded), names
its verifier, and may classify a completion's reasoning style. Registry: TASKS."""
from __future__ import annotations

from reasonrl.errors import ConfigError
from reasonrl.tasks.base import ConfiguredTask, Task
from reasonrl.tasks.dataset import DatasetTask
from reasonrl.tasks.gym import GymTask
from reasonrl.tasks.walk import WalkTask

TASKS = {"walk": WalkTask, "dataset": DatasetTask, "gym": GymTask}


def make_task(cfg, **context) -> Task:
    """TaskConfig -> task object. `context` reaches tasks built with `from_config` (the dataset task
    takes prompt_len=callable(rendered prompt) -> tokens, for task.max_prompt_tokens, and log=)."""
    if cfg.name not in TASKS:
        raise ConfigError(f"config key 'task.name': unknown task '{cfg.name}' (choose from {', '.join(TASKS)})")
    cls = TASKS[cfg.name]
    if isinstance(cls, ConfiguredTask):
        return cls.from_config(cfg, **context)
    return cls(heldout_size=cfg.heldout_size, heldout_seed=cfg.heldout_seed)
