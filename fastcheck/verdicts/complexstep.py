"""The complex step in a check's judgement: when it may decide on its own, and when it only confirms.

``Im J(θ + i·h·e_i) / h`` differentiates the cost *as written* (its analytic
continuation) with no cancellation, so it reaches what real steps cannot
when their round-off swamps the gradient or the cost's length scale is
shorter than any real step.  It is only as good as the cost's complex
safety: ``abs``, ``conj``, a comparison whose branch depends on the
imaginary part, make it a different function.  So it decides on its own
only after a **complex-safety probe** at the base step H of the ladder,
comparing the complex evaluation with the real ones it already has:

* the values: ``Re J(θ + iH) = J − J''H²/2 + …`` mirrors the real
  ``(J(θ+H) + J(θ−H))/2 = J + J''H²/2 + …``; a non-analytic cost breaks
  this (``|z|·z`` by 1.5·H² against H²), and the curvature term must stand
  clear of round-off for the probe to say anything;
* the slopes: ``Im J(θ + iH)/H = J' − J'''H²/6 + …`` mirrors the central
  quotient ``J' + J'''H²/6 + …`` about the tiny-step complex value;

and the two complex steps, tiny and H, must agree to those terms (a
self-consistent complex step).  Both mirrors must hold to a quarter of the
terms they mirror.  The built-in networks are complex-safe by construction
and need no probe (their complex step also clears a coordinate the real steps'
ladder, reaching past the exact kink flags, read wrong).  Without a passing probe the complex step only confirms:
an undecided coordinate agrees when the complex value matches the analytic
value and is consistent with the real steps' reading.

A coordinate the real steps found wrong on converged evidence is cleared
only when the complex value matches the analytic one *and* lies near the
real reading (a cost whose rounding is systematic, 1 − cos x for |x| < 1e-8,
misleads the real steps by that little); matching it far from the real
reading, the two disagree: inconclusive (with a passing probe, or a nonzero complex value: real steps
that pass over corners converge on an averaged slope, and a complex step that matches the analytic
value exactly is no chance agreement).
"""
from __future__ import annotations

import warnings

import numpy as np

from fastcheck import config
from fastcheck.core.steps import get_scheme
from fastcheck.verdicts import codes as eb
from fastcheck.verdicts import ladder

__all__ = ["settle"]

#: How far the mirrored terms may differ, as a fraction of the terms themselves.
MIRROR = 0.25
#: The complex step's error bar, in units of its precision's epsilon times the value.
CS_BAR = 8.0


def _complex_dtype(dtype):
    return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128


def _user_cost(ev):
    """``(cost, args)`` of an evaluator that calls the user's cost (wrappers forward both), or None.

    The protocol's ``complex_step`` returns Im J only; the probe needs Re J(θ + iH) too, so it
    asks the user's cost directly, as ``caps.calls_user_cost`` allows."""
    if not ev.caps.calls_user_cost or ev.cost is None:
        return None
    return ev.cost, tuple(ev.args)


def _values_at(ev, theta, coords, H):
    """J(θ + iH·e_i) as complex values, from the user's cost directly (None when that cannot be asked)."""
    found = _user_cost(ev)
    if found is None:
        return None
    cost, args = found
    work = theta.astype(_complex_dtype(theta.dtype))
    out = np.empty(len(coords), np.complex128)
    for r, (i, h) in enumerate(zip(coords, H)):
        x = work[i]
        work[i] = x + 1j * h
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                v = np.asarray(cost(work, *args))
        except Exception:
            return None
        finally:
            work[i] = x
        if v.size != 1 or not np.iscomplexobj(v):
            return None
        out[r] = complex(v.reshape(()))
    return out


