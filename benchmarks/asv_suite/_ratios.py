"""Ratios of two timings taken alternately in one process: speed in units that survive a noisy machine.

On a shared machine an absolute time moves by 2× from hour to hour; two
timings taken in turns, in one process, move together, and their ratio is
what the code controls.  Each ratio here is the fastest of the numerator's
samples over the fastest of the denominator's, sampled alternately: on a
loaded machine the fastest sample is the one least disturbed, so the ratio
of minima moves least (medians moved by 2× from run to run here while
another job kept both cores busy; minima by about 20 %).

The gated ratios run on one thread, BLAS included: a single-core ratio does
not care whether the other core is busy, so it is the same on a quiet and on
a loaded machine.  How much the second thread helps is tracked too
(``*_parallel_over_serial``), but it depends on what else the machine runs,
so it is charted, not gated.  Both the asv suite (``bench_ratios``) and the
regression gate (``benchmarks/gate.py``) measure through :data:`RATIOS`, so
the gate reads exactly what asv records.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._coldstart import cold_over_warm
from ._problems import check_model, logistic_problem, network, require_threads


def _sample(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _number_for(fn: Callable[[], object], target: float = 0.02) -> int:
    """Calls per sample so that a sample lasts about ``target`` seconds (tiny calls are timed in bunches)."""
    once = _sample(fn, 1)
    return max(1, int(target / max(once, 1e-7)))


def interleaved_ratio(numerator: Callable[[], object], denominator: Callable[[], object], rounds: int = 7) -> float:
    """min(t_numerator) / min(t_denominator), the two sampled in turns after warm-up calls."""
    numerator()
    _sample(denominator, 10)
    n_num = _number_for(numerator)
    # Denominator samples as long as the numerator's: a loaded machine then slows both alike (a short
    # sample can slip into a quiet moment that a long one cannot).
    n_den = _number_for(denominator, target=n_num * _sample(numerator, 1))
    a, b = [], []
    for _ in range(rounds):
        a.append(_sample(numerator, n_num))
        b.append(_sample(denominator, n_den))
    return float(np.min(a) / np.min(b))


# -- the ratios ----------------------------------------------------------------------------------------
def check_in_forward_passes(net: str, rounds: int = 7) -> float:
    """A full structure-aware central check of every parameter, in units of one forward pass (``model.cost``),
    both on one thread."""
    from threadpoolctl import threadpool_limits

    check = check_model()
    model, theta, X, y = network(net)
    # Compile and load every BLAS first: threadpool_limits holds only the libraries already loaded.
    check(model, theta, X, y, coords=[0], threads=1)
    model.cost(theta, X, y)
    with threadpool_limits(1):
        return interleaved_ratio(lambda: check(model, theta, X, y, threads=1), lambda: model.cost(theta, X, y),
                                 rounds)


def structured_parallel_over_serial(net: str, rounds: int = 5) -> float:
    """The same full structured check on every Numba thread over one thread (0.5 is perfect on two cores)."""
    import numba

    threads = numba.config.NUMBA_NUM_THREADS
    require_threads(2)
    check = check_model()
    model, theta, X, y = network(net)
    check(model, theta, X, y, coords=[0], threads=1)
    check(model, theta, X, y, coords=[0], threads=threads)
    return interleaved_ratio(lambda: check(model, theta, X, y, threads=threads),
                             lambda: check(model, theta, X, y, threads=1), rounds)


def blackbox_parallel_over_serial(n: int = 2_000, rounds: int = 5) -> float:
    """A full central check of a jitted black-box cost on every Numba thread over one thread."""
    import numba

    import fastcheck

    threads = numba.config.NUMBA_NUM_THREADS
    require_threads(2)
    cost, theta, grad, args, layout = logistic_problem(n)

    def run(t):
        return lambda: fastcheck.check_gradient(cost, theta, grad, args=args, layout=layout, threads=t)

    return interleaved_ratio(run(threads), run(1), rounds)


def blackbox_in_cost_calls(n: int = 2_000, rounds: int = 7) -> float:
    """A full central check of a jitted black-box cost (2n perturbed costs) in units of one cost call, on one
    thread: 2n with no overhead."""
    from threadpoolctl import threadpool_limits

    import fastcheck

    cost, theta, grad, args, layout = logistic_problem(n)
    fastcheck.check_gradient(cost, theta, grad, args=args, coords=[0], threads=1)
    with threadpool_limits(1):
        return interleaved_ratio(
            lambda: fastcheck.check_gradient(cost, theta, grad, args=args, layout=layout, threads=1),
            lambda: cost(theta, *args), rounds)


#: Networks whose full check is tracked in forward-pass units (batch 64, sigmoid, sum of squares).
RATIO_NETWORKS = ("64-32-10", "256-64-10", "784-128-10", "784-256-64-10")


@dataclass(frozen=True)
class Ratio:
    """One gated ratio: the asv benchmark that records it, its parameter, and how to measure it."""

    benchmark: str
    param: str | None
    measure: Callable[[], float]
    unit: str

    @property
    def key(self) -> str:
        return self.benchmark if self.param is None else f"{self.benchmark}({self.param})"


#: Every ratio the gate compares with the recorded history (single-thread; lower is faster).
RATIOS = [
    *(Ratio("bench_ratios.CheckInForwardPasses.track_ratio", net, (lambda net=net: check_in_forward_passes(net)),
            "forward passes") for net in RATIO_NETWORKS),
    Ratio("bench_ratios.BlackBoxInCostCalls.track_ratio", None, blackbox_in_cost_calls, "cost calls"),
    # whole processes, two threads: a ratio of two wall times taken in turns, not a single-thread one
    Ratio("bench_ratios.ColdStart.track_ratio", None, cold_over_warm, "cold / warm"),
    Ratio("bench_ratios.ColdStartCheck.track_ratio", None, lambda: cold_over_warm("mlp-784-128-10"), "cold / warm"),
]
