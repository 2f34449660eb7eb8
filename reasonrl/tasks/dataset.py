"""The `dataset` task: problems from your own files (JSONL, JSON, Parquet, `datasets` save_to_disk
folders), with a field mapping, a validation pass over every row, and weighted mixtures.

    reasonrl train my.yaml task.name=dataset task.path=train.jsonl task.prompt_field=question
    reasonrl check my.yaml                               # validate the data and try one rollout first

Each row becomes a Sample: prompt = task.prompt_format with {prompt} = the row's prompt_field (and
{NAME} = any other field), answer = the row's answer_field, verifier = task.verifier, and the whole
row in `meta["row"]` (custom rewards can read any column). The held-out split is task.heldout_path,
or task.heldout_size rows set aside from the data with task.heldout_seed; training never draws a row
whose prompt is also in the held-out split.

CPU:  reasonrl train task.name=dataset task.path=../shared/data/gsm8k/test.jsonl task.heldout_size=50 \
        model.template=r1zero rollout.max_new_tokens=64 train.steps=3
GPUs: reasonrl train configs/my.yaml model.path=/models/Qwen2.5-1.5B-Instruct task.path=/data/train.parquet
"""
from __future__ import annotations

import random
import sys
from collections.abc import Callable

from reasonrl.errors import ConfigError
from reasonrl.data import Mixture, RowSpec, load_samples
from reasonrl.types import Sample


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def split_heldout(sources: list[list[Sample]], size: int, seed: int) -> tuple[list[list[Sample]], list[Sample]]:
    """Set aside `size` rows drawn uniformly from all sources with `seed`: -> (training sources, held-out)."""
    total = sum(len(s) for s in sources)
    if size >= total:
        raise ConfigError(f"config key 'task.heldout_size' ({size}) leaves no training rows of {total}; "
                          f"lower it or set task.heldout_path=FILE")
    chosen = set(random.Random(f"heldout-{seed}").sample(range(total), size))
    train, heldout, k = [], [], 0
    for src in sources:
        keep = []
        for s in src:
            (heldout if k in chosen else keep).append(s)
            k += 1
        train.append(keep)
    return train, heldout


class DatasetTask:
    name = "dataset"

    def __init__(self, paths: tuple[str, ...], spec: RowSpec = RowSpec(), *, weights: tuple[float, ...] = (),
                 split: str = "train", on_bad_row: str = "stop", heldout_size: int = 200,
                 heldout_seed: int = 12345, heldout_path: str = "",
                 prompt_len: Callable[[str], int] | None = None, log: Callable[[str], None] = _stderr):
        from reasonrl.verifiers import VERIFIERS

        if not paths:
            raise ConfigError("task.name=dataset needs task.path=FILE (JSONL, JSON, Parquet or a "
                              "save_to_disk folder; a list of several makes a mixture)")
        if spec.verifier not in VERIFIERS:
            raise ConfigError(f"config key 'task.verifier': unknown verifier '{spec.verifier}' "
                              f"(choose from {', '.join(VERIFIERS)})")
        if heldout_size < 1:
            raise ConfigError(f"config key 'task.heldout_size' must be >= 1, got {heldout_size}")
        if spec.max_prompt_tokens and prompt_len is None:
            log("dataset: task.max_prompt_tokens is set but no tokenizer was given here: prompt lengths not checked")
        load = lambda p: load_samples(p, spec, split=split, on_bad_row=on_bad_row,  # noqa: E731
                                      prompt_len=prompt_len, log=log)
        sources = [load(p) for p in paths]
        if heldout_path:
            held = load(heldout_path)[:heldout_size]
        else:
            sources, held = split_heldout(sources, heldout_size, heldout_seed)
        seen = {s.prompt for s in held}
        before = sum(len(s) for s in sources)
        sources = [[s for s in src if s.prompt not in seen] for src in sources]
        dropped = before - sum(len(s) for s in sources)
        if dropped:
            log(f"dataset: dropped {dropped} training row(s) whose prompt is also in the held-out split")
        self.paths = tuple(paths)
        self._heldout = held
        self.mix = Mixture(sources, weights)

    @classmethod
    def from_config(cls, cfg, prompt_len: Callable[[str], int] | None = None,
                    log: Callable[[str], None] = _stderr) -> DatasetTask:
        """TaskConfig -> task; prompt_len counts the tokens of a rendered prompt (for max_prompt_tokens)."""
        spec = RowSpec(prompt_field=cfg.prompt_field, answer_field=cfg.answer_field,
                       prompt_format=cfg.prompt_format, verifier=cfg.verifier,
                       max_prompt_tokens=cfg.max_prompt_tokens)
        return cls(cfg.path, spec, weights=cfg.weights, split=cfg.split, on_bad_row=cfg.on_bad_row,
                   heldout_size=cfg.heldout_size, heldout_seed=cfg.heldout_seed,
                   heldout_path=cfg.heldout_path, prompt_len=prompt_len, log=log)

    def train_batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n training problems of `step`: a pure function of (seed, step)."""
        return self.mix.batch(seed, step, n)

    def heldout(self) -> list[Sample]:
        return list(self._heldout)
