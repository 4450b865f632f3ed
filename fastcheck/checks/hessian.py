"""The Hessian check: every entry of a hand-written Hessian against differences of the gradient (or of the cost).

With ``grad`` the numerical Hessian's column j is the central difference of
the gradient along e_j, ``(∇J(θ + h e_j) − ∇J(θ − h e_j)) / 2h``: one pair of
gradient evaluations per column, run by the evaluators of
:mod:`fastcheck.evaluators.rows` (worker processes or a Dask cluster for a
Python gradient, the threads for a jitted one), so a column is computed
where a gradient check's coordinate would be.  Without ``grad`` the gradient
is itself differenced from the cost (:class:`~fastcheck.evaluators.rows.NumericalGradient`,
four cost evaluations per entry, steps ε^(1/4)).

Every entry is judged against its own error bar (:mod:`fastcheck.verdicts.entries`);
blocks are (row block, column block) pairs ``"A/B"`` of the layout.  An
analytic Hessian that is not symmetric is compared entry by entry as given
(never symmetrised) and said so: a note, and ``asymmetric`` in the note of
each block pair concerned.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.checks.base import coordinate_band
from fastcheck.checks.matrix import EntriesResult, assemble_entries, index_label
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.steps import absolute_steps, get_scheme, resolve_eps, validate_eps
from fastcheck.core.validate import as_theta, layout_for, select_coords, validate_threads
from fastcheck.errors import NondeterministicCostWarning
from fastcheck.evaluators.choose import make_evaluator
from fastcheck.evaluators.rows import NumericalGradient, RowsEvaluator, rows_evaluator, summed_evaluator
from fastcheck.verdicts.bands import validate_thresholds
from fastcheck.verdicts.entries import Columns, judge_entries

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["check_hessian", "check_hessian_with", "dense_matrix", "pair_layout"]

_EXTRA_DOCS = {"grad": "the analytic gradient ``grad(theta, *args)``: the numerical Hessian is then its central "
                       "difference (two gradient evaluations per column); without it, second differences of the cost"}


def pair_layout(rows: Layout, cols: Layout) -> Layout:
    """The blocks of a matrix over ``rows`` × ``cols``: one ``"A/B"`` per pair, shaped (size A, size B)."""
    names, shapes = [], []
    for a, sa in zip(rows.names, rows.sizes):
        for b, sb in zip(cols.names, cols.sizes):
            names.append(f"{a}/{b}")
            shapes.append((sa, sb))
    return Layout(tuple(names), tuple(shapes))


def dense_matrix(value, shape, what: str) -> np.ndarray:
    """A user's matrix (an array, a scipy sparse matrix, anything with ``toarray``) as float64 of ``shape``."""
    if hasattr(value, "toarray"):
        value = value.toarray()
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{what} must be a float array, got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        if arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValueError(f"{what} has shape {arr.shape}; expected {tuple(shape)}")
    arr = arr.astype(np.float64, copy=False)
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        raise ValueError(f"{what} is NaN or inf at {len(bad)} entries, first {bad[:3].tolist()}")
    return arr


@takes_options(specific={"grad": None}, extra_docs=_EXTRA_DOCS)
def check_hessian(cost: Callable[..., float], theta: ArrayLike, hess: Callable[..., ArrayLike], *,
                  opts: CheckOptions) -> EntriesResult:
    """Compare a hand-written Hessian with the numerical one, entry by entry.

    Parameters
    ----------
    cost : callable
        ``cost(theta, *args) -> float`` (used when ``grad`` is not given).
    theta : 1-D float array
    hess : array or callable
        The analytic Hessian, (n, n), or ``hess(theta, *args)`` returning it.

    ``grad=`` makes the numerical Hessian the central difference of the
    gradient (one column per checked coordinate; on worker processes for a
    Python gradient, ``workers``); without it the cost is differenced twice
    (four evaluations per entry: for small n).  ``coords``/``sample`` pick
    the columns; every row of a checked column is judged.  Blocks are the
    pairs ``"A/B"`` (rows of A, columns of B) of ``layout`` (``"theta/theta"``
    without one); ``worst()`` locates entries by row and column.

    Returns
    -------
    EntriesResult
    """
    return check_hessian_with(cost, theta, hess, opts)


