"""Which rows a step sees: a pure function of (seed, step); every row once per epoch without weights;
source frequencies follow the weights with them."""
from collections import Counter

import pytest

from reasonrl.config import ConfigError
from reasonrl.data import Mixture
from reasonrl.types import Sample


def _src(tag, n):
    return [Sample(prompt=f"{tag}{i}", answer="0") for i in range(n)]


def test_pure_in_seed_and_step():
    mix = Mixture([_src("a", 7), _src("b", 5)])
    assert mix.batch(0, 3, 4) == Mixture([_src("a", 7), _src("b", 5)]).batch(0, 3, 4)  # a fresh object agrees
    assert mix.batch(0, 3, 4) != mix.batch(0, 4, 4) and mix.batch(0, 3, 4) != mix.batch(1, 3, 4)


def test_every_row_once_per_epoch():
    mix = Mixture([_src("a", 6), _src("b", 4)])                # pool of 10 rows
    # steps 0 and 1 with n=5 fill slots 0..9 = epoch 0 exactly; steps 2 and 3 = epoch 1
    epoch0 = [s.prompt for st in (0, 1) for s in mix.batch(0, st, 5)]
    epoch1 = [s.prompt for st in (2, 3) for s in mix.batch(0, st, 5)]
    assert sorted(epoch0) == sorted(epoch1) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(4)])
    assert epoch0 != epoch1                                    # each epoch has its own order


def test_weights_set_source_frequencies():
    mix = Mixture([_src("a", 3), _src("b", 50), _src("c", 2)], weights=(3.0, 1.0, 0.0))
    counts = Counter(s.prompt[0] for st in range(200) for s in mix.batch(0, st, 20))   # 4000 draws
    # expected a: 3/4 * 4000 = 3000, b: 1000 (binomial sd ~27), c: never (weight 0)
    assert abs(counts["a"] - 3000) < 150 and abs(counts["b"] - 1000) < 150 and counts["c"] == 0


def test_bad_mixtures():
    with pytest.raises(ConfigError, match="'task.weights' and 'task.path' differ in length"):
        Mixture([_src("a", 2)], weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="weights must be >= 0 with a positive sum"):
        Mixture([_src("a", 2), _src("b", 2)], weights=(1.0, -1.0))
    with pytest.raises(ConfigError, match="needs at least one training row"):
        Mixture([_src("a", 2), []])
