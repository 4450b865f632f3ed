"""Group tests: a directional derivative along a group's random-sign direction, judged; and what it could miss.

A group test looks at m coordinates at once, along ``u = s/√m`` (``s``: random
signs on the group, zero elsewhere).  Its costs are taken at the offsets
``±2^k`` (:func:`offsets`) times its step h, for k = 0 … K−1 (``K`` rungs: 7 over
a whole block, 2 inside one), and :func:`read_rungs` reads it at the pair of
neighbouring steps with the smallest error bar:

* the estimate ``d = d_t`` (the central difference at step t), and its error
  bar ``E = ν_t + |d_t − d_2t|`` (ν: the round-off of the costs at t,
  ``4·ε·Σ|w_k·J_k|/t``; the second term the truncation t still carries), as
  pass 2 of :mod:`fastcheck.verdicts.errorbars` measures it, here for every
  test, so that what a test could miss is known for every test;
* :func:`judge_groups` reads it against the analytic ``a = u·g`` by the rules
  of a directional check: it agrees outright when ``|a − d| ≤ great·M``; it
  disagrees when ``|a − d| > MARGIN·max(E, great·M)``; otherwise it agrees when
  E resolves the gradient (``E ≤ RESOLVE·S``) and is inconclusive when it
  does not.  ``M = max(|a|, |d|, ‖g_G‖/√m)``: ‖g_G‖/√m is the typical size of
  u·g over sign draws, so the relative band does not shrink when the signs
  drawn happen to cancel u·g (a direction with |u·g| far below it would read a
  numerical error of 10⁻⁶ of the gradient's scale as a bug), and it is never
  narrower than the per-coordinate check's band scaled to the group
  (max_i |g_i|/√m ≤ ‖g_G‖/√m).

What a test could miss (:func:`limits`).  ``d`` and ``E`` come from the cost
alone; a single coordinate i of the group off by δ moves ``a`` by
``u_i·δ = ±δ/√m`` — the same weight for every coordinate of the group, whatever
the signs drawn.  With ``r = |a − d|`` (what the test read), ``w = 1/√m`` and
``k = MARGIN·great``, the test

* disagrees for sure when ``w·|δ| > max(MARGIN·E + r, (k·M + r)/(1 − k))``
  (then ``|a' − d| ≥ w|δ| − r`` exceeds both ``MARGIN·E`` and ``k·M'``, as
  ``M' ≤ M + w|δ|``): ``catch``;
* agrees for sure when ``w·|δ| ≤ max(MARGIN·E − r, (k·M − r)/(1 + k))`` and E
  resolves the gradient: ``miss``.

A block fails when any one of its tests disagrees, so a single coordinate off
by more than the smallest ``catch`` of the block's tests is caught, and one
off by less than the smallest ``miss`` is not: ``result.blocks["detectable"]``
of a screen (:mod:`fastcheck.checks.screen`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.verdicts import errorbars

__all__ = ["LOCALISE_RUNGS", "SCREEN_RUNGS", "GroupJudgement", "Reading", "judge_groups", "limits", "offsets",
           "read_rungs", "scale_of"]

#: Rungs of a group test over a whole block: steps 2^k·h, k = 0 … 6 (14 evaluations), read at the pair of
#: neighbouring steps with the smallest error bar (along a random direction over many coordinates the cost
#: is often far straighter than along one, and a larger step cuts the round-off).
SCREEN_RUNGS = 7
#: Rungs of a group test inside a block (h and 2h, at the step its block's screen read best): 4 evaluations.
LOCALISE_RUNGS = 2


def offsets(n_rungs: int) -> np.ndarray:
    """Offsets ``[−1, 1, −2, 2, −4, 4, …]`` of ``n_rungs`` rungs, times a test's step."""
    return np.array([sign * 2.0**k for k in range(n_rungs) for sign in (-1.0, 1.0)])


class Reading(NamedTuple):
    """Per test: the central difference at the chosen step, its error bar and round-off, the chosen rung
    (its step is 2^rung·h), and whether its costs were finite."""

    estimate: np.ndarray
    error: np.ndarray
    noise: np.ndarray
    rung: np.ndarray
    finite: np.ndarray