def check_hessian_with(cost, theta, hess, opts: CheckOptions, *, refine: bool = True) -> EntriesResult:
    """:func:`check_hessian` with its options built (an ε sweep passes ``refine=False``)."""
    opts.require_full("check_hessian")
    theta = as_theta(theta)
    if opts.directions is not None:
        raise ValueError("check_hessian checks columns of H; for random directions use fastcheck.check_hvp")
    scheme = get_scheme(opts.scheme)
    if scheme.complex:
        raise ValueError("check_hessian differences the gradient with a real scheme; scheme='complex' does not apply")
    asked = validate_eps(opts.eps)
    if isinstance(asked, str):
        raise ValueError("eps='adaptive' does not apply to check_hessian (its unsettled entries get a ladder of "
                         "steps anyway); pass None or a step")
    thresholds = validate_thresholds(opts.thresholds)
    threads = validate_threads(opts.threads)
    n = len(theta)
    layout = layout_for(theta, opts.layout)
    cols = select_coords(n, layout, opts.coords, opts.sample, opts.seed)
    eps = resolve_eps(asked, theta, cols)
    mach = float(np.finfo(theta.dtype).eps)
    grad = opts["grad"]
    nu = None
    if grad is not None:
        ev, base = rows_evaluator(grad, opts.args, theta=theta, jit=opts.jit, threads=threads, workers=opts.workers,
                                  client=opts.client)
        steps = absolute_steps(theta, cols, scheme, eps)
        ladder_from = absolute_steps(theta, cols, get_scheme("central"), None)
        per_eval = 1
        what_fn = "gradient"
        on_threads = False
    else:
        if scheme.name != "central":
            raise ValueError("without grad= the Hessian comes from second differences of the cost (central); "
                             "pass grad= for another scheme")
        inner = make_evaluator(cost, opts.args, threads=threads, theta=theta, jit=opts.jit, n_coords=2 * n * len(cols),
                               workers=1)
        second = _second_step(theta, np.arange(n), eps if eps is not None and np.ndim(eps) == 0 else None)
        fn = NumericalGradient(inner, second)
        on_threads = inner.path.startswith("parallel")  # the threads run each numerical gradient; columns in turn
        if on_threads:
            base = RowsEvaluator(fn)
            ev = base
        else:
            ev, base = rows_evaluator(fn, (), theta=theta, jit=False, workers=opts.workers, client=opts.client)
        steps = second[cols] if eps is None or np.ndim(eps) == 0 else _effective(theta, cols, eps)
        ladder_from = second[cols]
        nu = fn.rounding(theta, mach)
        per_eval = 2 * n
        what_fn = "cost"
    f0 = base.rows(theta)
    if f0.size != n:
        raise ValueError(f"grad returned {f0.size} values but theta has {n}")
    if not np.isfinite(f0).all():
        raise ValueError(f"the {what_fn} gradient is NaN or inf at theta itself at "
                         f"{int(np.count_nonzero(~np.isfinite(f0)))} coordinate(s)")
    if grad is not None and not np.array_equal(base.rows(theta), f0):
        warnings.warn("grad gave two different values at the same theta: it is not deterministic",
                      NondeterministicCostWarning, stacklevel=3)
    ev_sum = summed_evaluator(base, scheme, workers=1 if grad is None and on_threads else opts.workers,
                              client=opts.client)
    # the rounding of a gradient entry: at least ε of the gradient's largest (sums of terms that size)
    nu = np.full(n, mach * float(np.max(np.abs(f0)))) + (0.0 if nu is None else nu)
    H = dense_matrix(hess(theta.copy(), *opts.args) if callable(hess) else hess, (n, n), "the Hessian")
    t0 = time.perf_counter()
    analytic = np.ascontiguousarray(H.T[cols])  # column-major: (columns, rows), in one copy
    pairs = pair_layout(layout, layout)
    row_block = layout.block_ids(np.arange(n))
    col_block = layout.block_ids(cols)
    nb = len(layout.names)
    if nb == 1:  # one pair: zeros the system hands out unwritten (4,000,000 of them at n = 2,000)
        pair_ids = np.zeros(n * len(cols), np.int64)
    else:
        pair_ids = (col_block[:, None] + nb * row_block[None, :]).reshape(-1)
    # What does not depend on the columns is prepared while they are computed, when worker processes
    # compute them (this process would otherwise wait): the entries' rows and columns, and the analytic
    # entries that differ from their partner.  The same arrays either way.
    with _alongside(getattr(ev_sum, "runner", None) is not None) as later:
        indices = later(_entry_indices, cols, n)
        candidates = later(_asymmetric_candidates, H, cols)
        j = judge_entries(ev, theta, Columns(steps=steps, base=ladder_from, coords=cols), f0, analytic, scheme,
                          mach=mach, great=coordinate_band(thresholds, mach), row_noise=nu, pair_ids=pair_ids,
                          refine=refine, ev_sum=ev_sum)
        seconds = time.perf_counter() - t0
        rows, colidx = indices()
        candidates = candidates()
    notes, asym_pairs = _asymmetry(H, cols, candidates, j, layout, pairs, pair_ids, n,
                                   coordinate_band(thresholds, mach))
    res = assemble_entries(
        ev_sum, theta, j._replace(n_evals=j.n_evals * per_eval), rows=rows, cols=colidx, row_layout=layout,
        col_layout=layout, pair_layout=pairs, pair_ids=pair_ids, analytic=analytic.reshape(-1),
        thresholds=thresholds, kind="hessian", what="Hessian", shape=(n, n), steps=steps, eps=asked,
        scheme=scheme.name, seconds=seconds, notes=notes,
    )
    for name in asym_pairs:
        where = res.blocks["block"] == name
        res.blocks.loc[where, "note"] = [("; ".join(filter(None, (v, "asymmetric")))) for v in res.blocks.loc[where, "note"]]
    return res


