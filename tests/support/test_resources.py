"""Time estimates from a probe (the timed J(θ)) and the heads-up before a long check (fastcheck.support.resources)."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import LongRunWarning
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.support import resources
from fastcheck.support.resources import TimeEstimate


def slow_cost(theta):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 2e-3:  # 2 ms of work per evaluation, whatever the machine
        pass
    return float(np.sum(theta**2))


def test_estimate_from_the_timed_probe():
    ev = LoopEvaluator(slow_cost)
    assert resources.estimate_check_time(ev, 100) is None  # not timed yet: no estimate, no guess
    ev.value(np.ones(3))
    est = resources.estimate_check_time(ev, 100)
    assert est.workers == 1 and est.n_evals == 100
    assert 2e-3 <= est.eval_seconds < 0.2  # the probe's own time: at least the 2 ms it spins
    assert est.seconds == pytest.approx(100 * est.eval_seconds)
    assert "100 evaluations of the cost" in str(est) and est.to_frame()["seconds"].iloc[0] == est.seconds


def test_the_pool_divides_the_estimate_by_its_workers():
    from fastcheck.evaluators import pool

    ev = pool.ChunkedEvaluator(LoopEvaluator(slow_cost), pool.LocalRunner(2))
    ev.value(np.ones(3))
    est = resources.estimate_check_time(ev, 1000)
    assert est.workers == 2 and est.seconds == pytest.approx(1000 * est.eval_seconds / 2)


@pytest.mark.parametrize("seconds, text", [(5e-4, "500 µs"), (0.25, "250.0 ms"), (42.0, "42.0 s"),
                                           (600.0, "10 min"), (36000.0, "10.0 h")])
def test_durations_read_in_a_sensible_unit(seconds, text):
    assert str(TimeEstimate(1, seconds)).startswith(f"about {text}")


def test_a_long_check_says_so_before_it_starts(monkeypatch):
    monkeypatch.setattr(resources, "ANNOUNCE_SECONDS", 0.05)  # 40 evaluations × 2 ms = 80 ms counts as long here
    theta = np.linspace(-1.0, 1.0, 20)
    with pytest.warns(LongRunWarning, match=r"this check will take about .* \(40 evaluations of the cost × .* each\);"
                                            r" for a first answer in seconds check a sample"):
        res = fc.check_gradient(slow_cost, theta, 2 * theta, jit=False, workers=1)
    assert res.passed  # a heads-up, never a refusal


def test_a_quick_check_stays_silent():
    theta = np.linspace(-1.0, 1.0, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongRunWarning)
        assert fc.check_gradient(slow_cost, theta, 2 * theta, jit=False, workers=1).passed
    assert not resources.announce(None) and not resources.announce(TimeEstimate(10, 1.0), limit=11.0)
