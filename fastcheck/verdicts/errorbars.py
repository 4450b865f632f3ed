"""Error bars of the difference quotients, and the per-coordinate judgement they give.

A coordinate is judged in passes, each paid only by the coordinates the
previous one could not settle:

1. **the check's own step** h: the quotient ĝ and its round-off bound
   ν = 4·ε·Σ|w_k·J_k|/h (ε of the precision the cost computes in).  It
   agrees when |g − ĝ| is below the coordinate band (``great``, or what a
   central difference reaches in the cost's precision) relative to the
   larger of the two, or below ν while ν is within the target bar
   (:mod:`fastcheck.verdicts.resolution`): a difference at the round-off
   level says nothing when the gradient itself is at that level.
2. **refinement** (:mod:`fastcheck.verdicts.converge`): three successive
   steps at the small end of the reliable range, then, if that does not
   decide, a ladder of steps 64h … h/4096 with Richardson extrapolation
   and the kink test (:mod:`fastcheck.verdicts.kinks`), then the complex
   step (:mod:`fastcheck.verdicts.complexstep`).  A coordinate is wrong
   only on *converged* evidence, agrees only with a bar within the target;
   what cannot converge is inconclusive, with the reason.  Blocks are
   refined side by side in growing batches, worst first, and a block stops
   being refined once a coordinate of it is wrong.

Outcomes per coordinate: ``agree``, ``zero`` (the cost did not move and the
gradient is exactly 0), ``wrong``, ``kink``, ``inconclusive`` (with a why
code, :data:`WHY_NAMES`) and ``nonfinite``.  A block whose every coordinate
left the cost exactly unchanged while its analytic gradient is not zero
(saturated, or a piecewise-constant cost) is inconclusive, and so is every
coordinate of a cost that returned two values at the same θ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.core.steps import get_scheme
from fastcheck.verdicts import converge, kinks, ladder, resolution
from fastcheck.verdicts.codes import (  # noqa: F401 - the codes live apart so the refinement modules share them
    AGREE, CONVERGE, COUNTED, DISAGREE, FLAT, INCONCLUSIVE, KINK, LENGTH, NONFINITE, NONFINITE_COST, KINK_READ, RANDOM,
    RESOLUTION, ROUNDOFF, SETTLE, STATUS_NAMES, UNREFINED, WHY_NAMES, WRONG, ZERO, ZEROS,
)
from fastcheck.verdicts.ladder import LadderReading  # noqa: F401 - read_ladder's return type, named here too

#: Each of a quotient's two values is taken to be off by this many times the value error measured at θ.
COST_ACCURACY = 2.0

#: Columns of the kinks table of a result (:attr:`fastcheck.checks.result.CheckResult.kinks`).
KINK_COLUMNS = ["block", "index", "coord", "analytic", "numerical", "left", "right"]


@dataclass
class Judgement:
    """Per checked coordinate: best numerical estimate, its error bar, status; and the kinks found."""

    estimate: np.ndarray
    error: np.ndarray
    status: np.ndarray
    why: np.ndarray  # WHY code for inconclusive coordinates, 0 otherwise
    kink_left: np.ndarray
    kink_right: np.ndarray
    n_evals: int = 0
    refined: int = 0
    resolution: np.ndarray = None  # per coordinate: the smallest absolute error of the analytic value that reads wrong
    scales: np.ndarray = None  # per block: the gradient's scale (largest |g| or |ĝ| beyond round-off)
    scale: float = 0.0  # the whole gradient's scale
    floors: np.ndarray = None  # per coordinate: a least bar (None: none)
    conditioning: float = 0.0  # the absolute accuracy of the cost's values, when worse than their precision (0)


class StencilSums(NamedTuple):
    """What :func:`stencil_sums` returns, per coordinate."""

    acc: np.ndarray  # Σ w_k·J_k
    mag: np.ndarray  # Σ |w_k·J_k| (the round-off bound's sum)
    finite: np.ndarray  # bool: every cost of the stencil is finite
    costs: np.ndarray  # (n, len(offsets)) the stencil's costs, J(θ) in the unmoved columns
    n_evals: int  # cost evaluations spent


def first_pass(analytic, numerical, noise, finite, still, scale_all, great, bar=None):
    """Pass 1 on the check's own quotients: which coordinates agree outright.

    ``bar``: the widest round-off that may agree at all (per coordinate or scalar; by default
    ``config.RESOLVE`` of the scale ``scale_all``, and no limit on an agreement within the band)."""
    err = np.abs(analytic - numerical)
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    resolved = noise <= (config.RESOLVE * scale_all if bar is None else bar)
    within = err <= great * scale
    if bar is not None:
        within &= resolved
    return finite & (within | ((err <= noise) & resolved) | still)


def judge(ev, theta, coords, block_ids, scheme, steps, f0, costs, numerical, noise, finite, analytic, *,
          mach, great, exact_kinks=None, refine=True, n_blocks=None, random=False, format_mach=None,
          value_error=0.0) -> Judgement:
    """Judge every checked coordinate (see the module docstring).

    ``costs`` are the perturbed costs of the check's own stencil (``None``
    for the complex step); ``exact_kinks`` the evaluator's own kink flags
    (the built-in networks), which are taken as they are; ``great`` the
    coordinate band; ``random``: the cost gave two values at the same θ
    (every coordinate is then inconclusive); ``format_mach``: the epsilon of the
    cost's format, which sets the target resolution (``mach``, the measured one, by default);
    ``value_error``: the absolute accuracy of the cost's values when it is worse than their
    precision (an ill-conditioned cost): every quotient's bar includes ``4·value_error / (2t)``.
    """
    scheme = get_scheme(scheme)
    n = len(coords)
    n_blocks = int(block_ids.max()) + 1 if n_blocks is None and n else (n_blocks or 0)
    a = analytic
    every = finite.all()  # every cost finite (a passing check): copies, not masked selections
    est = np.array(numerical) if every else np.where(finite, numerical, np.nan)
    error = np.array(noise) if every else np.where(finite, noise, np.nan)
    status = np.full(n, AGREE, dtype=np.int8)
    why = np.zeros(n, dtype=np.int8)
    left = np.full(n, np.nan)
    right = np.full(n, np.nan)
    if not every:
        status[~finite] = NONFINITE
        why[~finite] = NONFINITE_COST
    exact = np.zeros(n, bool) if exact_kinks is None else np.asarray(exact_kinks, bool) & finite
    status[exact] = KINK
    if costs is not None and exact.any():
        left[exact], right[exact] = _one_sided(costs[exact], scheme, steps[exact], f0)
    live = finite & ~exact
    # The cost did not move at all and the gradient says 0: nothing to doubt.
    still = np.zeros(n, bool)
    unmoved = None if costs is None else rows_equal(costs, f0)  # the cost did not move (taken once: 10⁵ rows)
    if costs is not None:
        still = live & (a == 0) & unmoved
    status[still] = ZERO
    scale_all = gradient_scale(a, est, live, noise)
    out = Judgement(est, error, status, why, left, right, scale=scale_all, conditioning=float(value_error))
    out.scales = resolution.block_scales(block_ids, a, est, noise, live, n_blocks)
    # the relative resolution a pass must reach, and the |g| below which a gradient is zero at it
    target = resolution.target_resolution(mach if format_mach is None else format_mach, great)
    tiny = target * scale_all / config.MARGIN
    if costs is not None and refine and not random:
        # g ≈ 0 (round-off of an exact zero) where the cost did not move: zero if the cost is invariant
        # along the coordinate over wide steps too (a bias followed by a normalisation), not just flat here
        cand = np.flatnonzero(live & ~still & (np.abs(a) <= tiny) & unmoved)
        if len(cand):
            inv, spent = _invariant(ev, theta, np.asarray(coords)[cand], f0)
            out.n_evals += spent
            still[cand[inv]] = True
            status[cand[inv]] = ZERO
    # an ill-conditioned cost's quotients are only as accurate as its values allow
    if value_error > 0:
        noise = np.maximum(noise, 2.0 * COST_ACCURACY * value_error / steps)
        error[finite] = noise[finite]
    if random:
        sel = live & ~still
        status[sel], why[sel] = INCONCLUSIVE, RANDOM
        return _finish(out, a, live, block_ids, noise, great, mach, n_blocks, unmoved=unmoved)
    # a quotient agrees outright only with a round-off within the target bar of its block
    # a block whose every |g| and |ĝ| is below what the whole check resolves is zero at that resolution:
    # its bars are read against the whole gradient's scale (the round-off of an exact zero cannot reach its own)
    zero_block = out.scales <= tiny
    targets = resolution.target_bar(np.where(zero_block, scale_all, out.scales)[block_ids], target)
    agree = first_pass(a, est, noise, live, still, scale_all, great, bar=targets)
    pending = live & ~agree
    if pending.any():
        flat = _flat_blocks(costs, f0, est, a, live, block_ids, n_blocks, unmoved) & pending
        status[flat], why[flat] = INCONCLUSIVE, FLAT
        pending &= ~flat
        if pending.any() and not refine:
            _settle_without_refinement(out, a, pending, scale_all)
        elif pending.any():
            converge.refine(out, ev, theta, coords, block_ids, pending, f0, a, mach, targets, great, scale_all)
    return _finish(out, a, live, block_ids, noise, great, mach, n_blocks, costs, f0, outright=agree & ~still,
                   zero=still, unmoved=unmoved)


#: Relative steps (of max(1, |θ_i|)) at which a cost flat at θ must stay bitwise unchanged to be invariant.
INVARIANT_STEPS = (0.1, 1.0)


def _invariant(ev, theta, idx, f0):
    """Which of the coordinates ``idx`` the cost is invariant along: bitwise ``f0`` at ±0.1 and ±1 times
    max(1, |θ_i|) (a saturated or piecewise-constant cost moves at such steps); and the evaluations spent."""
    scale = np.maximum(1.0, np.abs(theta[idx].astype(np.float64)))
    inv = np.ones(len(idx), bool)
    try:
        with np.errstate(all="ignore"):
            for m in INVARIANT_STEPS:
                c = np.asarray(ev.stencil(theta, idx, m * scale, (-1.0, 1.0)))
                inv &= np.all(c == f0, axis=1)
    except Exception:  # noqa: BLE001 - a cost that fails at a wide step is not shown invariant
        return np.zeros(len(idx), bool), 4 * len(idx)
    return inv, 4 * len(idx)


def rows_equal(costs, f0) -> np.ndarray:
    """``np.all(costs == f0, axis=1)``, a column at a time: NumPy's reduction along a short axis
    takes over ten times as long on 10⁵ rows of two costs."""
    out = np.ones(costs.shape[0], bool)
    for k in range(costs.shape[1]):
        out &= costs[:, k] == f0
    return out


def rows_finite(costs) -> np.ndarray:
    """``np.isfinite(costs).all(axis=1)``, a column at a time (see :func:`rows_equal`)."""
    out = np.ones(costs.shape[0], bool)
    for k in range(costs.shape[1]):
        out &= np.isfinite(costs[:, k])
    return out


def _flat_blocks(costs, f0, est, a, live, block_ids, n_blocks, unmoved=None):
    """Coordinates of blocks where the cost did not move at all (every live coordinate) while the
    analytic gradient is not zero: saturated, or piecewise constant.  ``unmoved``: the rows of
    ``costs`` all equal to ``f0``, when the caller has them."""
    if costs is None:
        flat = est == 0
    else:
        flat = rows_equal(costs, f0) if unmoved is None else unmoved
    moved = live & ~flat
    any_moved = resolution.block_max(moved.astype(np.float64), block_ids, n_blocks) > 0
    nonzero = resolution.block_max(np.where(live, np.abs(a), 0.0), block_ids, n_blocks) > 0
    bad = ~any_moved & nonzero
    return live & flat & bad[block_ids] & (a != 0)


def _finish(out, a, live, block_ids, noise, great, mach, n_blocks, costs=None, f0=None, outright=None, zero=None,
            unmoved=None):
    """The per-coordinate resolution and the scales, once the statuses are final; saturated blocks
    (numerical gradient exactly zero, analytic not) made inconclusive (``unmoved``: see :func:`_flat_blocks`)."""
    if out.scales is None:
        out.scales = resolution.block_scales(block_ids, a, out.estimate, noise, live, n_blocks)
    out.resolution = resolution.coordinate_resolution(a, out.estimate, out.error, great, outright)
    sat = (_flat_blocks(costs, f0, out.estimate, a, live, block_ids, n_blocks, unmoved)
           & ((out.status == AGREE) | (out.status == ZERO)))
    if zero is not None:
        sat &= ~zero  # shown invariant: zero, not saturated
    out.status[sat], out.why[sat] = INCONCLUSIVE, FLAT
    return out


def gradient_scale(a, g, live, noise):
    """The gradient's scale S: the largest |analytic| or the largest |numerical| beyond its own
    round-off (a quotient made of round-off alone says nothing about the gradient's size)."""
    every = live.all()  # then the arrays as they are, not copies of them
    if not every and not live.any():
        return 0.0
    beyond = np.abs(g if every else g[live]) - (noise if every else noise[live])
    top = max(_absmax(a if every else a[live]), float(np.max(beyond, initial=0.0, where=np.isfinite(beyond))))
    return max(top, 0.0)


def _absmax(x) -> float:
    """max |x| of a non-empty array, without an array of |x| (NaN if any x is)."""
    hi = float(np.max(x))
    return hi if np.isnan(hi) else max(hi, -float(np.min(x)))


def _settle_without_refinement(out, a, pending, scale_all):
    """Without refinement: wrong beyond the margin, otherwise inconclusive."""
    idx = np.flatnonzero(pending)
    beyond = np.abs(a[idx] - out.estimate[idx]) > config.MARGIN * out.error[idx]
    out.status[idx] = np.where(beyond, WRONG, INCONCLUSIVE)
    out.why[idx[~beyond]] = ROUNDOFF


def _one_sided(costs, scheme, steps, f0):
    """Left and right slopes from a stencil that has offsets −1 and +1 (else NaN)."""
    offs = list(scheme.offsets)
    n = len(steps)
    left = np.full(n, np.nan)
    right = np.full(n, np.nan)
    moved = [c for c in offs if c != 0]
    if -1.0 in moved:
        left = (f0 - costs[:, moved.index(-1.0)]) / steps
    if 1.0 in moved:
        right = (costs[:, moved.index(1.0)] - f0) / steps
    return left, right


def stencil_sums(ev, theta, coords, scheme, steps, f0) -> StencilSums:
    """Σ w_k·J(θ + o_k·h·e_i) and Σ |w_k·J_k| per coordinate, the stencil's costs and their finiteness.

    Returns :class:`StencilSums` ``(acc, mag, finite, costs, n_evals)``.  The weights are summed
    in the scheme's fixed order, so every path rounds the combination alike.
    """
    offsets = np.asarray(scheme.offsets)
    moved = offsets != 0
    costs = np.empty((len(coords), len(offsets)))
    costs[:, ~moved] = f0
    costs[:, moved] = ev.stencil(theta, coords, steps, offsets[moved])
    finite = rows_finite(costs)
    acc = np.zeros(len(coords))
    mag = np.zeros(len(coords))
    term = np.empty(len(coords))  # w·J_k, one scratch for every column
    for k, w in enumerate(scheme.weights):
        np.multiply(costs[:, k], w, out=term)
        acc += term
        mag += np.abs(term, out=term)
    return StencilSums(acc, mag, finite, costs, int(moved.sum()) * len(coords))


def ladder_base(theta, coords, mach):
    """Base step of a ladder: the central scheme's optimal step for this precision."""
    return ladder.base_steps(theta, coords, mach)


def read_ladder(a, lad, first_rung, great, scale_all, near_corner_sides=False) -> LadderReading:
    """Judge laddered entries (coordinates or directions) against their analytic values ``a``.

    The error bars get a relative floor, ``great``·max(|g|, |ĝ|).  With
    ``near_corner_sides`` a corner within the step also accepts an analytic
    value between its one-sided slopes (θ's own side is one of them), as a
    corner at θ does: for a ladder too short to reach below the corner.  Returns
    :class:`LadderReading` ``(estimate, error, status, why, left, right)``; ``left``/``right``
    are the one-sided slopes of entries at a kink (NaN elsewhere).
    """
    kink, at_theta, kl, kr = kinks.find(lad, first_rung)
    g = lad.estimate
    e = np.maximum(lad.error, great * np.maximum(np.abs(g), np.abs(a)))
    n = len(a)
    status = np.full(n, AGREE, dtype=np.int8)
    why = np.zeros(n, dtype=np.int8)
    left, right = np.full(n, np.nan), np.full(n, np.nan)
    for r in range(n):
        if not lad.finite[r]:
            status[r], why[r] = INCONCLUSIVE, NONFINITE_COST
            continue
        dev = abs(a[r] - g[r])
        lo, hi = min(kl[r], kr[r]), max(kl[r], kr[r])
        tol = config.MARGIN * e[r] + 0.05 * (hi - lo)
        inside = lo - tol <= a[r] <= hi + tol
        if kink[r] and at_theta[r]:
            # a corner at θ: backprop may take either side's slope (or one between)
            left[r], right[r] = kl[r], kr[r]
            status[r] = KINK if (inside or dev <= config.MARGIN * e[r]) else WRONG
        elif kink[r]:
            # a corner within the step: below it the cost is smooth and the small steps decide
            left[r], right[r] = kl[r], kr[r]
            status[r] = KINK if (dev <= config.MARGIN * e[r] or (near_corner_sides and inside)) else WRONG
        elif dev > config.MARGIN * e[r]:
            status[r] = WRONG
        elif e[r] <= config.RESOLVE * scale_all:
            status[r] = AGREE
        else:
            status[r], why[r] = INCONCLUSIVE, (ROUNDOFF if lad.roundoff[r, -1] >= e[r] / 4 else CONVERGE)
    return LadderReading(g, e, status, why, left, right)


def ladder_directions(ev, theta, lo, start, dirvals, steps, f0, grad, ana, finite, status, why, error, est, mach,
                      scale_all, great):
    """Pass 3 for a directional check: the directions still wrong or undecided after the second
    step get a ladder of steps along u (:func:`fastcheck.verdicts.ladder.evaluate_directions`):
    Richardson's estimate, its error bar, and the kink test on the one-sided slopes along u.

    ``grad`` is the analytic gradient (θ-long), ``ana`` the analytic u·g of every direction;
    ``status``, ``why``, ``error`` and ``est`` are updated in place (a direction whose ladder
    had no finite costs keeps the two-step reading).  Returns ``(n_evals, left, right)``, the
    one-sided slopes of the directions at a kink (NaN elsewhere).
    """
    n = len(lo)
    left, right = np.full(n, np.nan), np.full(n, np.nan)
    idx = np.flatnonzero(np.isin(status, (WRONG, INCONCLUSIVE)) & finite)
    if not len(idx):
        return 0, left, right
    sub = np.concatenate([dirvals[start[d] : start[d + 1]] for d in idx])
    sub_start = np.concatenate([[0], np.cumsum(np.diff(start)[idx])]).astype(np.int64)
    lad, n_ev = ladder.evaluate_directions(ev, theta, lo[idx], sub_start, sub, steps[idx], f0, mach, grad)
    first_rung = ladder.DIRECTION_RUNGS.index(1)  # steps up to 2h tell a kink
    g, e, st, wy, left[idx], right[idx] = read_ladder(ana[idx], lad, first_rung, great, scale_all)
    keep = wy != NONFINITE_COST
    sel = idx[keep]
    est[sel], error[sel], status[sel], why[sel] = g[keep], e[keep], st[keep], wy[keep]
    return n_ev, left, right


def direction_kinks(names, dblock, status, ana, est, left, right):
    """``result.kinks`` of a directional check: one row per direction at a kink, indexed ``u<d>``."""
    import pandas as pd


    d = np.flatnonzero(status == KINK)
    return pd.DataFrame({"block": [names[b] for b in dblock[d]], "index": [f"u{k}" for k in d], "coord": d,
                         "analytic": ana[d], "numerical": est[d], "left": left[d], "right": right[d]},
                        columns=KINK_COLUMNS)
