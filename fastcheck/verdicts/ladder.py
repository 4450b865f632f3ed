"""Richardson extrapolation over a geometric ladder of steps, with an error bar.

One stencil serves every coordinate: the offsets ``±r^k`` (``r = 2`` when a
suspicious coordinate is refined, ``r = 4`` for ``eps="adaptive"``;
``k = top, top−1, …, top−K+1``) times a base step ``h_i``, so the perturbed
costs come from the same parallel kernel as any scheme's.  From them, per
coordinate and rung ``t_k = r^k·h``:

* the central quotient ``D_k = (J(θ+t_k) − J(θ−t_k)) / (2 t_k)``, whose
  error is ``c₂t² + c₄t⁴ + …`` plus round-off;
* Richardson levels ``R⁰ = D``, ``Rˡ_k = (r^{2l}·R^{l−1}_{k+1} − R^{l−1}_k) / (r^{2l} − 1)``,
  each removing the next even power of t;
* for every entry an error estimate: its distance to the next (smaller-step)
  entry of the same level (the truncation it still carries, floored by the
  previous distance scaled by the expected convergence ``r^{−2(l+1)}`` so a
  chance crossing cannot fake a tiny error), plus the round-off of its
  costs carried through the extrapolation weights: the larger of the bound
  2·ε·(|J₊| + |J₋|)/(2t) and the noise the smallest rungs show;
* the estimate is the entry with the smallest estimated error among those
  whose error is below half their value (if any), and that error is its
  error bar.

The one-sided slopes ``(J(θ+t_k) − J(θ)) / t_k`` and ``(J(θ) − J(θ−t_k)) / t_k``
come out of the same costs; :mod:`fastcheck.verdicts.kinks` reads them.

The steps are the *effective* ones, ``fl(θ_i + c·h) − θ_i`` in θ's dtype,
exactly what the kernels apply, so rounding of the step never leaks into a
quotient.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fastcheck.kernels import richardson

#: Ratio of consecutive rungs.
RATIO = 2.0
#: Rung exponents for refining a suspicious coordinate around the base step h:
#: t = 2^k·h for k = 6 … −12 (64h down to h/4096), wide because the cost's own
#: length scale is unknown (a step of max(1, |θ_i|)·ε^(1/3) can be far too
#: large for a cost that varies on the scale of a tiny θ_i, or too small for
#: one whose round-off is large).
REFINE_RUNGS = tuple(range(6, -13, -1))
#: ``eps="adaptive"``: rungs t = 4^k·h for k = 8 … −2 around the central step
#: h = ε^(1/3)·max(1, |θ_i|), i.e. 65536h (0.4·max(1, |θ_i|)) down to h/16,
#: 22 evaluations per coordinate: wide enough that a nearly polynomial cost is
#: extrapolated from steps whose round-off is tiny, and a cost with a short
#: length scale still has small steps.
ADAPTIVE_RATIO = 4.0
ADAPTIVE_RUNGS = tuple(range(8, -3, -1))
#: ``eps="adaptive"`` evaluates that ladder in rounds, largest steps first: the
#: number of rungs each round adds below the previous ones (8, 7, 6 | 5, 4 | 3, 2 | 1, 0
#: | −1, −2: 6, 10, 14, 18 and 22 evaluations per coordinate).  A coordinate leaves after
#: a round once its error bar is at most :data:`ADAPTIVE_RTOL` of its scale,
#: max(|g_i|, max_j |g_j|), or once no smaller rung can shrink it (see :func:`adaptive`);
#: only the others get the next round's evaluations.  Most smooth coordinates settle on
#: the first six evaluations, most of the others (a cost with a length scale near 1) two
#: rounds later; the error bars are the full ladder's where they do not.  Rounds of two
#: rungs after the first: on tests/smooth.py (254 cases, n ≤ 100) 8.3 evaluations per
#: coordinate against 9.0 for the rounds (3, 2, 6), with the same median and p90 error
#: (8.15 with the noise plateau of :func:`adaptive` as well).
ADAPTIVE_ROUNDS = (3, 2, 2, 2, 2)
#: The settled error bar, relative to the gradient's scale, as a power of the cost's
#: machine epsilon: ε^(3/4) (1.8e-12 in float64).
ADAPTIVE_RTOL = 0.75
#: A suspicious direction of a directional check: the coordinates' rungs.  A direction's point
#: θ + t·u is rounded in every component it touches; the part of that rounding along u is
#: taken into the effective step, the rest (across u) into the round-off of the costs.
DIRECTION_RUNGS = REFINE_RUNGS
#: Richardson levels beyond the plain quotient.
LEVELS = 3
#: Round-off of one cost value, in units of the cost's machine epsilon times |J|.
COST_ROUNDING = 2.0


class LadderReading(NamedTuple):
    """The judgement a ladder gives its entries, one per row (``errorbars.read_ladder``, ``converge.read_full``)."""

    estimate: np.ndarray  # Richardson's best estimate
    error: np.ndarray  # its error bar, with the relative floor
    status: np.ndarray  # int8 status codes (AGREE … NONFINITE)
    why: np.ndarray  # int8 WHY code of an inconclusive entry, 0 otherwise
    left: np.ndarray  # one-sided slopes of entries at a kink (NaN elsewhere)
    right: np.ndarray


def base_steps(theta, coords, mach) -> np.ndarray:
    """Base step of a ladder: the central scheme's optimal step ε^(1/3)·max(1, |θ_i|) for this precision."""
    x = np.abs(theta[coords].astype(np.float64))
    return mach ** (1.0 / 3.0) * np.maximum(1.0, x)


