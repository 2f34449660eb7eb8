"""Run records: metrics (JSONL, one object per step), rollout log, progress lines on stdout."""
from __future__ import annotations

import json
import math
from pathlib import Path


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class JsonlLog:
    """Append-only JSONL keyed by `step`. On resume, rows after the resumed step are dropped so
    the file ends exactly as if the run had never stopped."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        elif resume_step is None and self.path.exists():
            self.path.unlink()

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]


def progress_line(step: int, total: int, m: dict) -> str:
    """One line with the key numbers of a step."""
    parts = [f"step {step:4d}/{total}",
             f"reward {m.get('reward/mean', 0):.3f}",
             f"acc {m.get('acc/train', 0):.2f}",
             f"len {m.get('len/mean', 0):5.1f}"]
    if "style/worked" in m:
        parts.append(f"worked {m['style/worked']:.2f}")
    if m.get("kl") is not None:
        parts.append(f"kl {m['kl']:.4f}")
    if "acc/heldout" in m:
        parts.append(f"heldout {m['acc/heldout']:.2f}")
    parts.append(f"{m.get('time/step_s', 0):.1f}s")
    return " | ".join(parts)
