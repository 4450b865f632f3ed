"""The judgement of matrix entries: every row of a vector's difference, column by column, with error bars.

A second-order check differences a vector ``F(θ)`` (a gradient, a
function's outputs) along columns — unit coordinates e_j for a Hessian,
random directions for a Hessian- or Jacobian-vector product — so each
column gives a whole vector of estimates, one per *row*.  Every entry
(row i, column j) is judged in the three passes of
:mod:`fastcheck.verdicts.errorbars`, each paid per *column* (one evaluation of
``F`` serves every row):

1. the column's own step h: the quotient and its round-off bound
   ``(4·ε·Σ|w_k·F_i,k| + 2·Σ|w_k|·ν_i)/h``, ν_i the absolute rounding of
   ``F_i`` beyond ε·|F_i| (0 for an analytic gradient, the difference
   quotient's own round-off for a numerical one);
2. the columns with an entry still unsettled get a second step 2h: the bar
   becomes round-off plus the change between h and 2h;
3. a ladder of steps for what is left, worst entries first in rounds of
   ``config.REFINE_BATCH`` per block pair (a pair stops once one of its
   entries is confirmed wrong): each laddered column is read for *all* its
   unsettled rows by :func:`fastcheck.verdicts.ladder.extrapolate` and
   :func:`fastcheck.verdicts.errorbars.read_ladder` (Richardson's estimate, its
   error bar, kinks from the one-sided slopes).

Entries are stored column-major, flat index ``j·n_rows + i``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.evaluators.rows import pack_offsets, unpack_rows
from fastcheck.kernels import entries as entry_kernels
from fastcheck.verdicts import errorbars, ladder

__all__ = ["CHUNK_ENTRIES", "Columns", "EntryJudgement", "judge_entries"]

#: Pass 1 runs over whole columns about this many entries at a time (a Hessian of n = 2,000 has
#: 4,000,000), so that its temporaries stay in the cache; no number depends on it.
CHUNK_ENTRIES = 1 << 16


@dataclass
class Columns:
    """The columns a vector is differenced along: coordinates (``coords``) or dense directions (``dirs``).

    ``steps`` is the step of each column (effective for coordinates);
    ``base`` the central step a ladder starts from.
    """

    steps: np.ndarray
    base: np.ndarray
    coords: np.ndarray | None = None
    dirs: np.ndarray | None = None  # (m, n) unit directions over the whole of θ

    def __len__(self) -> int:
        return len(self.steps)

    def costs(self, ev, theta, idx, steps, offsets, n_rows) -> np.ndarray:
        """``F`` at θ + c·steps·(column) for the columns ``idx`` and offsets c: ``(len(idx), K, n_rows)``."""
        packed = pack_offsets(offsets, n_rows)
        if self.coords is not None:
            out = ev.stencil(theta, self.coords[idx], steps, packed)
        else:
            d = self.dirs[idx]
            lo = np.zeros(len(idx), np.int64)
            start = (np.arange(len(idx) + 1) * d.shape[1]).astype(np.int64)
            out = ev.directions(theta, lo, start, np.ascontiguousarray(d).reshape(-1), steps, packed)
        return unpack_rows(out, n_rows)

    def double(self, theta, idx) -> np.ndarray:
        """The steps 2h of the columns ``idx`` (effective ones for coordinates)."""
        h = 2.0 * self.steps[idx]
        if self.coords is None:
            return h
        x = theta[self.coords[idx]]
        eff = ((x + h.astype(theta.dtype)) - x).astype(np.float64)
        return np.where(eff == 0, h, eff)

    def displacements(self, theta, idx, base, offsets):
        """Effective displacement of every offset along each column, and each column's rounding across it."""
        if self.coords is not None:
            return ladder.effective_offsets(theta, self.coords[idx], base, offsets), np.zeros(len(idx))
        x = theta.astype(np.float64)
        disp = np.empty((len(idx), len(offsets)))
        across = np.zeros(len(idx))
        for r, j in enumerate(idx):
            u = self.dirs[j]
            delta = (x[None, :] + (offsets[:, None] * base[r]) * u[None, :]).astype(theta.dtype).astype(np.float64) - x
            disp[r] = delta @ u
            across[r] = float(np.max(np.linalg.norm(delta - disp[r][:, None] * u[None, :], axis=1)))
        return disp, across

    def across(self, theta, idx, steps, offsets) -> np.ndarray:
        """The rounding of θ + c·h·u across u, per column (0 for coordinates: their steps are effective)."""
        return self.displacements(theta, idx, steps, np.asarray(offsets, np.float64))[1]


