"""The NumPy form of the structure-aware kernel: :func:`vector_costs`, nothing to compile.

It computes what :func:`fastcheck.models.layered.layered_costs` computes, the perturbed costs
``J(θ + s·e_c) = J(θ) + ΔJ`` at the moves ``s = fl(θ_c + offset·h_c) − θ_c`` with the kink
flags of relu and leaky_relu, by the same structure-aware recomputation, but over blocks of
rows with array operations and BLAS products instead of compiled loops over coordinates:

* the coordinates of the layer below a sigmoid output under sse or mse, column by column,
  by the degree-6 polynomial of each sample's loss change (:mod:`.series`);
* every other coordinate (and every row whose moves are too large for the polynomial) by the
  general path of :mod:`.vpass`, in blocks of at most :data:`~.vpass.ENTRIES` stacked entries.

Each ΔJ is exact to rounding like the compiled kernel's (the operations differ in order, so the
last bits may differ); the memory per block is bounded whatever the network.  A check whose
whole work costs less in NumPy than compiling the kernel takes this form
(:class:`fastcheck.evaluators.structured.LayeredEvaluator`, :func:`numpy_seconds`).  Double
precision real moves only (:func:`covers`): the complex step, float32 and the directional
checks stay with the compiled or interpreted kernel.
"""
from __future__ import annotations

import concurrent.futures
import functools
import itertools

import numpy as np

from fastcheck.models.backprop import B_OFF, N_IN, N_OUT, W_OFF
from fastcheck.models.layered import series, vpass

__all__ = ["covers", "numpy_seconds", "vector_costs", "vector_value"]

#: Seconds per stacked entry (row × sample) of the polynomial path, and per entry (row × sample ×
#: unit above) of the general path, measured on this machine kind (CPU seconds on 1 thread under
#: load 3-6: 1.7e-8 and 3.0e-8 at 784-128-10; the first rounded up).
SERIES_ENTRY = 3e-8
GENERAL_ENTRY = 3e-8
#: Seconds per multiply-add of the general path's products (BLAS on stacked rows, one thread).
PRODUCT_FLOP = 1e-9
#: Rows (coordinate × move) per block of the polynomial path: a few hundred kB per array.
SERIES_ROWS = 2048


def covers(dtype) -> bool:
    """Whether the NumPy form computes in ``dtype`` (float64 only)."""
    return np.dtype(dtype) == np.float64


def numpy_seconds(arch, loss, batch: int, n_coords: int, n_moves: int, calls: int) -> float:
    """Estimated seconds of ``calls`` calls of :func:`vector_costs` on ``n_coords`` coordinates (taken
    as spread over the layers as the parameters are) × ``n_moves`` moves each."""
    sizes = [int(arch[0, N_IN])] + [int(arch[l, N_OUT]) for l in range(arch.shape[0])]
    n_params = sum(int(arch[l, N_IN] * arch[l, N_OUT]) + (int(arch[l, N_OUT]) if arch[l, B_OFF] >= 0 else 0)
                   for l in range(arch.shape[0]))
    forward = batch * sum(a * b for a, b in itertools.pairwise(sizes))
    per_row = 0.0
    for l in range(arch.shape[0]):
        share = (int(arch[l, N_IN]) + 1) * int(arch[l, N_OUT]) / n_params
        if series.takes_series(arch, loss, l):
            per_row += share * SERIES_ENTRY * batch
        else:
            # the column, the units above it, and the products of the layers above the next
            above = 1 + sum(sizes[l + 2 :])
            flops = sum(a * b for a, b in itertools.pairwise(sizes[l + 2 :]))
            per_row += share * batch * (GENERAL_ENTRY * above + PRODUCT_FLOP * flops)
    return calls * (2e-9 * forward + 2e-3) + per_row * n_coords * n_moves


def _locate(arch, coords):
    """``(layer, i, j)`` arrays of flat coordinates (``i = −1`` for a bias)."""
    layer = np.full(len(coords), -1, np.int64)
    i = np.full(len(coords), -1, np.int64)
    j = np.zeros(len(coords), np.int64)
    for l in range(arch.shape[0]):
        n_in, n_out, w0, b0 = (int(arch[l, k]) for k in (N_IN, N_OUT, W_OFF, B_OFF))
        w = (coords >= w0) & (coords < w0 + n_in * n_out)
        layer[w] = l
        i[w] = (coords[w] - w0) // n_out
        j[w] = (coords[w] - w0) % n_out
        if b0 >= 0:
            b = (coords >= b0) & (coords < b0 + n_out)
            layer[b] = l
            j[b] = coords[b] - b0
    if (layer < 0).any():
        raise ValueError(f"coordinate {int(coords[layer < 0][0])} is outside the network's parameters")
    return layer, i, j


def vector_value(theta, X, Y, arch, loss, l2, mask) -> float:
    """J(θ), rounded as :func:`vector_costs`' unperturbed cost."""
    with np.errstate(all="ignore"):  # as compiled with NumPy's error model: e^(−z) may overflow to inf
        return vpass.forward_pass(theta, X, Y, arch, loss, l2, mask).J0