#: The longest step of a refinement ladder of a float16 or bfloat16 θ, relative to max(1, |θ_i|): a
#: difference over more than half of θ_i's own scale says nothing about the derivative at θ_i (float16's 64h
#: would be 6·max(1, |θ_i|), where three quotients of a sine can agree on a slope near 0).  float32's and
#: float64's ladders stay below it (64h = 0.31 and 4e-4 of max(1, |θ_i|)) and are left as they are.
LONGEST = 0.5


def refine_base_steps(theta, coords, mach) -> np.ndarray:
    """Base step of a refinement ladder: :func:`base_steps`, lowered for a float16 or bfloat16 θ where its
    longest rung (``2^6`` of it) would exceed :data:`LONGEST` of max(1, |θ_i|)."""
    base = base_steps(theta, coords, mach)
    if np.dtype(theta.dtype).itemsize >= 4:
        return base
    x = np.abs(theta[coords].astype(np.float64))
    return np.minimum(base, LONGEST / RATIO ** REFINE_RUNGS[0] * np.maximum(1.0, x))


def offsets_for(rungs, ratio=RATIO) -> np.ndarray:
    """Stencil offsets ``[−r^k, +r^k]`` for each rung, largest rung first."""
    return _offsets(tuple(rungs), float(ratio)).copy()


@functools.lru_cache(maxsize=16)
def _offsets(rungs, ratio):
    out = []
    for k in rungs:
        out += [-(ratio**k), ratio**k]
    return np.asarray(out, np.float64)


def effective_offsets(theta, coords, base, offsets) -> np.ndarray:
    """``fl(θ_i + c·h_i) − θ_i`` for every coordinate and offset, as the kernels apply it."""
    x = theta[coords]
    moved = (x[:, None].astype(np.float64) + offsets[None, :] * base[:, None]).astype(theta.dtype)
    return moved.astype(np.float64) - x[:, None].astype(np.float64)


@dataclass(frozen=True)
class Ladder:
    """Per-coordinate result of a ladder: the estimate, its error bar and the raw quotients.

    Attributes
    ----------
    estimate, error : ndarray (n,)
        Best Richardson entry and its estimated error (NaN when no rung was finite).
    central : ndarray (n, K)
        Central quotients per rung, largest step first.
    right, left : ndarray (n, K)
        One-sided slopes per rung.
    roundoff : ndarray (n, K)
        Round-off bound of each central quotient.
    steps : ndarray (n, K)
        The rung steps (mean of the two effective displacements).
    finite : ndarray (n,) bool
        At least two consecutive rungs had finite costs.
    rounding : ndarray (n,)
        The round-off part of ``error`` (the rest is truncation left).
    """

    estimate: np.ndarray
    error: np.ndarray
    central: np.ndarray
    right: np.ndarray
    left: np.ndarray
    roundoff: np.ndarray
    steps: np.ndarray
    finite: np.ndarray
    rounding: np.ndarray = None