class EntryJudgement(NamedTuple):
    """Per entry (flat ``j·n_rows + i``): the quotient at h, best estimate, error bar, status and kinks
    (``kink_left``/``kink_right``: the one-sided slopes of laddered entries, NaN elsewhere; a read-only
    array when nothing was laddered)."""

    numerical: np.ndarray
    estimate: np.ndarray
    error: np.ndarray
    status: np.ndarray
    why: np.ndarray
    finite: np.ndarray
    kink_left: np.ndarray
    kink_right: np.ndarray
    n_evals: int  #: evaluations of F
    refined: int  #: entries laddered


def _sums(costs, f0, w, moved):
    """Σ w_k·F_k and Σ |w_k·F_k| per entry (the stencil's weights in their fixed order, θ's own F where the
    offset is 0), and whether all of an entry's values were finite: ``(m, n)`` arrays from ``(m, K, n)`` costs."""
    m, _, n = costs.shape
    acc = np.zeros((m, n))
    mag = np.zeros((m, n))
    k_moved = 0
    for k, wk in enumerate(w):
        if moved[k]:
            v = costs[:, k_moved, :]
            k_moved += 1
        else:
            v = f0[None, :]
        acc += wk * v
        mag += np.abs(wk * v)
    return acc, mag, np.isfinite(acc)  # a NaN or inf among an entry's values leaves its sum so


def _column_sums(ev, ev_sum, cols, theta, idx, steps, f0, offs, w, n):
    """``(acc, mag)`` of the columns ``idx`` at ``steps``: from the plain costs (``mag`` their Σ |w_k·F_k|), or
    from ``ev_sum``'s sums with ``mag`` None: :func:`_first_pass` bounds it to first order,
    Σ_k |w_k|·(|F_i(θ)| + |o_k|·|acc|) (F moves by o_k·acc)."""
    moved = offs != 0
    if ev_sum is None:
        return _sums(cols.costs(ev, theta, idx, steps, offs[moved], n), f0, w, moved)[:2]
    acc = cols.costs(ev_sum, theta, idx, steps, np.ones(1), n)[:, 0, :]
    for o, wk in zip(offs, w):
        if o == 0:
            acc += wk * f0[None, :]
    return acc, None


class _FirstPass(NamedTuple):
    """Pass 1 over every entry (flat, column-major)."""

    numerical: np.ndarray
    estimate: np.ndarray  # the quotient, NaN where a value was not finite
    error: np.ndarray  # its round-off bound, NaN where a value was not finite
    finite: np.ndarray
    status: np.ndarray
    why: np.ndarray
    pending: np.ndarray  # finite and not agreeing at h
    scale: float  # the matrix's scale (largest |analytic| or |numerical| beyond its round-off)
    f_scale: float  # ‖H‖ guessed from the analytic columns


