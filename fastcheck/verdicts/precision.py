"""Which precision does the cost really compute in?

A float64 θ does not make a float64 cost: a model whose arrays are float32
returns float32-rounded values, and then every difference quotient carries
float32 round-off (about 1e-7·|J|/h), which a float64 error bar would call a
bug.  :func:`detect` measures it: at a few coordinates it evaluates the cost
at tiny steps (moving J by about 1e-5 of itself), fits a parabola through
the values, and reads the scatter about it.  A float64 cost scatters by a
few 1e-16·|J|; a float32 one by about 1e-8·|J| (it moves in float32-sized
quanta).  The relative scatter, turned into a machine epsilon, is what the
error bars then use.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

#: Named precisions and their machine epsilon (the spacing of floats at 1).
KNOWN = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10}
#: Relative scatter above which a cost is said to compute in a lower precision than float64 θ.
WARN_ABOVE = 1e-10
#: Offsets of the probe (times the probe step) and how many coordinates are probed.
PROBE_OFFSETS = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
PROBE_COORDS = 3
#: The probe moves J by about this fraction of |J| over one step.
PROBE_MOVE = 3e-6


#: A float32 cost's values use most of float32's 24-bit significand; values of a float64 cost that
#: are short only because they come out of cancellation (J ≈ 0 next to its terms: 20 − 20·e^(−δ))
#: fit in float32 too, but with a handful of bits.  The float32 reading needs one value longer than this.
FULL_BITS = 16


def _significant_bits(v) -> np.ndarray:
    """Bits of the float64 significand each value really uses (0 for zero)."""
    m, _ = np.frexp(np.abs(np.asarray(v, np.float64)))
    k = (m * 2.0**53).astype(np.int64)  # the significand as an integer (exact)
    k = np.where(k == 0, 1, k)
    trailing = np.log2(k & -k).astype(np.int64)
    return np.where(m == 0, 0, 53 - trailing)


@dataclass(frozen=True)
class Precision:
    """What the probe found.

    Attributes
    ----------
    mach : float
        Machine epsilon to use for the cost's round-off (never below θ's).
    name : str
        "float64", "float32", … or "" when nothing was measured.
    scatter : float
        Measured relative scatter of the cost's values (NaN when not measured).
    lower : bool
        The cost computes in a lower precision than θ.
    n_evals : int
    """

    mach: float
    name: str
    scatter: float
    lower: bool
    n_evals: int
    conditioning: float = 0.0  #: relative forward error of the cost's values (against a wider format), 0 if unknown
    value_error: float = 0.0  #: the same, absolute: |J(θ) − J_wider(θ)|


#: Round-off scatters alike at every probe scale (4 degrees of freedom: two readings of the same noise
#: differ by more than this factor in well under 5 % of probes); a shape misfit shrinks 16× or more per scale.
CONSISTENT = 4.0


def _consistent(readings) -> np.ndarray:
    """Per coordinate, the round-off reading: the geometric mean of two successive probe scales that
    agree within :data:`CONSISTENT` (the smallest such pair), inf when none do.

    Round-off is the same at every scale; a kink's misfit shrinks in proportion to the step and a
    smooth cost's misfit faster, so a reading that keeps shrinking with the step is shape, never
    round-off (a corner at θ once read as a "precision" 2e7 times coarser than float64)."""
    out = np.full(readings.shape[1], np.inf)
    for m in range(readings.shape[0] - 1, 0, -1):  # smallest scales first
        a, b = readings[m], readings[m - 1]
        ok = np.isfinite(a) & np.isfinite(b) & (np.maximum(a, b) <= CONSISTENT * np.minimum(a, b)) & ~np.isfinite(out)
        out[ok] = np.sqrt(a[ok] * b[ok])
    return out


#: A float32 evaluation whose value differs from the same cost evaluated in float64 by more than this
#: many float32 epsilons is ill-conditioned in float32: its values (and slopes) carry that error.
CONDITION_ABOVE = 16.0


def conditioned(prec: "Precision", ev, theta, f0) -> "Precision":
    """The cost evaluated once more at the same θ in a wider format (float64 for a float32 θ, the
    machine's extended precision for a float64 one, when the cost's NumPy code follows θ's dtype);
    when the two values differ by more than :data:`CONDITION_ABOVE` epsilons, the cost is ill-conditioned
    (a batch variance of 1e-8 amplifies float32 rounding 1e4 times; log(1 + z²) for z² ~ 1e-12 loses
    four digits in float64) and its values are only that accurate: the difference is kept, relative
    (``conditioning``) and absolute (``value_error``), and every quotient's bar then includes
    ``4·value_error / (2t)``.  (Not as ε: the error is systematic, about the same at neighbouring
    steps, so it does not widen the round-off the ladder's convergence test reads.)

    A cost that cannot be evaluated at a float64 θ, or that computes in float32 whatever θ is,
    changes nothing."""
    wider = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.longdouble}.get(theta.dtype)
    if wider is None or not ev.caps.calls_user_cost or ev.cost is None:
        return prec
    if np.finfo(wider).eps >= np.finfo(theta.dtype).eps:  # no wider format on this machine
        return prec
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = np.asarray(ev.cost(theta.astype(wider), *ev.args))
    except Exception:
        return prec
    if v.size != 1 or not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v.reshape(())):
        return prec
    v = v.reshape(()).astype(np.longdouble)
    scale = max(abs(v), abs(np.longdouble(f0)))
    rel = float(abs(v - np.longdouble(f0)) / scale) if scale > 0 else 0.0
    err = float(abs(v - np.longdouble(f0)))
    if rel <= CONDITION_ABOVE * float(np.finfo(theta.dtype).eps) or err <= CONDITION_ABOVE * float(
            np.finfo(theta.dtype).eps) * max(abs(float(f0)), 1.0):
        # (a value that is itself a few ulps of 1, J ≈ 0 by cancellation, is no ill-conditioning)
        return prec
    return dataclasses.replace(prec, conditioning=rel, value_error=err,
                               n_evals=prec.n_evals + 1)


def format_eps(prec: "Precision", dtype) -> float:
    """The machine epsilon of the format the cost computes in (its name), not the measured one."""
    return float(KNOWN.get(prec.name, float(np.finfo(dtype).eps)))


def describe(prec: "Precision", dtype) -> str:
    """``result.precision``: the format's name, with the measured ε when it differs from that format's."""
    name = prec.name or np.dtype(dtype).name
    eps = KNOWN.get(name, float(np.finfo(dtype).eps))
    notes = []
    if prec.mach > 2 * eps:
        notes.append(f"measured eps {prec.mach:.1e}")
    if prec.conditioning > 0:
        notes.append(f"ill-conditioned: its values differ from a wider format's by {prec.conditioning:.1e}")
    return f"{name} ({'; '.join(notes)})" if notes else name


def nominal(dtype) -> Precision:
    """The precision of θ's dtype, unmeasured."""
    return Precision(float(np.finfo(dtype).eps), np.dtype(dtype).name, np.nan, False, 0)


#: Offsets of the low-precision probe, in units of its step (a few spacings of θ's format).
LOW_OFFSETS = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])


