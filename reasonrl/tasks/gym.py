"""The `gym` task: any procedural generator of the `reasoning-gym` package (optional extra `gym`) as
a task, with the generator's own scorer as the answer reward.

    reasonrl train task.name=gym task.gym=chain_sum task.gym_args=[min_terms=2,max_terms=3]

Samples name the `gym` verifier (registered here when the task is built): the default `answer`
reward extracts the last <answer>...</answer> block and scores it with the generator's
`score_answer` (which may give partial credit), for training rewards and held-out accuracy alike.
Training problems of step s come from a generator seeded with (seed, s), so they are a pure function
of (seed, step); the held-out split is one generator seeded with task.heldout_seed, and training
never draws a held-out question.

CPU:  pip install -e '.[gym]'; reasonrl train task.name=gym task.gym=chain_sum train.steps=5
GPUs: the same with model.path=/models/Qwen2.5-1.5B-Instruct model.template=chat rollout.max_new_tokens=1024
"""
from __future__ import annotations

import difflib
import importlib
import zlib

import yaml

from reasonrl.config import ConfigError
from reasonrl.types import Sample, Verdict


def gym_module():
    """The `reasoning_gym` package, imported on first use."""
    try:
        return importlib.import_module("reasoning_gym")
    except ImportError:
        raise ConfigError("task.name=gym needs the reasoning-gym package: pip install -e '.[gym]'") from None


def parse_gym_args(items: tuple[str, ...]) -> dict:
    """task.gym_args ['min_terms=2', 'max_terms=3'] -> {'min_terms': 2, 'max_terms': 3} (values as YAML)."""
    args = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"config key 'task.gym_args': expected items like 'min_terms=2', got {item!r}")
        try:
            args[key.strip()] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            args[key.strip()] = raw
    return args


def make_generator(name: str, args: dict, seed: int, size: int):
    """reasoning_gym.create_dataset with config errors stated as config errors."""
    rg = gym_module()
    known = list(getattr(getattr(rg, "factory", None), "DATASETS", {}) or [])
    if known and name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"{len(known)} generators, e.g. {', '.join(known[:5])}"
        raise ConfigError(f"config key 'task.gym': unknown reasoning-gym generator '{name}' ({hint})")
    try:
        return rg.create_dataset(name, seed=seed, size=size, **args)
    except (TypeError, ValueError, AssertionError) as e:
        raise ConfigError(f"config key 'task.gym_args': reasoning-gym '{name}' rejects {args} ({e})") from None


# generator key -> its score_answer; samples carry the key, so they stay plain, comparable data
_SCORERS: dict[str, object] = {}


def _sample(key: str, entry: dict) -> Sample:
    return Sample(prompt=str(entry["question"]), answer=str(entry["answer"]), verifier="gym",
                  meta={"gym": key, "entry": entry})


def gym_check(prediction: str, gold, row) -> Verdict:
    """The `gym` verifier: the generator's own score of the extracted answer (1.0 = fully correct)."""
    scorer = _SCORERS.get(row.get("gym"))
    if scorer is None:
        return Verdict(None, "not_applicable", "not a reasoning-gym sample")
    score = float(scorer(prediction, row["entry"]))
    return Verdict(score, "correct" if score >= 1.0 else "wrong",
                   f"reasoning-gym {str(row.get('gym')).split('[')[0]} scored {score:g} (gold {str(gold)[:40]!r})")


def register_verifier() -> None:
    """Add the `gym` verifier to reasonrl.verifiers.VERIFIERS (answers from the <answer> block)."""
    from reasonrl.verifiers import VERIFIERS, Verifier

    VERIFIERS.setdefault("gym", Verifier("gym", gym_check, policy="tag"))


class GymTask:
    name = "gym"

    def __init__(self, gym: str, gym_args: dict | None = None, heldout_size: int = 200, heldout_seed: int = 12345):
        if not gym:
            raise ConfigError("task.name=gym needs task.gym=NAME (a reasoning-gym generator, e.g. chain_sum)")
        register_verifier()
        self.gym = gym
        self.args = dict(gym_args or {})
        held = make_generator(gym, self.args, heldout_seed, heldout_size)
        self.key = f"{gym}{sorted(self.args.items())}" if self.args else gym
        _SCORERS[self.key] = held.score_answer
        self._heldout = [_sample(self.key, held[i]) for i in range(heldout_size)]
        self._heldout_prompts = {s.prompt for s in self._heldout}

    @classmethod
    def from_config(cls, cfg, **_ignored) -> GymTask:
        return cls(cfg.gym, parse_gym_args(cfg.gym_args), cfg.heldout_size, cfg.heldout_seed)

    def train_batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n training problems of `step`: a generator seeded with (seed, step, attempt)."""
        out: list[Sample] = []
        for attempt in range(100):
            gen_seed = zlib.crc32(f"gym-{self.gym}-{seed}-{step}-{attempt}".encode())
            gen = make_generator(self.gym, self.args, gen_seed, 2 * n)
            for i in range(2 * n):
                s = _sample(self.key, gen[i])
                if s.prompt not in self._heldout_prompts:
                    out.append(s)
                if len(out) == n:
                    return out
        raise ConfigError(f"reasoning-gym '{self.gym}': could not draw {n} training questions outside the "
                          f"held-out split; lower task.heldout_size or widen task.gym_args")

    def heldout(self) -> list[Sample]:
        return list(self._heldout)

