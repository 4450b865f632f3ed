"""workers="auto" and the machine's load: the free cores other work leaves (fastcheck.support.load), and the
pool's decision on them (fastcheck.evaluators.pool.chunked.pool_pays).  Loads are injected, never measured."""
import math

import numpy as np
import pytest

from fastcheck.evaluators import pool
from fastcheck.evaluators.pool.chunked import AUTO_MARGIN, MIN_POOL_SECONDS, PROBE_ITEMS, pool_pays
from fastcheck.support import load


def test_fold_is_the_load_averages_exponential_average():
    assert load.fold(0.7, 0.0, 3.0) == 0.7                                  # no time: nothing changes
    assert load.fold(0.0, load.LOAD_SECONDS, 1.0) == pytest.approx(1 - math.exp(-1))
    assert load.fold(2.0, 1e4, 0.5) == pytest.approx(0.5)                   # long enough: the rate itself
    # folding in two steps is folding once (the kernel folds every 5 s)
    assert load.fold(load.fold(0.3, 20.0, 1.0), 40.0, 1.0) == pytest.approx(load.fold(0.3, 60.0, 1.0))


def test_a_busy_spell_adds_what_the_load_average_would_and_decays():
    assert load.spell_load(0.0, 600.0, 2, now=600.0) == pytest.approx(2 * (1 - math.exp(-10)))
    just_after = load.spell_load(0.0, 30.0, 2, now=30.0)
    later = load.spell_load(0.0, 30.0, 2, now=90.0)
    assert later == pytest.approx(just_after * math.exp(-1))
    assert load.spell_load(10.0, 10.0, 2, now=20.0) == 0.0                   # an empty spell adds nothing
    assert load.spell_load(0.0, 100.0, 1, now=50.0) == pytest.approx(1 - math.exp(-50 / 60))  # still running


@pytest.mark.parametrize("cores, busy, own, free", [
    (2, 0.0, 0.0, 2.0),     # a quiet machine
    (2, 2.0, 0.0, 0.0),     # two other busy processes take both cores
    (2, 2.0, 1.0, 1.0),     # one of the two is this process: it does not count against itself
    (2, 0.4, 1.0, 2.0),     # an own share above the load (the average lags): nobody else
    (8, 2.5, 0.5, 6.0),
])
def test_free_cores_are_the_cores_less_the_load_that_is_not_ours(cores, busy, own, free):
    assert load.free_cores(cores, busy, own) == pytest.approx(free)


def test_the_pools_speedup_is_between_one_and_the_workers():
    assert load.pool_speedup(2, cores=2, load=0.0, own=0.0) == 2.0
    assert load.pool_speedup(2, cores=2, load=0.5, own=0.0) == 1.5
    assert load.pool_speedup(2, cores=2, load=1.9, own=0.0) == 1.0          # 0.1 free cores: no gain, not less
    assert load.pool_speedup(2, cores=8, load=3.0, own=0.0) == 2.0          # enough free cores for both


def test_a_stated_load_replaces_the_machines(monkeypatch):
    monkeypatch.setenv("FASTCHECK_LOAD", "1.5")
    assert load.machine_load() == 1.5
    monkeypatch.setenv("FASTCHECK_LOAD", "busy")
    with pytest.raises(ValueError, match="FASTCHECK_LOAD must be a number"):
        load.machine_load()
    monkeypatch.delenv("FASTCHECK_LOAD")
    assert load.machine_load() >= 0.0                                       # the system's, whatever it is


def test_the_pool_pays_only_on_free_cores():
    # 400 evaluations of 25 ms: 10 s serial; a cold pool (2.5 s start-up) on two free cores pays ...
    assert pool_pays(400, 0.025, 2, overhead=2.5, speedup=2.0)
    # ... on a machine whose other work leaves one core, or 1.3, it does not (the loaded run that
    # chose the pool and took 1.46x the serial loop's time)
    assert not pool_pays(400, 0.025, 2, overhead=2.5, speedup=1.0)
    assert not pool_pays(400, 0.025, 2, overhead=2.5, speedup=1.3)
    # a running pool (a round trip's overhead) on 1.3 free cores pays for a long check
    assert pool_pays(4000, 0.025, 2, overhead=0.02, speedup=1.3)
    # the serial loop under MIN_POOL_SECONDS never goes to a pool, however free the machine
    assert not pool_pays(10, 0.09 * MIN_POOL_SECONDS, 2, overhead=0.0, speedup=64.0)
    assert not pool_pays(400, float("nan"), 2, overhead=0.0, speedup=2.0)
    # at the margin: the pooled time against AUTO_MARGIN of the serial one
    n, per = 10000, 0.01
    serial = n * per
    probe = (1 + PROBE_ITEMS * 2) * per
    on_pool = (serial - PROBE_ITEMS * 2 * per) / 2.0 + 2 * probe
    room = AUTO_MARGIN * serial - on_pool
    assert pool_pays(n, per, 2, overhead=room * 0.99, speedup=2.0)
    assert not pool_pays(n, per, 2, overhead=room * 1.01, speedup=2.0)


@pytest.mark.skipif(pool.available_cores() < 2, reason="a pool needs two cores")
def test_auto_weighs_the_load_it_is_given(monkeypatch):
    """The decision reads the machine's load: the same slow check goes to a running pool on a quiet
    machine and stays in this process when other work keeps every core busy."""
    from fastcheck.evaluators.loop import LoopEvaluator

    cores = load.os.cpu_count()
    monkeypatch.setattr(load, "own_load", lambda now=None: 0.0)
    monkeypatch.setattr(pool.LocalRunner, "live", lambda self: True)   # as if the pool were running
    base = LoopEvaluator(lambda t: float(np.sum(t)))
    ev = pool.wrap(base, workers="auto")
    base.eval_seconds = 0.01                 # 800 evaluations of 10 ms: 8 s serial
    monkeypatch.setenv("FASTCHECK_LOAD", "0")
    assert ev._use_pool(800, 2)
    assert pool.estimate_seconds(800, 0.01, "auto") < 8.0
    monkeypatch.setenv("FASTCHECK_LOAD", str(cores))   # other work on every core
    assert not ev._use_pool(800, 2)
    assert pool.estimate_seconds(800, 0.01, "auto") > 8.0
    assert pool.estimate_seconds(800, 0.01, 2) < 8.0   # an explicit workers=2 is not second-guessed