def detect_low(ev, theta, coords, analytic, f0) -> Precision:
    """The noise of a cost whose θ is float16 or bfloat16, measured on θ's own grid.

    Such a θ has no finer points to probe at (:func:`detect` probes far below its spacing), and the cost
    computes in θ's format by construction, but the noise of its values relative to |J| can still exceed the
    format's ε: J ≈ 0 by cancellation (a sum of terms of either sign, as ⟨dout, op(x)⟩ with a drawn dout is)
    carries the rounding of its terms, not of itself.  At the coordinates with the largest analytic gradient
    the cost is evaluated at θ_i + k·s (k = ±1, ±2, ±3, s = 2 spacings of the format at θ_i, where the cost is
    a parabola to far below its rounding), and the scatter about the fitted parabola, relative to |J| (as in
    :func:`detect`), is the cost's ε when it exceeds the format's; the largest over the probed coordinates
    (a kink there only widens the bars).
    """
    base = nominal(theta.dtype)
    scale = np.abs(analytic)
    if f0 == 0 or not np.any(scale > 0):
        return base
    order = np.argsort(-scale, kind="stable")[:PROBE_COORDS]
    pick = coords[order[scale[order] > 0]]
    x = theta[pick].astype(np.float64)
    step = 2.0 * base.mach * np.maximum(np.abs(x), float(np.finfo(theta.dtype).tiny))
    try:
        costs = ev.stencil(theta, pick, step, LOW_OFFSETS)
    except Exception:  # noqa: BLE001 - a probe must never break a check: the nominal precision stands
        return base
    moved = (x[:, None] + LOW_OFFSETS[None, :] * step[:, None]).astype(theta.dtype).astype(np.float64) - x[:, None]
    found = []
    for j in range(len(pick)):
        y = np.concatenate([[0.0], costs[j] - f0])
        d = np.concatenate([[0.0], moved[j]]) / step[j]
        if not np.all(np.isfinite(y)) or len(np.unique(d)) < 4:
            continue
        A = np.stack([np.ones_like(d), d, d * d], axis=1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        resid = y - A @ coef
        found.append(np.sqrt(np.mean(resid**2) * len(y) / (len(y) - 3)) * np.sqrt(12) * 1.4 / abs(f0))
    if not found:
        return Precision(base.mach, base.name, np.nan, False, costs.size)
    scatter = float(max(found))
    return Precision(max(base.mach, scatter), base.name, scatter, False, costs.size)


def detect(ev, theta, coords, analytic, f0) -> Precision:
    """Probe the cost's precision at the checked coordinates with the largest analytic gradient."""
    base = nominal(theta.dtype)
    scale = np.abs(analytic)
    if f0 == 0 or not np.any(scale > 0):
        return base
    order = np.argsort(-scale, kind="stable")[:PROBE_COORDS]
    order = order[scale[order] > 0]
    pick = coords[order]
    x = theta[pick].astype(np.float64)
    step = PROBE_MOVE * abs(f0) / scale[order]
    # stay well above θ's own rounding and well inside the cost's smooth range
    lo = 256 * base.mach * np.maximum(1.0, np.abs(x))
    hi = 1e-3 * np.maximum(1.0, np.abs(x))
    step = np.clip(step, lo, hi)
    # probes at s, s/16 and s/256: round-off scatters alike at every scale, while a cost that
    # is not yet a parabola at scale s (a cubic term, a kink within the probe) fits far better
    # at the smaller ones; each coordinate keeps its smallest non-zero reading, and the
    # cost its smallest over coordinates (a kink spoils some coordinates, round-off all)
    # A coordinate whose probe step is clipped to θ's rounding floor at every scale (|J| tiny
    # next to its slope: J(θ) is itself round-off, as at a minimum of value ~0 reached by
    # cancellation) has one scale only, where a shape misfit (a corner at θ) cannot be told
    # from round-off: it gives no reading (the relative scatter about |J| ≈ 0 would be huge).
    spread = step * (1.0 / 256) > lo
    readings = np.full((3, len(pick)), np.inf)
    values, n_evals = [np.float64(f0)], 0
    for m, shrink in enumerate((1.0, 1.0 / 16, 1.0 / 256)):
        s = np.maximum(step * shrink, lo)
        try:
            costs = ev.stencil(theta, pick, s, PROBE_OFFSETS)
        except Exception:  # a probe must never break a check: the nominal precision stands
            return base
        n_evals += costs.size
        moved = (x[:, None] + PROBE_OFFSETS[None, :] * s[:, None]).astype(theta.dtype).astype(np.float64) - x[:, None]
        for j in range(len(pick)):
            y = np.concatenate([[f0], costs[j]])
            d = np.concatenate([[0.0], moved[j]]) / s[j]
            if not np.all(np.isfinite(y)):
                continue
            values.append(costs[j])
            A = np.stack([np.ones_like(d), d, d * d], axis=1)
            coef, *_ = np.linalg.lstsq(A, y - f0, rcond=None)
            resid = (y - f0) - A @ coef
            # uniform rounding in ±ulp/2 has rms ulp/√12, and ulp/|J| lies in [ε/2, ε]: rms·√12·1.4/|J| ≈ ε
            r = np.sqrt(np.mean(resid**2) * len(y) / (len(y) - 3)) * np.sqrt(12) * 1.4 / abs(f0)
            if r > 0 and spread[j]:
                readings[m, j] = r
    per_coord = _consistent(readings)
    scatters = [float(per_coord[np.isfinite(per_coord)].min())] if np.isfinite(per_coord).any() else []
    allv = np.concatenate([np.ravel(v) for v in values])
    if (theta.dtype == np.float64 and len(np.unique(allv)) >= 4 and np.all(allv.astype(np.float32) == allv)
            and _significant_bits(allv).max() > FULL_BITS):
        # every value the cost returned is a float32 number: it computes (or rounds) in float32
        sc = scatters[0] if scatters else KNOWN["float32"]
        return Precision(max(sc, KNOWN["float32"]), "float32", sc, True, n_evals)
    if not scatters:
        return Precision(base.mach, base.name, np.nan, False, n_evals)
    scatter = scatters[0]
    if scatter <= max(WARN_ABOVE, 64 * base.mach) or theta.dtype != np.float64:
        # a float64 cost (perhaps with some cancellation): its measured noise still widens the bars
        return Precision(max(base.mach, scatter), base.name, scatter, False, n_evals)
    name = min(KNOWN, key=lambda k: abs(np.log(KNOWN[k] / scatter)))
    if abs(np.log2(KNOWN[name] / scatter)) > 3 or name == "float64":
        # not a format we know (cancellation in a float64 cost, or randomness):
        # the measured scatter still widens the error bars, without a name
        return Precision(max(base.mach, scatter), base.name, scatter, scatter > 1e-2, n_evals)
    mach = max(scatter, KNOWN[name])
    return Precision(mach, name, scatter, True, n_evals)