def _first_pass(acc, mag, h, a, f0, nu, across, w, offs, mach, great) -> _FirstPass:
    """Quotients, round-off bounds and the agreement at the columns' own steps, ``CHUNK_ENTRIES`` at a time.

    ``acc`` (m, n) is overwritten with the quotients; ``mag`` (the plain costs' Σ |w_k·F_k|, overwritten
    with the bounds) is None for ``ev_sum``'s sums.  Every entry gets the arithmetic it would get in one
    sweep over the whole matrix (the chunks are whole columns; the scale is a maximum), so the chunking
    changes no number: it only keeps each step's temporaries in the cache.
    """
    m, n = acc.shape
    step = max(1, CHUNK_ENTRIES // max(n, 1))
    chunks = [(j0, min(m, j0 + step)) for j0 in range(0, m, step)]
    # ‖H‖ guessed from the analytic columns (only the rounding across a direction uses it)
    f_scale = max((float(np.max(np.linalg.norm(a[j0:j1], axis=1))) for j0, j1 in chunks), default=0.0)
    noise = np.empty((m, n)) if mag is None else mag
    est = np.empty((m, n))
    finite = np.empty((m, n), bool)
    status = np.full((m, n), errorbars.AGREE, np.int8)
    why = np.zeros((m, n), np.int8)
    pending = np.empty((m, n), bool)
    abs_f0 = np.abs(w).sum() * np.abs(f0)[None, :]
    moved_w = float(np.abs(w * offs).sum())
    spread = 2 * np.abs(w).sum()
    kernel = _compiled_first_pass(m * n)
    if kernel is not None:  # the same arithmetic in one compiled sweep (kernels.entries)
        scale_all = kernel(acc, noise, mag is not None, h.reshape(-1), a, abs_f0.reshape(-1), nu, across, f_scale,
                           moved_w, float(spread), 4 * mach, float(great), float(config.RESOLVE), est, noise, finite,
                           status, why, pending, errorbars.AGREE, errorbars.NONFINITE, errorbars.NONFINITE_COST,
                           errorbars.ZERO)
        flat = (acc, est, noise, finite, status, why, pending)
        return _FirstPass(*(x.reshape(-1) for x in flat), float(scale_all), f_scale)
    scale_all = 0.0
    close, close_noise = [], []
    for j0, j1 in chunks:
        A, M, ac, hc = acc[j0:j1], noise[j0:j1], a[j0:j1], h[j0:j1]
        fin = finite[j0:j1]
        np.isfinite(A, out=fin)
        if mag is None:
            np.abs(A, out=M)
            M *= moved_w
            M += abs_f0
        M *= 4 * mach
        M += spread * (nu[None, :] + (across[j0:j1] * f_scale)[:, None])
        M /= hc
        A /= hc  # the quotients
        e = est[j0:j1]
        e[...] = A
        bad = ~fin
        if bad.any():
            e[bad] = np.nan
            M[bad] = np.nan
            status[j0:j1][bad] = errorbars.NONFINITE
            why[j0:j1][bad] = errorbars.NONFINITE_COST
        abs_a = np.abs(ac)
        top_a = float(np.max(abs_a, where=fin, initial=0.0))
        abs_e = np.abs(e)
        beyond = abs_e - M
        beyond[~np.isfinite(beyond)] = 0.0
        scale_all = max(scale_all, top_a, float(beyond.max(initial=0.0)))
        still = fin & (ac == 0) & (A == 0)
        status[j0:j1][still] = errorbars.ZERO
        # errorbars.first_pass, but for the scale: the entries agreeing only within their round-off wait for it
        err = np.abs(ac - e)
        within = err <= great * np.maximum(abs_a, abs_e)
        p = pending[j0:j1]
        np.logical_and(fin, ~(within | still), out=p)
        near = p & (err <= M)
        if near.any():
            k = np.flatnonzero(near)
            close.append(k + j0 * n)
            close_noise.append(M.reshape(-1)[k])
    if close:
        k, bar = np.concatenate(close), np.concatenate(close_noise)
        pending.reshape(-1)[k[bar <= config.RESOLVE * scale_all]] = False
    flat = (acc, est, noise, finite, status, why, pending)
    return _FirstPass(*(x.reshape(-1) for x in flat), scale_all, f_scale)


def _compiled_first_pass(n_entries: int):
    """:func:`fastcheck.kernels.entries.first_pass` when compiling it pays for ``n_entries`` (it is compiled
    already, or the NumPy pass of this and the earlier checks would have paid for compiling it; see
    :func:`fastcheck.config.compiling_pays`), else None: the NumPy pass, the same numbers."""
    fn = entry_kernels.first_pass
    if config.compiling_pays(fn, n_entries * entry_kernels.NUMPY_ENTRY_SECONDS, entry_kernels.COLD_SECONDS):
        return fn
    return None


def judge_entries(ev, theta, cols: Columns, f0, analytic, scheme, *, mach, great, row_noise=None, pair_ids=None,
                  refine=True, ev_sum=None) -> EntryJudgement:
    """Judge every entry of ``analytic`` (shape ``(len(cols), n_rows)``, column-major) against ``ev``'s differences.

    ``f0`` is ``F(θ)``; ``row_noise`` the absolute rounding ν of each ``F_i``
    beyond ε·|F_i|; ``pair_ids`` (flat, per entry) the block pair of each
    entry, which the ladder's rounds go by.  ``refine=False`` stops after
    pass 1: what does not agree there is wrong beyond ``MARGIN`` bars, else
    inconclusive (an ε sweep measures the quotients as they are).  ``ev_sum``
    (a :class:`~fastcheck.evaluators.rows.SummedRows`, optional) computes the
    passes' weighted sums where ``F`` is evaluated, one number per entry; the
    ladder always takes ``ev``'s costs.
    """
    m, n = analytic.shape
    f0 = np.asarray(f0, np.float64)
    nu = np.zeros(n) if row_noise is None else np.asarray(row_noise, np.float64)
    offs = np.asarray(scheme.offsets, np.float64)
    w = np.asarray(scheme.weights, np.float64)
    moved = offs != 0
    everything = np.arange(m)
    acc, mag = _column_sums(ev, ev_sum, cols, theta, everything, cols.steps, f0, offs, w, n)
    n_evals = m * int(moved.sum())
    across = cols.across(theta, everything, cols.steps, offs[moved])
    a = np.ascontiguousarray(analytic, np.float64)
    first = _first_pass(acc, mag, cols.steps[:, None], a, f0, nu, across, w, offs, mach, great)
    del acc, mag
    num, est, error, finite, status, why, pending = first[:7]
    noise, scale_all, f_scale = error, first.scale, first.f_scale  # pass 2 reads the round-off of an entry before it widens its bar
    a = a.reshape(-1)
    N = m * n
    unread = np.broadcast_to(np.nan, N)  # the kinks' slopes, read-only NaN until a ladder reads an entry
    out = EntryJudgement(num, est, error, status, why, finite, unread, unread, n_evals, 0)
    if not pending.any():
        return out
    if not refine:
        beyond = np.abs(a - est) > config.MARGIN * error
        status[pending] = np.where(beyond[pending], errorbars.WRONG, errorbars.INCONCLUSIVE)
        why[pending & ~beyond] = errorbars.ROUNDOFF
        return out
    # pass 2: the columns with an unsettled entry, at 2h
    pend2 = pending.reshape(m, n)
    jcols = np.flatnonzero(pend2.any(axis=1))
    h2 = cols.double(theta, jcols)
    g2 = _column_sums(ev, ev_sum, cols, theta, jcols, h2, f0, offs, w, n)[0] / h2[:, None]
    n_evals += len(jcols) * int(moved.sum())
    sel = pend2[jcols]
    flat = (jcols[:, None] * n + np.arange(n)[None, :])[sel]
    bar = noise[flat] + np.abs(est[flat] - g2[sel])
    bar = np.where(np.isfinite(bar), bar, np.inf)
    error[flat] = bar
    ok = (np.abs(a[flat] - est[flat]) <= config.MARGIN * bar) & (bar <= config.RESOLVE * scale_all)
    pending[flat[ok]] = False
    if pending.any():
        left, right = np.full(N, np.nan), np.full(N, np.nan)
        out = out._replace(kink_left=left, kink_right=right)
        n_evals, refined = _ladder_pass(ev, theta, cols, f0, nu, a, est, error, status, why, left, right, pending,
                                        pair_ids, mach, great, scale_all, f_scale, n_evals)
        out = out._replace(refined=refined)
    return out._replace(n_evals=n_evals)


def _ladder_pass(ev, theta, cols, f0, nu, a, est, error, status, why, left, right, pending, pair_ids, mach, great,
                 scale_all, f_scale, n_evals):
    """Pass 3: ladders of steps for the columns of the worst unsettled entries, block pair by block pair."""
    m = len(cols)
    n = len(f0)
    pair_ids = np.zeros(m * n, np.int64) if pair_ids is None else np.asarray(pair_ids, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(a - est) / np.where(error > 0, error, np.inf)
    todo = np.flatnonzero(pending)
    todo = todo[np.argsort(-np.nan_to_num(ratio[todo], nan=np.inf), kind="stable")]
    queues = {int(p): todo[pair_ids[todo] == p] for p in np.unique(pair_ids[todo])}
    offsets = ladder.offsets_for(ladder.REFINE_RUNGS)
    first_rung = ladder.REFINE_RUNGS.index(1)
    laddered = np.zeros(m, bool)
    read = np.zeros(m * n, bool)
    closed = set()
    refined = 0
    while True:
        batch = []
        for p, q in queues.items():
            if p in closed:
                continue
            q = q[~read[q]]
            queues[p] = q
            batch.append(q[: config.REFINE_BATCH])
        batch = np.concatenate(batch) if batch else np.zeros(0, np.int64)
        if not len(batch):
            break
        jl = np.unique(batch // n)
        jl = jl[~laddered[jl]]
        laddered[jl] = True
        base = cols.base[jl]
        costs = cols.costs(ev, theta, jl, base, offsets, n)  # (len(jl), 2R, n)
        n_evals += len(jl) * len(offsets)
        disp, across = cols.displacements(theta, jl, base, offsets)
        # every unsettled row of the laddered columns is read, not only the batch
        sel = pending.reshape(m, n)[jl] & ~read.reshape(m, n)[jl]
        r_col, r_row = np.nonzero(sel)
        flat = jl[r_col] * n + r_row
        read[flat] = True
        refined += len(flat)
        shifted = costs[r_col, :, r_row] - f0[r_row][:, None]  # one-sided slopes about F_i(θ); f0 = 0 below
        noise = ladder.COST_ROUNDING * mach * np.abs(f0[r_row]) + nu[r_row] + across[r_col] * f_scale
        lad = ladder.extrapolate(shifted, disp[r_col], 0.0, mach, ladder.RATIO, cost_noise=noise)
        g, e, st, wy, kl, kr = errorbars.read_ladder(a[flat], lad, first_rung, great, scale_all)
        fin = lad.finite
        est[flat[fin]], error[flat[fin]] = g[fin], e[fin]
        status[flat], why[flat] = st, wy
        left[flat], right[flat] = kl, kr
        for p in np.unique(pair_ids[flat[st == errorbars.WRONG]]):
            closed.add(int(p))
    # entries left in closed pairs: their pair is wrong already; keep the two-step reading
    for p in closed:
        q = queues[p][~read[queues[p]]]
        beyond = np.abs(a[q] - est[q]) > config.MARGIN * error[q]
        status[q] = np.where(beyond, errorbars.WRONG, errorbars.INCONCLUSIVE)
        why[q[~beyond]] = errorbars.CONVERGE
    return n_evals, refined
