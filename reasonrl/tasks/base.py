"""What a task is: the protocol every task in reasonrl.tasks.TASKS follows.

A task makes problems (seeded, so a step's batch is a pure function of seed and step), keeps a
held-out split disjoint from training, and names each problem's verifier on its Samples
(Sample.verifier). Two capabilities are optional, each a protocol of its own method, detected with
isinstance rather than hasattr:
`StyledTask` (classifies a completion's reasoning style, logged as style/worked) and
`FirstPassTask` (reads the first answer a completion commits to, for the reflection telemetry).

A new task: one file in reasonrl/tasks/ with a class following `Task`, one line in TASKS
(reasonrl/tasks/__init__.py). Its settings go in TaskConfig (reasonrl/config/sections.py).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from reasonrl.types import Sample


@runtime_checkable
class Task(Protocol):
    def train_batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n problems of training step `step` (the same for the same seed and step)."""
        ...

    def heldout(self) -> list[Sample]:
        """The held-out problems (never drawn for training)."""
        ...


@runtime_checkable
class StyledTask(Protocol):
    def style(self, completion: str) -> str:
        """'worked' when the completion reasons step by step, else another label (e.g. 'direct')."""
        ...


@runtime_checkable
class FirstPassTask(Protocol):
    def first_pass_answer(self, completion: str) -> str | None:
        """The first answer the completion commits to (None when there is none)."""
        ...


@runtime_checkable
class ConfiguredTask(Protocol):
    """A task class built from its TaskConfig and the run's context (make_task passes prompt_len=, log=)."""

    @classmethod
    def from_config(cls, cfg, **context) -> Task: ...
