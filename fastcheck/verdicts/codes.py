"""The codes a judgement is written in: per-entry statuses and why an entry is inconclusive.

Apart from :mod:`fastcheck.verdicts.errorbars` (which re-exports them) so the refinement
modules (:mod:`fastcheck.verdicts.converge`, :mod:`fastcheck.verdicts.complexstep`) can use
them without importing the judge.
"""
from __future__ import annotations

import numpy as np

#: Status codes (int8 per coordinate; :data:`STATUS_NAMES` spells them).
AGREE, ZERO, WRONG, KINK, INCONCLUSIVE, NONFINITE = range(6)
STATUS_NAMES = np.array(["agree", "zero", "wrong", "kink", "inconclusive", "nonfinite"], dtype=object)
#: Statuses whose entries the difference reads (kinks and non-finite costs are left out).
COUNTED = (AGREE, ZERO, WRONG, INCONCLUSIVE)
#: Codes of why a coordinate is inconclusive (0: it is not); :data:`WHY_NAMES` keys :data:`SETTLE`.
ROUNDOFF, CONVERGE, NONFINITE_COST, ZEROS, RESOLUTION, LENGTH, FLAT, RANDOM, UNREFINED, DISAGREE = range(1, 11)
#: Not a reason for inconclusive: the code of a kink whose analytic value a converged derivative confirms
#: within the target bar (one side's at a corner at θ, or the steps below a corner within the step): such
#: a kink is listed, and read by that derivative like an agreement.
KINK_READ = 11
WHY_NAMES = ("", "roundoff", "converge", "nonfinite", "zeros", "resolution", "length", "flat", "random", "unrefined",
             "disagree", "kink_read")

#: How to settle each kind of inconclusive coordinate (shown in the report).
SETTLE = {
    "roundoff": "round-off of the cost swamps the gradient here; a float64 cost, a larger step or scheme='complex' would settle it",
    "converge": "the difference quotients did not settle as the step shrank; a smaller step or scheme='complex' would settle it",
    "nonfinite": "the cost is not finite at perturbed points; a smaller eps, or a point inside the cost's domain, would settle it",
    "zeros": "the sample saw only zero gradients in this block; check more of its coordinates (a larger sample, or all)",
    "kinks": "every checked coordinate of this block sits at a kink; a point off the corners, or more coordinates, would settle it",
    "resolution": "the error bars did not get within the target resolution at any step; scheme='complex', a float64 cost or a point where the cost is better conditioned would settle it",
    "length": "the estimate changes when the step shrinks (a corner or an oscillation shorter than the steps) and did not settle at the smallest steps; scheme='complex' or a point off the corner would settle it",
    "flat": "the cost is saturated or piecewise constant here (its derivative, 0 where it is defined, cannot check this gradient); a point where it moves would settle it (if this block's gradient is zero by construction, e.g. a bias followed by a normalisation, its analytic values are round-off and nothing can check them)",
    "random": "the cost returned different values at the same theta: it is not a function of theta (a fresh dropout mask or sample per call?); fix its seed for the check (reseed=0 sets the seed of NumPy and random before every evaluation)",
    "unrefined": "not refined: this block is wrong already (coordinates that differ at the check's step, the evidence for them not gathered)",
    "disagree": "the real steps and the complex step disagree about this coordinate: either the cost is not complex-safe (abs, conj or a comparison on theta), or corners within the real steps (ReLU inputs that close to 0; float32 costs cannot take steps small enough to pass under them) average the slope the real steps read; a float64 cost would settle it",
}


def counted(status, why) -> np.ndarray:
    """Entries the difference and the block verdicts read: :data:`COUNTED` statuses, and kinks read by a
    converged derivative (:data:`KINK_READ`)."""
    status, why = np.asarray(status), np.asarray(why)
    out = _COUNTED_TABLE[status]  # a look-up: np.isin sorts 4,000,000 entries of a Hessian
    kink = status == KINK
    if kink.any():
        out |= kink & (why == KINK_READ)
    return out


_COUNTED_TABLE = np.isin(np.arange(len(STATUS_NAMES)), COUNTED)


#: Each of a quotient's two values is taken to be off by this many times the value error measured at θ.
COST_ACCURACY = 2.0

