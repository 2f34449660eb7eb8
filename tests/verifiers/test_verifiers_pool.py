"""The worker pool: order kept, per-call wall clock, a stuck or dead worker replaced, errors reported."""
import operator
import os
import sys
import time

import pytest

from reasonrl.verifiers.pool import WorkerPool


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(workers=2, timeout_s=1.0) as p:
        yield p


def test_results_in_order(pool):
    got = pool.map(operator.add, [(i, 10) for i in range(20)])
    assert [r.value for r in got] == [i + 10 for i in range(20)]
    assert {r.status for r in got} == {"ok"}


def test_stuck_call_times_out_and_pool_keeps_serving(pool):
    before = pool.replaced
    t0 = time.monotonic()
    got = pool.map(time.sleep, [(30,), (0,), (0,)])        # the first call would take 30 s
    took = time.monotonic() - t0
    assert [r.status for r in got] == ["timeout", "ok", "ok"]
    assert "1s wall clock" in got[0].reason
    assert took < 10                                      # 1 s limit + a worker restart, not 30 s
    assert pool.replaced == before + 1
    assert pool.map(operator.mul, [(6, 7)])[0].value == 42


def test_worker_death_is_an_error_not_a_hang(pool):
    got = pool.map(os._exit, [(3,)])
    assert got[0].status == "error" and "died" in got[0].reason
    assert pool.map(operator.add, [(1, 1)])[0].value == 2


def test_exception_is_reported(pool):
    got = pool.map(int, [("x",), ("7",)])
    assert got[0].status == "error" and "ValueError" in got[0].reason
    assert got[1].value == 7


def test_per_call_limit_override(pool):
    assert pool.map(time.sleep, [(0.2,)], timeout_s=0.05)[0].status == "timeout"


def test_bad_arguments():
    with pytest.raises(ValueError):
        WorkerPool(workers=0)


def test_workers_that_cannot_start_raise_instead_of_looping():
    with pytest.raises(RuntimeError, match="die while starting"):
        WorkerPool(workers=1, timeout_s=1.0, initializer=sys.exit).map(operator.add, [(1, 1)])