def read_rungs(costs, steps, mach) -> Reading:
    """Read tests whose costs are at :func:`offsets` (one row per test, ≥ 2 rungs).

    At rung k (step t = 2^k·h) the central difference d_k has round-off
    ν_k = 4·ε·(|J₋| + |J₊|)/(2t) and the truncation it still carries is
    measured by |d_k − d_{k+1}| (floored by |d_{k+1} − d_{k+2}|/4, what an
    O(t²) error shrinks to, so that a chance crossing cannot fake a tiny
    bar); the error bar is their sum, and each test is read at the rung with
    the smallest bar.  The bar depends on the cost alone, never on the
    gradient checked, so choosing the rung by it cannot favour a verdict.
    """
    costs = np.asarray(costs, np.float64)
    n, K = costs.shape[0], costs.shape[1] // 2
    t = np.asarray(steps, np.float64)[:, None] * 2.0 ** np.arange(K)[None, :]
    minus, plus = costs[:, 0::2], costs[:, 1::2]
    with np.errstate(invalid="ignore", over="ignore"):
        d = (0.5 * plus - 0.5 * minus) / t
        nu = 4 * mach * (0.5 * np.abs(minus) + 0.5 * np.abs(plus)) / t
        ok = np.isfinite(minus) & np.isfinite(plus)
        trunc = np.abs(d[:, :-1] - d[:, 1:])
        if K > 2:
            trunc[:, :-1] = np.maximum(trunc[:, :-1], np.abs(d[:, 1:-1] - d[:, 2:]) / 4)
        bar = nu[:, :-1] + trunc
    pair_ok = ok[:, :-1] & ok[:, 1:] & np.isfinite(bar)
    bar = np.where(pair_ok, bar, np.inf)
    rung = np.argmin(bar, axis=1)
    rows = np.arange(n)
    finite = pair_ok[rows, rung]
    return Reading(np.where(finite, d[rows, rung], np.nan), np.where(finite, bar[rows, rung], np.inf),
                   np.where(finite, nu[rows, rung], np.inf), rung, finite)


class GroupJudgement(NamedTuple):
    """Per test: status and reason codes (:mod:`fastcheck.verdicts.errorbars`) and how far outside its
    tolerance it lies (``ratio`` = |a − d| / (MARGIN·max(E, great·max(|a|, |d|))))."""

    status: np.ndarray
    why: np.ndarray
    ratio: np.ndarray


def scale_of(analytic, reading: Reading) -> float:
    """The gradient's scale S of a set of tests: the largest |a|, or the largest |d| beyond its round-off."""
    f = reading.finite
    if not np.any(f):
        return 0.0
    beyond = np.abs(reading.estimate[f]) - reading.noise[f]
    return max(float(np.max(np.abs(np.asarray(analytic)[f]))), float(np.max(beyond, initial=0.0)), 0.0)


def judge_groups(reading: Reading, analytic, typical, costs, f0, great, scale) -> GroupJudgement:
    """Judge group tests (see the module docstring); ``typical`` is each group's ‖g_G‖/√m, ``scale`` is S
    (:func:`scale_of` of the screen's tests)."""
    a = np.asarray(analytic, np.float64)
    est, bar, finite = reading.estimate, reading.error, reading.finite
    n = len(a)
    status = np.full(n, errorbars.AGREE, np.int8)
    why = np.zeros(n, np.int8)
    with np.errstate(invalid="ignore"):
        dev = np.abs(a - est)
        band = great * np.maximum(np.maximum(np.abs(a), np.abs(est)), typical)
        tol = config.MARGIN * np.maximum(bar, band)
        ratio = np.where(dev == 0, 0.0, np.where(tol > 0, dev / np.where(tol > 0, tol, 1.0), np.inf))
    ratio[~finite] = np.inf
    outright = finite & (dev <= band)
    wrong = finite & ~outright & (dev > tol)
    unresolved = finite & ~outright & ~wrong & (bar > config.RESOLVE * scale)
    status[wrong] = errorbars.WRONG
    status[unresolved] = errorbars.INCONCLUSIVE
    why[unresolved] = errorbars.ROUNDOFF
    status[~finite] = errorbars.NONFINITE
    why[~finite] = errorbars.NONFINITE_COST
    still = finite & (a == 0) & np.all(np.asarray(costs) == f0, axis=1)
    status[still] = errorbars.ZERO
    return GroupJudgement(status, why, ratio)


def limits(analytic, estimate, error, typical, sizes, great):
    """Per test, the single-coordinate errors it catches for sure (above ``catch``) and misses for sure
    (at most ``miss``), from what it measured: its estimate, its error bar and its weight 1/√size
    (``typical``: the group's ‖g_G‖/√size, see :func:`judge_groups`).

    NaN where the test has no finite reading.
    """
    a = np.asarray(analytic, np.float64)
    d = np.asarray(estimate, np.float64)
    e = np.asarray(error, np.float64)
    root = np.sqrt(np.asarray(sizes, np.float64))  # 1 / the weight of each coordinate
    with np.errstate(invalid="ignore"):
        r = np.abs(a - d)
        m = np.maximum(np.maximum(np.abs(a), np.abs(d)), np.asarray(typical, np.float64))
        k = config.MARGIN * great
        catch = np.maximum(config.MARGIN * e + r, (k * m + r) / (1.0 - k)) * root
        miss = np.maximum(np.maximum(config.MARGIN * e - r, (k * m - r) / (1.0 + k)), 0.0) * root
    ok = np.isfinite(d) & np.isfinite(e)
    return np.where(ok, catch, np.nan), np.where(ok, miss, np.nan)