def _second_step(theta, coords, eps) -> np.ndarray:
    """Steps of second differences of a cost: ε^(1/4)·max(1, |θ_i|) (or ``eps``), effective in θ's dtype."""
    if eps is None:
        mach = float(np.finfo(theta.dtype).eps)
        h = mach ** 0.25 * np.maximum(1.0, np.abs(theta[coords].astype(np.float64)))
        return _effective(theta, coords, h)
    return _effective(theta, coords, np.broadcast_to(np.asarray(eps, np.float64), coords.shape))


def _effective(theta, coords, h) -> np.ndarray:
    x = theta[coords]
    return ((x + np.asarray(h, np.float64).astype(theta.dtype)) - x).astype(np.float64)


def _entry_indices(cols, n):
    """Row and column of every entry, flat column-major (``j·n + i``): (row, col) int64 arrays."""
    rows = np.empty((len(cols), n), np.int64)
    rows[...] = np.arange(n, dtype=np.int64)[None, :]
    colidx = np.empty((len(cols), n), np.int64)
    colidx[...] = np.asarray(cols, np.int64)[:, None]
    return rows.reshape(-1), colidx.reshape(-1)


@contextlib.contextmanager
def _alongside(threaded: bool):
    """``later(fn, *args)`` returns a function giving ``fn(*args)``: run on a thread of its own while the
    block goes on when ``threaded`` (NumPy lets go of the GIL in its loops), else right away."""
    if not threaded:
        def later(fn, *args):
            value = fn(*args)
            return lambda: value

        yield later
        return
    with ThreadPoolExecutor(1, thread_name_prefix="fastcheck-hessian") as pool:
        yield lambda fn, *args: pool.submit(fn, *args).result


def _asymmetric_candidates(H, cols):
    """The checked analytic entries above the diagonal that differ from their partner (bitwise):
    ``(c, S, r_, c_)``, positions in ``S``, the Hessian on the sorted columns ``c``."""
    c = np.sort(cols)
    S = H if len(c) == H.shape[0] else H[np.ix_(c, c)]
    # only entries that differ from their partner can be asymmetric: the rest (all of them, for most
    # Hessians) costs one comparison each, and the bands are read on the candidates alone
    r_, c_ = np.nonzero(np.triu(S != S.T, k=1))
    return c, S, r_, c_


def _asymmetry(H, cols, candidates, j, layout, pairs, pair_ids, n, great):
    """A note on analytic entries H_ij ≠ H_ji (both checked), and the block pairs concerned.

    A pair is asymmetric when the two differ by more than the ``great`` band of the larger (or 8ε of the
    Hessian's largest entry); the note says how many of them also differ beyond their error bars.
    ``candidates`` is :func:`_asymmetric_candidates`.
    """
    pos = np.full(n, -1)
    pos[cols] = np.arange(len(cols))
    c, S, r_, c_ = candidates
    if not len(r_):
        return (), []
    s_rc, s_cr = S[r_, c_], S[c_, r_]
    diff = np.abs(s_rc - s_cr)
    floor = 8 * float(np.finfo(np.float64).eps) * float(np.max(np.abs(H)))
    bad = (diff > great * np.maximum(np.abs(s_rc), np.abs(s_cr))) & (diff > floor)
    if not bad.any():
        return (), []
    r_, c_, diff = r_[bad], c_[bad], diff[bad]
    i, jj = c[r_], c[c_]
    e_ij = j.error[pos[jj] * n + i]  # the entry (row i, column jj)
    e_ji = j.error[pos[i] * n + jj]
    beyond = int(np.count_nonzero(diff > config.MARGIN * (np.nan_to_num(e_ij) + np.nan_to_num(e_ji))))
    k = int(np.argmax(diff))
    r, s = int(i[k]), int(jj[k])
    name_r = layout.locate(r)[0] + index_label(layout, r)
    name_s = layout.locate(s)[0] + index_label(layout, s)
    note = (f"the analytic Hessian is not symmetric: {len(i)} pair(s) of entries differ ({beyond} beyond their error "
            f"bars), most H[{name_r}, {name_s}] = {H[r, s]:.6g} against H[{name_s}, {name_r}] = {H[s, r]:.6g}; "
            "each entry is compared as given (never symmetrised)")
    names = {pairs.names[pair_ids[pos[b] * n + a]] for a, b in zip(i, jj)}
    names |= {pairs.names[pair_ids[pos[a] * n + b]] for a, b in zip(i, jj)}
    return (note,), sorted(names)
