"""Converged evidence: what a ladder of steps may conclude, and the refinement rounds that build it.

A difference quotient is evidence about the derivative only once it has
*converged*: the estimate no longer changes as the step shrinks, beyond the
round-off the costs can make.  Two ways a ladder fools a plain "smallest
error estimate" rule, both seen on code nobody here wrote:

* steps larger than a corner's distance, or than an oscillation's period,
  agree with one another on an *averaged* slope (``max(t, 0)`` at 1e-8 from
  its corner reads 2.5 at every step above 1e-8, and exactly 2 below);
* a chance crossing of two quotients fakes a tiny difference.

So :func:`read` accepts an entry of the Richardson table (level l, from
rungs k … k+l+1) only when

1. it has converged: the differences between neighbouring entries of its
   level shrink as the step halves (to at most half the previous one; a
   smooth cost gives ``2^−2(l+1)``), or are within the round-off of the two
   entries over at least three successive rungs; its bar is that difference
   (floored by the previous one times the expected convergence, so a chance
   crossing cannot fake a tiny bar) plus its round-off;
2. no quotient at a *smaller* step contradicts it: every plain quotient
   ``D_j`` below its rungs that agrees with a neighbour of its own lies within
   ``MARGIN`` bars of it (plus its own round-off and that neighbour
   difference).  Agreement among large steps that the small steps refute is
   a length scale (a corner, an oscillation), not evidence.

The estimate is the accepted entry with the smallest bar.  When no entry is
accepted the coordinate has not converged: it may be neither wrong nor
agree (:func:`decide` makes it inconclusive), whatever its discrepancy.

The rounds (:func:`refine`): a coordinate that does not agree at the check's
own step gets, first, three successive steps at the small end of the
reliable range (the smallest steps whose round-off is still a quarter of
the target bar, :mod:`fastcheck.verdicts.resolution`) and two sentinels 64×
smaller, 10 evaluations; most coordinates are decided there, a wrong one
off by far more than its bar among them.  The rest get the full ladder
64h … h/4096 (:data:`fastcheck.verdicts.ladder.REFINE_RUNGS`, the rungs
already evaluated reused) with the kink test, and what is still undecided
the complex step (:mod:`fastcheck.verdicts.complexstep`).  Blocks are
refined side by side in batches that grow (4, 8, 16, 32, … worst first), so
isolated outliers and small blocks are decided before the mass of a block
already proven wrong; once a block has a coordinate wrong on converged
evidence the rest of it is left unrefined (inconclusive, "not refined").
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.verdicts import codes as eb
from fastcheck.verdicts import complexstep, kinks, ladder

__all__ = ["Reading", "decide", "read", "refine"]

#: A converged level's neighbouring differences shrink to at most this fraction as the step halves.
DECAY = 0.5
#: Quotients that grow by at least this factor per halving of the step, with one sign, scale like 1/t.
GROWTH = 1.5
#: Accepted entries with a bar within this factor of the best one must agree: half their spread is a bar too.
SPREAD_BARS = 4.0
#: Refinement batches per block: 4, 8, 16, … doubling each round up to ``config.REFINE_BATCH_MAX``.
FIRST_BATCH = 4
#: The first round: three successive rungs, and two sentinels this many rungs (a factor 2 each) below.
SENTINEL_GAP = 6


class Reading(NamedTuple):
    """What a ladder says about each row."""

    estimate: np.ndarray  #: the accepted entry (or, when none is, the entry with the smallest bar)
    error: np.ndarray  #: its bar: truncation left plus round-off
    rounding: np.ndarray  #: the round-off part of the bar
    converged: np.ndarray  #: an entry was accepted
    changed: np.ndarray  #: a converged entry was refuted by smaller steps (a length scale)
    small_estimate: np.ndarray = None  #: the accepted entry at the smallest steps of the reliable range
    small_error: np.ndarray = None  #: its bar


def _witness_uncertainty(D, rnd):
    """Per quotient: its round-off (times the margin) plus its difference to the nearer neighbour."""
    n, K = D.shape
    if K < 2:
        return np.full((n, K), np.inf)
    with np.errstate(invalid="ignore"):
        d = np.abs(np.diff(D, axis=1))
    left = np.concatenate([np.full((n, 1), np.inf), d], axis=1)
    right = np.concatenate([d, np.full((n, 1), np.inf)], axis=1)
    near = np.fmin(left, right)
    return np.where(np.isfinite(D), config.MARGIN * rnd + near, np.inf)


def read(central, rnd, ratio=ladder.RATIO, levels=ladder.LEVELS, below=None, below_rnd=None, accuracy=None,
         reliable=None, power=2) -> Reading:
    """Read a ladder's central quotients ``central`` (n, K: steps shrinking by ``ratio``, largest
    first) with their round-off ``rnd``; ``below``/``below_rnd`` (n, J): plain quotients at steps
    smaller than all of them, witnesses only (see the module docstring).  ``accuracy`` (n, K): the
    error of each quotient that the accuracy of the cost's values allows (an ill-conditioned cost:
    systematic, so the convergence tests do not read it, but every accepted bar includes it).
    ``reliable`` (n,): the widest bar of the reliable range (the target bar); the reading also
    returns the accepted entry at the smallest steps with a bar within it (else at the smallest
    steps of all), which a wrong verdict must agree with.  ``power``: the quotients' truncation
    goes in powers t^power, t^2·power, … (2 for central quotients, 1 for one-sided ones)."""
    M = config.MARGIN
    central = np.asarray(central, np.float64)
    rnd = np.asarray(rnd, np.float64)
    n, K = central.shape
    wit = _witness_uncertainty(central, rnd)
    witD = central
    if below is not None and below.shape[1]:
        witD = np.concatenate([central, below], axis=1)
        wit = np.concatenate([wit, _witness_uncertainty(below, below_rnd)], axis=1)
    best = np.full(n, np.nan)
    bar = np.full(n, np.inf)
    brnd = np.full(n, np.nan)
    conv = np.zeros(n, bool)
    changed = np.zeros(n, bool)
    fb, fbar, frnd = np.full(n, np.nan), np.full(n, np.inf), np.full(n, np.nan)
    R, Rr = central.copy(), rnd.copy()
    Ra = np.zeros_like(rnd) if accuracy is None else np.asarray(accuracy, np.float64).copy()
    kept = []
    s_est, s_bar, s_depth = np.full(n, np.nan), np.full(n, np.inf), np.full(n, -1)
    r_est, r_bar, r_depth = np.full(n, np.nan), np.full(n, np.inf), np.full(n, -1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # quotients that grow like 1/t as the step shrinks (same sign, ≥ GROWTH× per halving): the cost
        # changed by a bounded amount, the steps are beyond its length scale; such rungs are no evidence
        grows = (np.sign(central[:, 1:]) == np.sign(central[:, :-1])) & (
            np.abs(central[:, 1:]) >= GROWTH * np.abs(central[:, :-1])) & (central[:, 1:] != 0)
        for lev in range(levels + 1):
            m = R.shape[1]
            if m < 2:
                break
            w = ratio ** (power * (lev + 1))
            delta = np.abs(R[:, 1:] - R[:, :-1])  # delta[:, k]: entries k and k+1
            quiet = delta <= M * (Rr[:, 1:] + Rr[:, :-1])
            for k in range(m - 1):
                est, r = R[:, k + 1], Rr[:, k + 1]
                if k:
                    prev = delta[:, k - 1]
                    trunc = np.fmax(delta[:, k], prev / w)
                    decays = delta[:, k] <= DECAY * prev
                    consistent = decays | (quiet[:, k] & (quiet[:, k - 1] | (lev >= 1)))
                else:
                    trunc = delta[:, k]
                    consistent = quiet[:, k] & (lev >= 1)  # l + 2 >= 3 rungs fit the t² model within noise
                # the entry's rungs k … k+1+lev: the quotients across them must not all grow like 1/t
                growing = np.all(grows[:, k : k + lev + 1], axis=1)
                consistent &= ~growing
                b = trunc + np.fmax(r, Ra[:, k + 1])
                finite = np.isfinite(est) & np.isfinite(b)
                first = k + 2 + lev  # the witnesses: plain quotients below every rung this entry used
                refuted = np.zeros(n, bool)
                if first < witD.shape[1]:
                    gap = np.abs(witD[:, first:] - est[:, None])
                    refuted = np.any(gap > M * b[:, None] + wit[:, first:], axis=1)
                ok = consistent & finite & ~refuted
                changed |= consistent & finite & refuted
                kept.append((np.where(ok, est, np.nan), np.where(ok, b, np.inf)))
                depth = k + 1 + lev  # the smallest rung this entry uses
                rel_ok = ok if reliable is None else ok & (b <= reliable)
                deeper = ok & (depth >= s_depth)
                s_est[deeper], s_bar[deeper], s_depth[deeper] = est[deeper], b[deeper], depth
                rdeeper = rel_ok & (depth >= r_depth)
                r_est[rdeeper], r_bar[rdeeper], r_depth[rdeeper] = est[rdeeper], b[rdeeper], depth
                take = ok & (b < bar)
                best[take], bar[take], brnd[take] = est[take], b[take], r[take]
                conv |= ok
                ftake = finite & (b < fbar)
                fb[ftake], fbar[ftake], frnd[ftake] = est[ftake], b[ftake], r[ftake]
            if lev == levels:
                break
            R = (w * R[:, 1:] - R[:, :-1]) / (w - 1)
            Rr = (w * Rr[:, 1:] + Rr[:, :-1]) / (w - 1)
            Ra = (w * Ra[:, 1:] + Ra[:, :-1]) / (w - 1)
    if kept:
        # accepted entries of nearly the best bar that disagree among themselves: the reading is that
        # uncertain (a transition between length scales can look converged at two places)
        ke = np.stack([k[0] for k in kept], axis=1)
        kb = np.stack([k[1] for k in kept], axis=1)
        near = kb <= SPREAD_BARS * bar[:, None]
        with np.errstate(invalid="ignore"):
            hi = np.nanmax(np.where(near, ke, np.nan), axis=1, initial=-np.inf)
            lo = np.nanmin(np.where(near, ke, np.nan), axis=1, initial=np.inf)
        spread = np.where(conv & np.isfinite(hi) & np.isfinite(lo), 0.5 * (hi - lo), 0.0)
        bar = np.where(conv, np.maximum(bar, spread), bar)
    est = np.where(conv, best, fb)
    err = np.where(conv, bar, fbar)
    rounding = np.where(conv, brnd, frnd)
    err = np.where(np.isfinite(err), err, np.nan)
    small = r_depth >= 0
    sm_est = np.where(small, r_est, s_est)
    sm_bar = np.where(small, r_bar, s_bar)
    return Reading(est, err, rounding, conv, changed & ~conv, sm_est, sm_bar)


def decide(a, reading: Reading, target, band):
    """Status and why-code per row from a reading: wrong beyond the tolerance on converged evidence,
    agree within it with a bar no wider than ``target``, else inconclusive (never wrong)."""
    est, err = reading.estimate, reading.error
    tol = np.maximum(config.MARGIN * err, band * np.maximum(np.abs(a), np.abs(est)))
    dev = np.abs(a - est)
    n = len(a)
    status = np.full(n, eb.INCONCLUSIVE, np.int8)
    why = np.full(n, eb.CONVERGE, np.int8)
    ok = reading.converged & np.isfinite(est) & np.isfinite(err)
    wrong = ok & (dev > tol)
    if reading.small_estimate is not None:
        # and the small end of the reliable range must say so too (not only a larger step's entry)
        se, sb = reading.small_estimate, reading.small_error
        stol = np.maximum(config.MARGIN * sb, band * np.maximum(np.abs(a), np.abs(se)))
        wrong &= ~(np.isfinite(se) & (np.abs(a - se) <= stol))
    agree = ok & ~wrong & (err <= target)
    status[wrong], why[wrong] = eb.WRONG, 0
    status[agree], why[agree] = eb.AGREE, 0
    wide = ok & ~wrong & ~agree
    roundoff = np.nan_to_num(reading.rounding) >= 0.5 * np.nan_to_num(err)
    why[wide] = np.where(roundoff[wide], eb.ROUNDOFF, eb.RESOLUTION)
    unconv = ~ok
    why[unconv & reading.changed] = eb.LENGTH
    why[unconv & ~reading.changed & roundoff] = eb.ROUNDOFF
    return status, why


# -- the rounds -------------------------------------------------------------------------------------
_RUNGS = ladder.REFINE_RUNGS
_COL = {k: i for i, k in enumerate(_RUNGS)}


def _columns(rungs):
    return np.array([c for k in rungs for c in (2 * _COL[k], 2 * _COL[k] + 1)], np.int64)


class _Costs:
    """The full ladder's costs of a batch, filled rung by rung as rounds need them (NaN until then)."""

    def __init__(self, ev, theta, coords, base, f0):
        self.ev, self.theta, self.coords, self.base, self.f0 = ev, theta, coords, base, f0
        self.offsets = ladder.offsets_for(_RUNGS)
        self.costs = np.full((len(coords), len(self.offsets)), np.nan)
        self.have = np.zeros((len(coords), len(self.offsets)), bool)
        self.disp = ladder.effective_offsets(theta, coords, base, self.offsets)
        self.n_evals = 0

    def need(self, rows, cols):
        """Evaluate columns ``cols`` for ``rows`` (those not evaluated yet), grouped by what is missing."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return
        missing = ~self.have[np.ix_(rows, cols)]
        keys = {}
        for r, miss in zip(rows, missing):
            if miss.any():
                keys.setdefault(miss.tobytes(), (miss, []))[1].append(r)
        for miss, group in keys.values():
            g = np.asarray(group, np.int64)
            c = cols[miss]
            vals = self.ev.stencil(self.theta, self.coords[g], self.base[g], self.offsets[c])
            self.costs[np.ix_(g, c)] = vals
            self.have[np.ix_(g, c)] = True
            self.n_evals += vals.size

    def ladder(self, rows, rungs, mach, conditioning=0.0) -> ladder.Ladder:
        """The ladder of ``rungs`` for ``rows``, its round-off that of :func:`robust_roundoff`
        (``conditioning``: the relative accuracy of the cost's values, when worse than ``mach``)."""
        cols = _columns(rungs)
        c, d = self.costs[np.ix_(rows, cols)], self.disp[np.ix_(rows, cols)]
        lad = ladder.extrapolate(c, d, self.f0, mach)
        return dataclasses.replace(lad, roundoff=robust_roundoff(lad, c, d, mach, conditioning))

    def accuracy(self, rows, rungs, conditioning):
        """The error each rung's quotient may carry from the accuracy of the cost's values (``conditioning``:
        their absolute error), or None."""
        if conditioning <= 0:
            return None
        cols = _columns(rungs)
        d = self.disp[np.ix_(rows, cols)]
        return 2.0 * ladder.COST_ROUNDING * conditioning / (d[:, 1::2] - d[:, 0::2])


#: Positions of the smallest rungs whose once-extrapolated quotients measure the cost's own noise.
NOISE_POSITIONS = 5
#: The noise the rungs show counts up to this many times the rounding of the cost's precision (the
#: precision probe has measured that precision: more than this is the cost's shape, not its noise).
NOISE_CAP = 16.0


def robust_roundoff(lad: ladder.Ladder, costs, disp, mach, conditioning=0.0) -> np.ndarray:
    """Round-off of each central quotient: the bound 2·ε·(|J₊| + |J₋|)/(2t) (ε: the precision the
    probe found the cost to compute in), or the noise the smallest rungs show if that is more, read
    as the median over the last :data:`NOISE_POSITIONS` positions of ``t·|R¹_j − R¹_{j+1}|``
    (R¹: once-extrapolated quotients), and at most :data:`NOISE_CAP` times the bound.  ``conditioning``: the relative accuracy of the cost's values
    when it is worse than its precision (an ill-conditioned float32 cost): the noise may reach it.

    Rounding noise in the costs is about the same absolute size at every small step, so each
    position reads it; a corner nearer θ than the steps makes the quotients vary like 1/t too, by
    its distance times its jump, which is no rounding: the cap keeps it out (the largest of two
    positions, uncapped, once read a corner 1e-8 from θ as round-off of 2e-7 on every quotient,
    which hid it).
    """
    span = disp[:, 1::2] - disp[:, 0::2]
    with np.errstate(divide="ignore", invalid="ignore"):  # a rung below a float16 θ's spacing moves nothing
        bound = ladder.COST_ROUNDING * mach * (np.abs(costs[:, 0::2]) + np.abs(costs[:, 1::2])) / span
    D = lad.central
    K = D.shape[1]
    if K < NOISE_POSITIONS + 3:
        return np.where(np.isfinite(D), bound, np.nan)
    w = ladder.RATIO**2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no finite position at all (NaN: read as 0 below)
        r1 = (w * D[:, 1:] - D[:, :-1]) / (w - 1)
        eta = np.abs(r1[:, 1:] - r1[:, :-1]) * 0.5 * span[:, 2:]
        noise = np.nanmedian(np.where(np.isfinite(eta[:, -NOISE_POSITIONS:]), eta[:, -NOISE_POSITIONS:], np.nan), axis=1)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    # at most NOISE_CAP times the rounding the precision allows: a corner closer to θ than every step
    # makes every position read its jump times its distance, which is no rounding at all
    cap = NOISE_CAP * ladder.COST_ROUNDING * np.maximum(mach * np.nanmax(np.abs(costs), axis=1, initial=0.0),
                                                        conditioning)
    noise = np.minimum(noise, cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(D), np.maximum(bound, 2.0 * noise[:, None] / span), np.nan)


def _low_rungs(noise_rel):
    """Per row the smallest rung whose round-off is at most a quarter of the target bar
    (``noise_rel``: the round-off at the base step over the target bar), between −2 and 4."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.ceil(np.log2(np.maximum(4.0 * noise_rel, 1e-300)))
    return np.clip(np.nan_to_num(k, nan=4.0, posinf=4.0), -2, 4).astype(np.int64)


def _first_round(costs, rows, low, mach, conditioning, reliable):
    """Three successive rungs ending at ``low`` and two sentinels below, read together."""
    out = {}
    for k in np.unique(low[rows]):
        grp = rows[low[rows] == k]
        main = (k + 2, k + 1, k)
        sent = tuple(s for s in (k - SENTINEL_GAP, k - SENTINEL_GAP - 1) if s >= _RUNGS[-1])
        costs.need(grp, _columns(main + sent))
        lad = costs.ladder(grp, main, mach, conditioning)
        below = costs.ladder(grp, sent, mach, conditioning) if sent else None
        rd = read(lad.central, lad.roundoff, below=None if below is None else below.central,
                  below_rnd=None if below is None else below.roundoff,
                  accuracy=costs.accuracy(grp, main, conditioning), reliable=reliable[grp])
        kink = _kink_like(lad)
        out[int(k)] = (grp, rd, kink)
    return out


#: The first round's kink screen: curvature estimates m(t)/t of the three rungs that differ by more
#: than this factor beyond round-off send the coordinate to the full ladder's kink test.
SCREEN = 1.5


def _kink_like(lad: ladder.Ladder) -> np.ndarray:
    """Rows whose one-sided slopes look like a kink (or a stationary point of the curvature) on a short
    ladder: the plain curvature estimates disagree.  Only a screen: the full ladder decides."""
    m = lad.right - lad.left
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(m) / lad.steps
        cu = kinks.NOISE_MARGIN * 4.0 * lad.roundoff / lad.steps
    ok = np.isfinite(c) & np.isfinite(cu)
    low = np.where(ok, c - cu, -np.inf)
    high = np.where(ok, c + cu, np.inf)
    return (np.max(low, axis=1) > SCREEN * np.min(high, axis=1)) & (np.max(low, axis=1) > 0)


def refine(out, ev, theta, coords, block_ids, pending, f0, a, mach, targets, band, scale_all):
    """The refinement rounds for the ``pending`` coordinates (see the module docstring); ``out`` is the
    :class:`fastcheck.verdicts.errorbars.Judgement`, updated in place.  ``targets``: the widest bar
    that may agree, per coordinate."""
    est, error, status, why = out.estimate, out.error, out.status, out.why
    pend = np.flatnonzero(pending)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(a[pend] - est[pend]) / np.where(error[pend] > 0, error[pend], np.inf)
    queues = _Queues(pend, -np.nan_to_num(ratio, nan=np.inf), block_ids[pend])
    closed = set()
    size = FIRST_BATCH
    first_rung = _RUNGS.index(1)  # steps up to 2h tell a kink
    while True:
        idx = queues.take(size, closed)
        if not len(idx):
            break
        size = min(2 * size, config.REFINE_BATCH_MAX)
        base = ladder.refine_base_steps(theta, coords[idx], mach)
        costs = _Costs(ev, theta, coords[idx], base, f0)
        out.refined += len(idx)
        # round 1: the small end of the reliable range
        bar0 = 4.0 * mach * 2.0 * abs(f0) / (2.0 * base)  # the round-off of a central quotient at the base step
        low = _low_rungs(bar0 / np.where(targets[idx] > 0, targets[idx], np.inf))
        rows_all = np.arange(len(idx))
        later = []
        for grp, rd, kink in _first_round(costs, rows_all, low, mach, out.conditioning, targets[idx]).values():
            rd = _floored(rd, None if out.floors is None else out.floors[idx[grp]])
            st, wy = decide(a[idx[grp]], rd, targets[idx[grp]], band)
            done = (st != eb.INCONCLUSIVE) & ~kink & np.isfinite(rd.estimate)
            j = idx[grp[done]]
            est[j], error[j], status[j], why[j] = rd.estimate[done], rd.error[done], st[done], wy[done]
            later += list(grp[~done])
        # round 2: the full ladder, kinks, then the complex step for what is still undecided
        rows = np.asarray(sorted(later), np.int64)
        if len(rows):
            costs.need(rows, _columns(_RUNGS))
            lad = costs.ladder(rows, _RUNGS, mach, out.conditioning)
            acc = costs.accuracy(rows, _RUNGS, out.conditioning)
            noisy = lad if acc is None else dataclasses.replace(lad, roundoff=np.fmax(lad.roundoff, acc))
            j = idx[rows]
            g, e, st, wy, kl, kr = read_full(a[j], lad, first_rung, band, targets[j],
                                             None if out.floors is None else out.floors[j], kink_ladder=noisy,
                                             accuracy=acc)
            fin = lad.finite
            est[j[fin]], error[j[fin]] = g[fin], e[fin]
            status[j], why[j] = st, wy
            out.kink_left[j], out.kink_right[j] = kl, kr
        out.n_evals += costs.n_evals
        undecided = idx[(status[idx] == eb.INCONCLUSIVE) & (why[idx] != eb.NONFINITE_COST)]
        doubted = idx[status[idx] == eb.WRONG]
        if len(undecided) or len(doubted):
            out.n_evals += complexstep.settle(out, ev, theta, coords, undecided, doubted, a, mach, targets, band,
                                              costs, idx, f0)
        closed.update(int(b) for b in np.unique(block_ids[idx[status[idx] == eb.WRONG]]))
    left = queues.rest(closed)
    if len(left):
        status[left], why[left] = eb.INCONCLUSIVE, eb.UNREFINED


class _Queues:
    """The pending coordinates of each block, the most discrepant (smallest key) first, ties in index
    order; the blocks in the order of their most discrepant coordinate.  A block's order is sorted only
    as far as its batches reach (a block closed after its first batch never sorts its 10⁵ others)."""

    def __init__(self, items, keys, blocks):
        by_block = np.argsort(blocks, kind="stable")  # each block's items, in index order
        sb = blocks[by_block]
        starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]]) if len(sb) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(sb)].astype(np.int64)
        self._items, self._keys, self._sorted, self._taken = {}, {}, {}, {}
        firsts = []
        for lo, hi in zip(starts, ends):
            b = int(sb[lo])
            members = by_block[lo:hi]
            self._items[b], self._keys[b] = items[members], keys[members]
            self._sorted[b], self._taken[b] = np.zeros(0, np.int64), 0
            # the block's most discrepant item (argmin: the first of equal keys), ordered by key, then index
            first = int(np.argmin(self._keys[b]))
            firsts.append((float(self._keys[b][first]), int(self._items[b][first]), b))
        self._order = [b for _, _, b in sorted(firsts)]

    def _head(self, b, n):
        """Positions (in block ``b``) of its ``n`` smallest keys, stable: ties in index order."""
        k = self._keys[b]
        if n >= len(k):
            return np.argsort(k, kind="stable")
        v = np.partition(k, n - 1)[n - 1]
        less, equal = np.flatnonzero(k < v), np.flatnonzero(k == v)
        sel = np.concatenate([less, equal[: n - len(less)]])
        return sel[np.argsort(k[sel], kind="stable")]

    def take(self, size, closed) -> np.ndarray:
        """The next ``size`` items of every block not in ``closed``, block after block."""
        out = []
        for b in self._order:
            t = self._taken[b]
            if b in closed or t >= len(self._items[b]):
                continue
            if len(self._sorted[b]) < t + size:
                self._sorted[b] = self._head(b, min(len(self._items[b]), max(2 * (t + size), 64)))
            out.append(self._items[b][self._sorted[b][t : t + size]])
            self._taken[b] = t + len(out[-1])
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def rest(self, blocks) -> np.ndarray:
        """Every item of ``blocks`` not taken yet."""
        out = []
        for b in blocks:
            if b not in self._items:
                continue
            left = np.ones(len(self._items[b]), bool)
            left[self._sorted[b][: self._taken[b]]] = False
            out.append(self._items[b][left])
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


#: A corner within the step: three successive rungs above it whose slope mismatch agrees within this factor.
CORNER_FACTOR = 1.5


def _corner_like(lad: ladder.Ladder, first_rung) -> np.ndarray:
    """Rows whose one-sided slopes show a corner *within* the step: at steps t beyond its distance d
    the mismatch m(t) = right − left tends to the jump of the slope (m = jump·(1 − d/t)), so three
    successive rungs have nearly the same |m|, clear of round-off.  A smooth cost with a short
    length scale (an oscillation, a steep normalisation) changes its estimate with the step too, but
    its mismatch there scales like 1/t or wanders: a length scale, not a kink."""
    signed = (lad.right - lad.left)[:, first_rung:]
    m = np.abs(signed)
    u = kinks.NOISE_MARGIN * 4.0 * lad.roundoff[:, first_rung:]
    clear = np.isfinite(m) & (m > u)
    out = np.zeros(len(m), bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(m.shape[1] - 2):
            w = m[:, k : k + 3]
            sg = np.sign(signed[:, k : k + 3])
            ok = (clear[:, k : k + 3].all(axis=1) & (w.max(axis=1) <= CORNER_FACTOR * w.min(axis=1))
                  & np.all(sg == sg[:, :1], axis=1))  # one jump, one sign
            # and the jump stays at every larger step (a bounded cost beyond its length scale has
            # a mismatch that falls like 1/t there instead)
            if k:
                ok &= np.all(m[:, :k] >= 0.5 * w.min(axis=1)[:, None], axis=1)
            out |= ok
    return out


class OneSided(NamedTuple):
    """Kinks at θ read by their one-sided derivatives (:func:`_one_sided`)."""

    matched: np.ndarray  #: the analytic value is one side's converged derivative, within the target bar
    estimate: np.ndarray  #: that side's derivative (NaN elsewhere)
    error: np.ndarray  #: its bar
    left: np.ndarray  #: the converged left and right derivatives within the target bar (NaN where not)
    right: np.ndarray
    bar: np.ndarray  #: the wider of the two sides' bars, where both converged (NaN elsewhere)


def _one_sided(a, lad: ladder.Ladder, rows, band, targets) -> OneSided:
    """Per ``rows`` (a kink at θ): each side's quotients (J(θ ± t) − J(θ))/(±t) read for convergence like
    the central ones, with truncation in powers of t and twice the central round-off; the analytic
    value matched when it is within the tolerance of :func:`decide` of one converged side whose bar is
    within the target."""
    n = len(a)
    out = OneSided(np.zeros(n, bool), *(np.full(n, np.nan) for _ in range(5)))
    idx = np.flatnonzero(rows & lad.finite)
    if not len(idx):
        return out
    rnd = 2.0 * lad.roundoff[idx]
    with np.errstate(all="ignore"):
        reads = [read(q[idx], rnd, power=1, reliable=targets[idx]) for q in (lad.left, lad.right)]
    best_dev = np.full(len(idx), np.inf)
    both = np.ones(len(idx), bool)
    for side, rd in zip((out.left, out.right), reads):
        ok = rd.converged & np.isfinite(rd.estimate) & np.isfinite(rd.error) & (rd.error <= targets[idx])
        side[idx[ok]] = rd.estimate[ok]
        both &= ok
        out.bar[idx[ok]] = np.fmax(out.bar[idx[ok]], rd.error[ok])
        tol = np.maximum(config.MARGIN * rd.error, band * np.maximum(np.abs(a[idx]), np.abs(rd.estimate)))
        dev = np.abs(a[idx] - rd.estimate)
        take = ok & (dev <= tol) & (dev < best_dev)
        best_dev[take] = dev[take]
        out.matched[idx[take]] = True
        out.estimate[idx[take]], out.error[idx[take]] = rd.estimate[take], rd.error[take]
    out.bar[idx[~both]] = np.nan
    return out


def _floored(rd: Reading, floors) -> Reading:
    """The reading with its bars floored by the cost's own accuracy (None: no floor)."""
    if floors is None:
        return rd
    return rd._replace(error=np.fmax(rd.error, floors))


def read_full(a, lad: ladder.Ladder, first_rung, band, targets, floors=None, kink_ladder=None, accuracy=None):
    """Judge full-ladder rows: the kink test on the one-sided slopes, then the converged reading.

    Returns :class:`~fastcheck.verdicts.ladder.LadderReading` ``(estimate, error, status, why, left, right)``;
    ``left``/``right`` are the one-sided slopes of rows at a kink (NaN elsewhere).  ``kink_ladder``: the same ladder with
    the round-off the kink test reads (by default ``lad``'s).
    """
    kl_lad = lad if kink_ladder is None else kink_ladder  # an ill-conditioned cost's kinks: read against its accuracy
    kink, at_theta, kl, kr = kinks.find(kl_lad, first_rung, hiding_roundoff=lad.roundoff)
    kink &= at_theta | _corner_like(kl_lad, first_rung)
    rd = _floored(read(lad.central, lad.roundoff, accuracy=accuracy, reliable=targets), floors)
    status, why = decide(a, rd, targets, band)
    g, e = rd.estimate, rd.error
    n = len(a)
    left, right = np.full(n, np.nan), np.full(n, np.nan)
    sides = _one_sided(a, lad, kink & at_theta, band, targets)
    for r in range(n):
        if not lad.finite[r]:
            status[r], why[r] = eb.INCONCLUSIVE, eb.NONFINITE_COST
            continue
        if not kink[r]:
            continue
        left[r], right[r] = kl[r], kr[r]
        lo, hi = min(kl[r], kr[r]), max(kl[r], kr[r])
        er = e[r] if np.isfinite(e[r]) else 0.0
        tol = config.MARGIN * er + band * max(abs(a[r]), abs(g[r])) + 0.05 * (hi - lo)
        inside = lo - tol <= a[r] <= hi + tol
        if at_theta[r] and np.isfinite(sides.bar[r]):
            # both sides converged: between them means between them, to their bars (no allowance for
            # the plain slopes' truncation)
            lo, hi = min(sides.left[r], sides.right[r]), max(sides.left[r], sides.right[r])
            tol = config.MARGIN * sides.bar[r] + band * max(abs(a[r]), abs(lo), abs(hi))
            inside = lo - tol <= a[r] <= hi + tol
        if at_theta[r]:
            # a corner at θ: backprop may take either side's slope (or one between); one that matches a
            # converged one-sided derivative within the target bar is read by it
            status[r], why[r] = (eb.KINK, 0) if inside else (eb.WRONG, 0)
            if inside and sides.matched[r]:
                why[r] = eb.KINK_READ
                g[r], e[r] = sides.estimate[r], sides.error[r]
                left[r] = sides.left[r] if np.isfinite(sides.left[r]) else kl[r]
                right[r] = sides.right[r] if np.isfinite(sides.right[r]) else kr[r]
        elif status[r] == eb.WRONG:
            continue  # a corner within the step, and the small steps below it converged elsewhere
        elif rd.converged[r] or inside:
            # a corner within the step: the small steps agree below it (then they read the coordinate,
            # as an agreement would), or (not converged) the analytic value lies between the one-sided slopes
            status[r], why[r] = eb.KINK, (eb.KINK_READ if status[r] == eb.AGREE else 0)
    return ladder.LadderReading(g, e, status, why, left, right)