def evaluate(ev, theta, coords, base, f0, mach, rungs=REFINE_RUNGS, ratio=RATIO) -> tuple[Ladder, int]:
    """Run the ladder for ``coords`` with base steps ``base`` on evaluator ``ev``.

    ``mach`` is the relative round-off of one cost value (the machine epsilon
    of the precision the cost computes in).  Returns the :class:`Ladder` and
    the number of cost evaluations spent.
    """
    offsets = offsets_for(rungs, ratio)
    costs = ev.stencil(theta, coords, base, offsets)
    disp = effective_offsets(theta, coords, base, offsets)
    return extrapolate(costs, disp, f0, mach, ratio), costs.size


def evaluate_directions(ev, theta, lo, start, dirvals, base, f0, mach, grad, rungs=DIRECTION_RUNGS,
                        ratio=RATIO) -> tuple[Ladder, int]:
    """The ladder along directions ``u_d`` (ragged storage, as ``ev.directions`` takes them).

    The rung steps are the effective ones along u, ``δ·u`` with
    ``δ = fl(θ + c·h·u) − θ`` (θ's dtype, as the kernels round the moved
    point), so the quotients and the one-sided slopes are directional
    derivatives along the unit ``u``.  The rest of δ, across u, moves the
    cost by about ``Σ|g_i·δ⊥_i|`` (``grad``: the analytic gradient, the
    best guess of g there is); that is added to the costs' round-off.
    """
    offsets = offsets_for(rungs, ratio)
    costs = ev.directions(theta, lo, start, dirvals, base, offsets)
    disp = np.empty_like(costs)
    across = np.zeros(len(lo))
    for d in range(len(lo)):
        u = dirvals[start[d] : start[d + 1]]
        x = theta[lo[d] : lo[d] + len(u)].astype(np.float64)
        delta = (x[None, :] + (offsets[:, None] * base[d]) * u[None, :]).astype(theta.dtype).astype(np.float64) - x
        disp[d] = delta @ u
        perp = delta - disp[d][:, None] * u[None, :]
        across[d] = np.max(np.abs(perp) @ np.abs(np.asarray(grad[lo[d] : lo[d] + len(u)], np.float64)))
    return extrapolate(costs, disp, f0, mach, ratio, cost_noise=across), costs.size


