"""Kinks of any cost, read from the one-sided slopes of a step ladder.

For a smooth cost the mismatch of the one-sided slopes at step t,
``m(t) = (J(θ+t) − J(θ))/t − (J(θ) − J(θ−t))/t = t·J'' + O(t³)``, shrinks in
proportion to t: ``m(t)/t`` is the same curvature at every small step.  At a
kink (a ReLU's corner at θ, or within the step of it) it is not: at θ the
mismatch stays the jump of the slope however small t gets (``m/t`` grows as
``1/t``); a corner at distance d shows at steps above d and vanishes below.
So a coordinate sits at a kink when two rungs' curvature estimates differ
by more than a factor of two beyond their round-off.  Only suspicious
coordinates are laddered, so this costs nothing on a clean check.

A smooth cost's ``m(t)/t`` is a polynomial in t², ``J'' + J''''·t²/12 + …``: where
J'' vanishes (a stationary point of ``x⁴``, ``(1 − cos x)²``) the higher terms
alone make it change by 4× per halving of t, which the plain comparison would
read as a kink.  So the comparison is repeated on the curvature estimates
extrapolated in t² (Neville's scheme, :data:`LEVELS` times): a smooth cost
agrees with itself at some level, a corner at none.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastcheck.verdicts.ladder import Ladder

#: Round-off margin on a mismatch (in units of its round-off bound).
NOISE_MARGIN = 4.0
#: Two curvature estimates that differ by more than this factor (beyond round-off) mean a kink.
FACTOR = 2.0
#: Levels of extrapolation in t² at which a kink must still show (level 0: the plain estimates).
LEVELS = 2


def _disagree(c, cu):
    """Rows whose curvature estimates ``c ± cu`` differ by more than :data:`FACTOR`."""
    ok = np.isfinite(c) & np.isfinite(cu)
    low = np.where(ok, np.abs(c) - cu, -np.inf)  # lower bounds of |c|
    high = np.where(ok, np.abs(c) + cu, np.inf)  # upper bounds
    big = np.max(low, axis=1)
    return (big > FACTOR * np.min(high, axis=1)) & (big > 0)


def _extrapolated(c, cu, t2, level):
    """One Neville step in x = t²: entries fitted to ``a + b·t² + …`` over ``level + 1`` rungs, and their round-off."""
    x0, x1 = t2[:, : -level], t2[:, level:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = x0 - x1
        return (x0 * c[:, 1:] - x1 * c[:, :-1]) / d, (x0 * cu[:, 1:] + x1 * cu[:, :-1]) / d


class Kinks(NamedTuple):
    """What :func:`find` reads off a ladder, one entry per laddered coordinate."""

    kink: np.ndarray  # bool: the one-sided slopes disagree beyond round-off at every level
    at_theta: np.ndarray  # bool: the corner is at θ itself, not merely within the step
    left: np.ndarray  # the one-sided slopes at the rung where the kink shows most
    right: np.ndarray


def find(lad: Ladder, first_rung: int, hiding_roundoff=None) -> Kinks:
    """Kink flags and the one-sided slopes where each kink shows most.

    ``first_rung`` is the column of the largest step considered (steps far
    above the check's own step are left out: there, higher-order terms of a
    smooth cost change the curvature estimate too).

    Returns :class:`Kinks` ``(kink, at_theta, left, right)``, arrays over the ladder's coordinates:
    ``at_theta`` marks a kink whose evidence grows down to the smallest
    resolvable step (the corner is at θ itself, not merely within the step).
    ``hiding_roundoff``: the round-off that may hide a jump below the last clear step (default the
    ladder's own); an ill-conditioned cost's kinks are found against its accuracy, but only the
    format's rounding hides a jump at θ (its values' inaccuracy is no rounding that scales with t).
    """
    m = lad.right - lad.left
    t = lad.steps
    # one-sided slopes carry about twice the round-off of the central quotient each
    u = NOISE_MARGIN * 4.0 * lad.roundoff
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(m) / t
        cu = u / t
    c, cu = c[:, first_rung:], cu[:, first_rung:]
    ok = np.isfinite(c) & np.isfinite(cu)
    low = np.where(ok, c - cu, -np.inf)  # lower bounds
    high = np.where(ok, c + cu, np.inf)  # upper bounds
    kink = np.max(low, axis=1) > FACTOR * np.min(high, axis=1)
    kink &= np.max(low, axis=1) > 0
    # the same test on the estimates with the t², t⁴, … terms of a smooth cost removed
    signed = np.where(ok, (m / t)[:, first_rung:], np.nan)
    ce, cue = signed, np.where(ok, cu, np.nan)
    t2 = t[:, first_rung:] ** 2
    for level in range(1, LEVELS + 1):
        if ce.shape[1] < 3:
            break
        ce, cue = _extrapolated(ce, cue, t2, level)
        kink &= _disagree(ce, cue)
    strongest = np.argmax(low, axis=1)
    # the smallest step whose mismatch still stands clear of round-off
    clear = ok & (c > 2 * cu)
    last_clear = np.where(clear.any(axis=1), c.shape[1] - 1 - np.argmax(clear[:, ::-1], axis=1), -1)
    # at θ itself the mismatch stays the jump however small the step (clear down to the
    # smallest step, or down to the step below which round-off would hide a jump that size,
    # and not much below its largest value there); a corner within the step leaves a
    # mismatch that shrinks with t below it, where round-off could still show it
    absm = np.where(ok, np.abs(m[:, first_rung:]), 0.0)
    rows0 = np.arange(len(strongest))
    last = c.shape[1] - 1
    lc = np.clip(last_clear, 0, last)
    below = np.minimum(lc + 1, last)
    uh = u if hiding_roundoff is None else NOISE_MARGIN * 4.0 * hiding_roundoff
    u_below = np.where(ok[rows0, below], uh[:, first_rung:][rows0, below], np.inf)
    hidden_below = (last_clear == last) | ((last_clear >= 0) & (absm[rows0, lc] <= 2 * u_below))
    at_theta = kink & hidden_below & (absm[rows0, lc] >= 0.25 * absm.max(axis=1))
    where = first_rung + strongest
    rows = np.arange(len(where))
    return Kinks(kink, at_theta, lad.left[rows, where], lad.right[rows, where])
