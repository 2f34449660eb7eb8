"""Tasks: one per file. A task makes problems (seeded), renders prompts, names its verifier, and may
classify a completion's reasoning style. Registry: TASKS."""
from __future__ import annotations

from reasonrl.tasks.walk import WalkTask

TASKS = {"walk": WalkTask}


def make_task(cfg):
    """TaskConfig -> task object."""
    from reasonrl.config import ConfigError

    if cfg.name not in TASKS:
        raise ConfigError(f"config key 'task.name': unknown task '{cfg.name}' (choose from {', '.join(TASKS)})")
    return TASKS[cfg.name](heldout_size=cfg.heldout_size, heldout_seed=cfg.heldout_seed)
