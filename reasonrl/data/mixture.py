"""Which training rows each step sees: a pure function of (seed, step), so a resumed run replays
nothing and skips nothing.

Without weights, all sources form one pool read in epochs: epoch e is a permutation of the pool
drawn from (seed, e), and step s takes slots s*n .. s*n+n-1 of the endless sequence of epochs, so
every row is seen once per epoch. With weights, each slot picks source j with probability
w_j / sum(w), then one of its rows uniformly (rows can repeat within an epoch; small sources can be
up-weighted this way).
"""
from __future__ import annotations

import random

from reasonrl.config import ConfigError
from reasonrl.types import Sample


class Mixture:
    def __init__(self, sources: list[list[Sample]], weights: tuple[float, ...] = ()):
        if not sources or any(not s for s in sources):
            raise ConfigError("config key 'task.path': every data source needs at least one training row")
        if weights and len(weights) != len(sources):
            raise ConfigError(f"config keys 'task.weights' and 'task.path' differ in length "
                              f"({len(weights)} vs {len(sources)})")
        if weights and (min(weights) < 0 or sum(weights) <= 0):
            raise ConfigError(f"config key 'task.weights': weights must be >= 0 with a positive sum, "
                              f"got {list(weights)}")
        self.sources = sources
        self.weights = tuple(weights)
        self.pool = [s for src in sources for s in src]
        self._perms: dict[tuple[int, int], list[int]] = {}

    def __len__(self) -> int:
        return len(self.pool)

    def _perm(self, seed: int, epoch: int) -> list[int]:
        key = (seed, epoch)
        if key not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            order = list(range(len(self.pool)))
            random.Random(f"data-epoch-{seed}-{epoch}").shuffle(order)
            self._perms[key] = order
        return self._perms[key]

    def batch(self, seed: int, step: int, n: int) -> list[Sample]:
        """The n rows of `step`."""
        if self.weights:
            rng = random.Random(f"data-mix-{seed}-{step}")
            picks = rng.choices(range(len(self.sources)), weights=self.weights, k=n)
            return [self.sources[j][rng.randrange(len(self.sources[j]))] for j in picks]
        m = len(self.pool)
        return [self.pool[self._perm(seed, k // m)[k % m]] for k in range(step * n, step * n + n)]
