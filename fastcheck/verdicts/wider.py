"""An ill-conditioned float32 cost, read once more in float64: its inconclusive coordinates settled.

A float32 cost whose values carry more error than float32 rounds to (a batch variance of 1e-8
amplifies its rounding 1e4 times) gives difference quotients no better than that error allows
(:func:`fastcheck.verdicts.precision.conditioned`), and a coordinate whose bar cannot get within
the float32 target is inconclusive.  When the cost's code follows θ's dtype, the same code at a
float64 θ is the same mathematical function without that loss: its central differences at two
steps, which must agree with each other within the bar, are a converged reference.

The reading only ever *settles* a coordinate: one that agrees with the float64 derivative within
the float32 target bar (the precision the analytic gradient was asked for) passes at that
resolution; one that does not stays inconclusive, never wrong, because the analytic gradient of an
ill-conditioned float32 computation may itself carry that much error.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from fastcheck.core.steps import absolute_steps, get_scheme
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.verdicts.codes import AGREE, INCONCLUSIVE, RESOLUTION, ROUNDOFF
from fastcheck.verdicts.errorbars import stencil_sums

__all__ = ["WiderReading", "apply", "settle_in_float64"]

#: The second step is the first divided by this (truncation falls 16-fold for a central difference).
SHRINK = 4.0


class WiderReading(NamedTuple):
    """What the float64 reading settled."""

    settled: np.ndarray  #: positions (into the checked coordinates) that now agree
    estimate: np.ndarray  #: the float64 estimate at those positions
    error: np.ndarray  #: its error bar (the two steps' difference, or round-off if larger)
    n_evals: int  #: float64 cost evaluations spent


def settle_in_float64(ev, theta, coords, analytic, status, why, bars) -> WiderReading:
    """Read the coordinates left inconclusive for want of resolution in float64 (see the module docstring).

    ``bars``: per checked coordinate, the widest error bar that may agree (the float32 target's);
    nothing is changed here: the caller applies the reading.
    """
    none = WiderReading(np.zeros(0, np.intp), np.zeros(0), np.zeros(0), 0)
    pending = np.flatnonzero((status == INCONCLUSIVE) & np.isin(why, (RESOLUTION, ROUNDOFF)))
    if theta.dtype != np.float32 or not len(pending) or not ev.caps.calls_user_cost or ev.cost is None:
        return none
    wide = theta.astype(np.float64)
    loop = LoopEvaluator(ev.cost, ev.args)
    scheme = get_scheme("central")
    idx = np.asarray(coords)[pending]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = np.asarray(ev.cost(wide.copy(), *ev.args))
            if v.dtype != np.float64 or v.size != 1:
                return none  # the cost computes in float32 whatever θ is: no wider reading
            h = absolute_steps(wide, idx, scheme, None, None)
            g, noise, n_evals = [], [], 1
            for step in (h, (wide[idx] + h / SHRINK) - wide[idx]):
                sums = stencil_sums(loop, wide, idx, scheme, step, float(v.reshape(())))
                g.append(sums.acc / step)
                noise.append(4 * np.finfo(np.float64).eps * sums.mag / step)
                n_evals += sums.n_evals
    except Exception:  # noqa: BLE001 - the cost cannot run at a float64 θ: nothing to read
        return none
    est = g[1]
    err = np.maximum(np.abs(g[0] - g[1]), noise[1])
    b = np.asarray(bars, np.float64)[pending]
    ok = np.isfinite(est) & (err <= b) & (np.abs(analytic[pending] - est) + err <= b)
    return WiderReading(pending[ok], est[ok], err[ok], n_evals)


def apply(reading: WiderReading, status, why, estimate, error) -> None:
    """Mark the settled coordinates as agreeing, with the float64 estimate and bar (in place)."""
    s = reading.settled
    status[s], why[s] = AGREE, 0
    estimate[s], error[s] = reading.estimate, reading.error