def adaptive(ev, theta, coords, base, f0, mach, rungs=ADAPTIVE_RUNGS, ratio=ADAPTIVE_RATIO,
             rounds=ADAPTIVE_ROUNDS) -> tuple[Ladder, int]:
    """The ``eps="adaptive"`` ladder, evaluated in rounds that stop per coordinate.

    Round r evaluates the next ``rounds[r]`` rungs (largest steps first) for
    the coordinates still pending, and extrapolates each of them over all the
    rungs it has so far (on a ladder cut short of its smallest rungs, the noise
    estimate from them tells truncation from noise).  A coordinate is done when

    * *settled*: its error bar is within ``mach^ADAPTIVE_RTOL`` of its scale
      max(|g_i|, max_j |g_j|) (the max over the estimates whose bar is below half
      their value), and its central quotients converge as a smooth cost's do (the
      last difference is at most the one before over ``ratio``, up to round-off);
    * or *cannot improve*: its error bar is at most the round-off bound of the
      next smaller rung, 2·ε·(|J₊| + |J₋|)/(2t) times ``ratio``.  Every Richardson
      entry that uses a smaller rung carries at least that round-off, so the
      rungs left cannot give a smaller error bar: the cost's round-off of a large
      |J| limits the coordinate, not the steps.  Where the smallest rungs show the
      cost's noise twice (:func:`_noise_plateau`: a cost that cancels inside rounds
      far worse than ε·|J|), that noise over the next smaller step bounds it too;

    the rest go on.  Every reading is checked against the smallest rung it has
    (:func:`_local`).  A coordinate that runs every round gets :func:`evaluate`'s
    result, checked the same way.  Columns of rungs a coordinate never reached
    are NaN in the returned :class:`Ladder`.  Returns the ladder and the
    evaluations spent.
    """
    if sum(rounds) != len(rungs):
        raise ValueError(f"rounds {rounds} must add up to the {len(rungs)} rungs")
    coords = np.asarray(coords)
    offsets = offsets_for(rungs, ratio)
    n, K = len(coords), len(rungs)
    costs = np.full((n, 2 * K), np.nan)
    disp = effective_offsets(theta, coords, base, offsets)
    est, err, rounding = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    finite = np.zeros(n, bool)
    mats = {name: np.full((n, K), np.nan) for name in ("central", "right", "left", "roundoff", "steps")}
    rtol = float(mach) ** ADAPTIVE_RTOL
    pending, have, n_evals = np.arange(n), 0, 0
    for add in rounds:
        new = slice(2 * have, 2 * (have + add))
        costs[pending, new] = ev.stencil(theta, coords[pending], base[pending], offsets[new])
        n_evals += len(pending) * 2 * add
        have += add
        lad = _local(extrapolate(costs[pending, : 2 * have], disp[pending, : 2 * have], f0, mach, ratio,
                                 tail_noise=have == K),
                     costs[pending, : 2 * have], disp[pending, : 2 * have], f0, mach, ratio, have == K)
        est[pending], err[pending], rounding[pending], finite[pending] = (
            lad.estimate, lad.error, lad.rounding, lad.finite)
        for name, mat in mats.items():
            mat[pending, :have] = getattr(lad, name)
        if have == K:
            break
        with np.errstate(invalid="ignore"):
            sure = np.isfinite(est) & (err <= 0.5 * np.abs(est))
            scale = np.abs(est[sure]).max() if sure.any() else 0.0
            d, r = lad.central, lad.roundoff[:, -1]
            smooth_tail = np.abs(d[:, -2] - d[:, -1]) <= np.abs(d[:, -3] - d[:, -2]) / ratio + 4.0 * r
            settled = smooth_tail & (lad.error <= rtol * np.maximum(np.abs(lad.estimate), scale))
            # the round-off bound of the next smaller rung: every entry that uses it carries at least that much
            c = costs[pending, 2 * have - 2 : 2 * have]
            span = lad.steps[:, -1] * 2.0
            next_bound = ratio * COST_ROUNDING * float(mach) * (np.abs(c[:, 0]) + np.abs(c[:, 1])) / span
            plateau = _noise_plateau(lad.central, lad.steps, ratio, np.sqrt(float(mach)) * np.abs(c[:, 1]))
            next_bound = np.maximum(next_bound, ratio * 2.0 * plateau / span)
            done = lad.finite & (settled | (lad.error <= next_bound))
        pending = pending[~done]
        if not len(pending):
            break
    return Ladder(est, err, mats["central"], mats["right"], mats["left"], mats["roundoff"], mats["steps"], finite,
                  rounding), n_evals


def _noise_plateau(central, steps, ratio, most) -> np.ndarray:
    """The cost's absolute noise where the smallest rungs show it twice, else 0.

    ``t·|R²_k − R²_{k+1}|`` (twice-extrapolated quotients, t the smaller rung) carries a truncation
    that falls by ``ratio``⁷ from one rung to the next, and the cost's noise, which does not fall.
    The two readings ending at the last two rungs that fall by less than ``ratio`` are a plateau: the
    noise, at least the smaller of them, if both are at most ``most`` (√ε·|J| from :func:`adaptive`: an
    oscillation far shorter than the steps also repeats its averaged slope, and reads far above any
    rounding of J).  Needs five rungs; NaN readings count as none.
    """
    n, K = central.shape
    if K < 5:
        return np.zeros(n)
    w, w2 = ratio**2, ratio**4
    with np.errstate(invalid="ignore"):
        r1 = (w * central[:, K - 4:] - central[:, K - 5:-1]) / (w - 1)
        r2 = (w2 * r1[:, 1:] - r1[:, :-1]) / (w2 - 1)
        reads = np.abs(r2[:, 1:] - r2[:, :-1]) * steps[:, K - 2:]
        prev, last = reads[:, 0], reads[:, 1]
        flat = (last > 0) & (last >= prev / ratio) & (np.maximum(prev, last) <= most)
    return np.where(flat & np.isfinite(prev) & np.isfinite(last), np.minimum(prev, last), 0.0)


