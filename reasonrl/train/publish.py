"""Weight publication from the trainer to the asynchronous rollout worker, through shared memory.

The trainer owns one shared-memory copy of the tensors it trains (every parameter, or only the LoRA
adapters: the worker loads the frozen base itself) and writes its weights into it after each step;
the worker copies them into its own model before it samples. Nothing goes through the file system.

A sequence lock keeps a reader from ever using a torn update: `clock = [seq, version]` in shared
memory; the writer makes seq odd, copies, sets the version, makes seq even again; a reader copies
only while seq is even and unchanged across its copy, and retries otherwise. One writer (the
trainer), any number of readers; a reader never blocks the writer.
"""
from __future__ import annotations

import time

import torch


def published_tensors(model) -> dict[str, torch.Tensor]:
    """The tensors a step changes, by name: every trainable parameter (all of them for full fine-tuning,
    the adapters only with LoRA). Tied weights appear once (named_parameters deduplicates them)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


class SharedWeights:
    """A shared-memory copy of named tensors with a version counter (the trainer's step count).
    Picklable to a spawned process (torch.multiprocessing shares the storages, it does not copy them)."""

    def __init__(self, tensors: dict[str, torch.Tensor], version: int = 0):
        self.tensors = {n: t.detach().to("cpu", copy=True).contiguous().share_memory_() for n, t in tensors.items()}
        self.clock = torch.tensor([0, version], dtype=torch.int64).share_memory_()   # [seq, version]

    @torch.no_grad()
    def publish(self, tensors: dict[str, torch.Tensor], version: int) -> None:
        """Write `tensors` (the same names and shapes) as `version`; the trainer is the only writer."""
        seq = int(self.clock[0])
        self.clock[0] = seq + 1                  # odd: an update is in progress
        for n, t in tensors.items():
            self.tensors[n].copy_(t.detach())
        self.clock[1] = version
        self.clock[0] = seq + 2                  # even: consistent again

    def version(self) -> int:
        """The newest completely published version."""
        while True:
            seq = int(self.clock[0])
            v = int(self.clock[1])
            if seq % 2 == 0 and int(self.clock[0]) == seq:
                return v
            time.sleep(0.001)

    @torch.no_grad()
    def read_into(self, targets: dict[str, torch.Tensor], deadline_s: float = 60.0) -> int:
        """Copy the newest consistent version into `targets` (name -> tensor of the reader's model);
        -> that version. Raises TimeoutError when no consistent copy succeeds within deadline_s."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            seq = int(self.clock[0])
            if seq % 2:
                time.sleep(0.001)
                continue
            for n, t in targets.items():
                t.copy_(self.tensors[n])
            v = int(self.clock[1])
            if int(self.clock[0]) == seq:        # no write began during the copy: not torn
                return v
        raise TimeoutError(f"no consistent copy of the published weights within {deadline_s:.0f}s")