def _probe(ev, theta, coords, f0, costs, rows, gc1, mach):
    """Per coordinate: did the cost pass the complex-safety probe at the ladder's base step?"""
    n = len(rows)
    if not ev.caps.calls_user_cost:
        # the built-in networks are complex-safe by construction; any other evaluator: no probe
        return np.full(n, bool(ev.caps.native_precision))
    col = ladder.REFINE_RUNGS.index(0)
    cols = np.array([2 * col, 2 * col + 1])
    costs.need(rows, cols)
    jm, jp = costs.costs[rows, cols[0]], costs.costs[rows, cols[1]]
    dm, dp = costs.disp[rows, cols[0]], costs.disp[rows, cols[1]]
    H = costs.base[rows]
    F = _values_at(ev, theta, coords, H)
    if F is None:
        return np.zeros(n, bool)
    rounding = ladder.COST_ROUNDING * mach * (abs(f0) + np.abs(jm) + np.abs(jp))
    c2 = 0.5 * (jp + jm) - f0  # J''H²/2 + …
    value_gap = np.abs(F.real - (f0 - c2))
    values_ok = (value_gap <= MIRROR * np.abs(c2) + config.MARGIN * rounding) & (np.abs(c2) > 16 * rounding)
    D = (jp - jm) / (dp - dm)
    rnd = ladder.COST_ROUNDING * mach * (np.abs(jp) + np.abs(jm)) / (dp - dm)
    gcH = F.imag / H
    cs = CS_BAR * mach * np.abs(gc1)
    slope_gap = np.abs(gcH + D - 2 * gc1)
    slopes_ok = slope_gap <= MIRROR * np.abs(D - gc1) + config.MARGIN * (rnd + cs)
    steps_ok = np.abs(gcH - gc1) <= 2 * np.abs(D - gc1) + config.MARGIN * (rnd + cs)  # two complex steps agree
    return np.isfinite(F.real) & np.isfinite(F.imag) & values_ok & slopes_ok & steps_ok


def settle(out, ev, theta, coords, undecided, doubted, a, mach, targets, band, costs, batch, f0) -> int:
    """The complex step for the coordinates the real steps left ``undecided`` or found wrong (``doubted``);
    ``costs`` holds the batch's ladder costs (rows in the order of ``batch``).  Returns the evaluations spent."""
    idx = np.concatenate([np.asarray(undecided, np.int64), np.asarray(doubted, np.int64)])
    if not ev.caps.complex_step or not len(idx):
        return 0
    cs = get_scheme("complex")
    x = np.abs(theta[coords[idx]].astype(np.float64))
    h = cs.relative_step(theta.dtype) * np.maximum(1.0, x)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a cost that casts complex to real (float(), np.real) drops the step: not complex-safe
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            gc = np.asarray(ev.complex_step(theta, coords[idx], h), np.float64) / h
    except Exception:  # the cost does not take complex input: the real steps' reading stands
        return 0
    pos = {int(j): r for r, j in enumerate(batch)}
    rows = np.array([pos[int(j)] for j in idx], np.int64)
    before = costs.n_evals
    cmach = max(float(mach), float(np.finfo(theta.dtype).eps))
    with np.errstate(all="ignore"):
        safe = _probe(ev, theta, coords[idx], f0, costs, rows, gc, cmach)
    spent = len(idx) * (2 if ev.caps.calls_user_cost else 1) + costs.n_evals - before
    n_undecided = len(undecided)
    builtin = not ev.caps.calls_user_cost and ev.caps.native_precision
    for r, j in enumerate(idx):
        if not np.isfinite(gc[r]):
            continue
        ec = CS_BAR * cmach * max(abs(gc[r]), abs(a[j]))
        tol = max(config.MARGIN * ec, band * max(abs(gc[r]), abs(a[j])))
        matches = abs(a[j] - gc[r]) <= tol
        real_bar = out.error[j] if np.isfinite(out.error[j]) else np.inf
        near = abs(gc[r] - out.estimate[j]) <= 1e-3 * abs(out.estimate[j]) + config.MARGIN * real_bar
        if r >= n_undecided:  # wrong on the real steps' converged evidence
            if matches and builtin:
                # fastcheck's own networks are complex-safe by construction: their complex step is the
                # derivative (the real steps' ladder reaches farther than the exact kink flags look)
                out.estimate[j], out.error[j] = gc[r], ec
                out.status[j], out.why[j] = eb.AGREE, 0
            elif matches and gc[r] != 0 and near:
                out.estimate[j], out.error[j] = gc[r], ec
                out.status[j], out.why[j] = eb.AGREE, 0
            elif matches and (safe[r] or gc[r] != 0):
                # two lines of evidence that disagree: the complex step matches the analytic value exactly,
                # the real steps read something else.  Not wrong: a corner within the real steps (a ReLU's
                # input that close to 0, many of them in a float32 layer's weight) misleads the real steps,
                # an unsafe cost the complex one, and which of them it is cannot be told apart here
                out.status[j], out.why[j] = eb.INCONCLUSIVE, eb.DISAGREE
            continue
        if safe[r] and gc[r] != 0:
            out.estimate[j], out.error[j] = gc[r], ec
            out.status[j], out.why[j] = (eb.AGREE, 0) if matches else (eb.WRONG, 0)
        elif matches and gc[r] != 0 and near and ec <= targets[j]:
            out.estimate[j], out.error[j] = gc[r], ec
            out.status[j], out.why[j] = eb.AGREE, 0
    return spent