def vector_costs(theta, X, Y, arch, loss, l2, mask, coords, steps, offsets, n_threads=1):
    """``(out, kinks)``: ``out[c, k] = J(θ + s_ck·e_{coords[c]})`` with
    ``s_ck = fl(θ_c + offsets[k]·steps[c]) − θ_c``, and ``kinks[c]`` = some relu/leaky_relu
    pre-activation changes side at one of those points (the contract of
    :func:`fastcheck.models.layered.layered_costs`, in float64).

    ``n_threads`` threads take the blocks (NumPy releases the GIL in its loops); each block
    writes only its own rows, so the results are the same for any number of threads.  BLAS
    should be held to one thread meanwhile (:func:`fastcheck.config.single_threaded_blas`).
    """
    coords = np.asarray(coords, np.int64)
    steps = np.asarray(steps, np.float64)
    offsets = np.asarray(offsets, np.float64)
    layer, i, j = _locate(arch, coords)
    with np.errstate(all="ignore"):
        cache = vpass.forward_pass(theta, X, Y, arch, loss, l2, mask)
    n_off = len(offsets)
    x = theta[coords]
    S = (x[:, None] + offsets[None, :] * steps[:, None]) - x[:, None]  # the moves actually taken
    dJ = np.empty((len(coords), n_off))
    kinks = np.zeros(len(coords), np.bool_)
    B = X.shape[0]

    def general(l, r):
        ii, jj = np.repeat(i[r], n_off), np.repeat(j[r], n_off)
        d, k = vpass.general_rows(theta, Y, arch, loss, l2, cache, l, ii, jj, S[r].ravel())
        dJ[r] = d.reshape(len(r), n_off)
        kinks[r] = k.reshape(len(r), n_off).any(axis=1)
        return r[:0]

    def blocks(l, rows):
        size = max(1, vpass.ENTRIES // (B * vpass.row_width(arch, l) * n_off))
        return [functools.partial(general, l, rows[a : a + size]) for a in range(0, len(rows), size)]

    first, series_layers = [], []
    for l in range(arch.shape[0]):
        rows = np.flatnonzero(layer == l)
        if rows.size == 0:
            continue
        if series.takes_series(arch, loss, l):
            series_layers.append(l)
            with np.errstate(all="ignore"):
                first += _series_tasks(theta, Y, arch, loss, l2, cache, l, rows, i, j, S, dJ, kinks)
        else:
            first += blocks(l, rows)
    left = _run_all(first, n_threads)
    # the rows whose moves were too large for the polynomial: the general path
    rest = np.concatenate(left) if left else coords[:0]
    _run_all([t for l in series_layers for t in blocks(l, rest[layer[rest] == l])], n_threads)
    return cache.J0 + dJ, kinks


def _quiet(task):
    # as compiled with NumPy's error model (e^(−z) may overflow to inf, silently); NumPy's error
    # state is per thread (a context variable), so each worker sets its own
    with np.errstate(all="ignore"):
        return task()


def _run_all(tasks, n_threads):
    """Each task's result, in order, on up to ``n_threads`` threads."""
    if n_threads <= 1 or len(tasks) <= 1:
        return [_quiet(t) for t in tasks]
    with concurrent.futures.ThreadPoolExecutor(min(n_threads, len(tasks))) as pool:
        return list(pool.map(_quiet, tasks))


def _series_tasks(theta, Y, arch, loss, l2, cache, l, rows, i, j, S, dJ, kinks):
    """The polynomial path for the coordinates ``rows`` of layer l, as tasks of one column's rows
    each (in blocks of at most :data:`SERIES_ROWS` rows); a task writes its rows' ``dJ`` (and kink
    flags) and returns the coordinates it leaves to the general path (moves too large)."""
    P, wmax = series.output_polynomials(theta, arch, Y, cache)
    n_off = S.shape[1]
    scale = vpass.scale(loss, cache.A[arch.shape[0] - 1].shape)
    order = rows[np.argsort(j[rows], kind="stable")]
    edges = np.flatnonzero(np.diff(j[order])) + 1
    step = max(1, SERIES_ROWS // n_off)

    def task(col, g):
        ii = np.repeat(i[g], n_off)
        s = S[g].ravel()
        D, crossed = vpass.column_change(cache, arch, l, ii, col, s)
        diff, ok = series.series_rows(P[col], wmax[col], D, loss)
        d = scale * diff + vpass.l2_changes(theta, arch, l, ii, col, s, l2)
        ok = ok.reshape(len(g), n_off).all(axis=1)
        dJ[g[ok]] = d.reshape(len(g), n_off)[ok]
        if crossed is not None:
            kinks[g[ok]] = crossed.any(axis=1).reshape(len(g), n_off).any(axis=1)[ok]
        return g[~ok]

    return [functools.partial(task, int(j[group[0]]), group[a : a + step])
            for group in np.split(order, edges) for a in range(0, len(group), step)]