def _local(lad, costs, disp, f0, mach, ratio, tail_noise) -> Ladder:
    """``lad`` with every estimate checked against the most local reading the ladder has.

    A derivative is a property of the cost near θ.  The most local reading is the central quotient
    D_k of the smallest rung that knows its value: its own error (its distance to the next larger
    rung's quotient, plus its round-off) at most half of |D_k| (the finest rungs of a cost that rounds
    coarsely read nothing).  An estimate that disagrees with that D_k by more than twice its error came
    from larger steps that see another, smoother cost (a short oscillation averages out over them).
    Such a row is extrapolated again over the ladder without its largest rungs, one at a time, and
    takes the first reading that agrees with D_k; if none does, its error bar is widened to cover the
    disagreement.
    """
    d = lad.central
    K = d.shape[1]
    if K < 3:
        return lad
    with np.errstate(invalid="ignore"):
        own = np.abs(d[:, 1:] - d[:, :-1]) + lad.roundoff[:, 1:]  # error of D_1 … D_{K-1}
        knows = own <= 0.5 * np.abs(d[:, 1:])
    rows = np.arange(len(d))
    last = K - 2 - np.argmax(knows[:, ::-1], axis=1)  # index into own/knows of the smallest rung that knows
    has = knows[rows, last]
    ref, tol = d[rows, last + 1], 2.0 * own[rows, last]

    def agrees(estimate, at):
        with np.errstate(invalid="ignore"):
            return ~has[at] | ~(np.abs(estimate - ref[at]) > tol[at])  # NaN: nothing to compare, left as it is

    bad = np.flatnonzero(~agrees(lad.estimate, rows))
    if not len(bad):
        return lad
    est, err, rnd = lad.estimate.copy(), lad.error.copy(), lad.rounding.copy()
    todo = bad
    for k0 in range(1, K - 2):
        sub = extrapolate(costs[todo, 2 * k0 :], disp[todo, 2 * k0 :], f0, mach, ratio, tail_noise=tail_noise)
        ok = agrees(sub.estimate, todo) & np.isfinite(sub.error)
        est[todo[ok]], err[todo[ok]], rnd[todo[ok]] = sub.estimate[ok], sub.error[ok], sub.rounding[ok]
        todo = todo[~ok]
        if not len(todo):
            break
    err[todo] = np.maximum(err[todo], np.abs(est[todo] - ref[todo]) + tol[todo])
    return Ladder(est, err, lad.central, lad.right, lad.left, lad.roundoff, lad.steps, lad.finite & np.isfinite(err),
                  rnd)


def extrapolate(costs, disp, f0, mach, ratio=RATIO, cost_noise=None, tail_noise=True) -> Ladder:
    """Richardson table of a ladder's costs (columns ``[−t_0, +t_0, −t_1, +t_1, …]``).

    ``cost_noise``: per row, an absolute error of each cost beyond its rounding (added to the
    round-off).  ``tail_noise=False`` for a ladder cut short of its smallest rungs, where truncation is
    not nil: the noise estimate from its smallest rungs then tells truncation from noise by how it falls
    from rung to rung.  The table is built row by row by :func:`fastcheck.kernels.richardson.table`.
    """
    costs = np.ascontiguousarray(costs, np.float64)
    disp = np.ascontiguousarray(disp, np.float64)
    n, K = costs.shape[0], costs.shape[1] // 2
    noise = np.zeros(n) if cost_noise is None else np.ascontiguousarray(cost_noise, np.float64)
    best, best_err, best_rnd = np.empty(n), np.empty(n), np.empty(n)
    central, right, left, rnd, steps = (np.empty((n, K)) for _ in range(5))
    richardson.table_runner(n, K, LEVELS)(costs, disp, float(f0), float(mach), float(ratio), noise, LEVELS, COST_ROUNDING, bool(tail_noise),
                     best, best_err, best_rnd, central, right, left, rnd, steps)
    return Ladder(best, best_err, central, right, left, rnd, steps, np.isfinite(best_err), best_rnd)
