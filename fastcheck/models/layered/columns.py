"""The column path: a block of one column's coordinates, the layers above as cubics.

When layer l is below the output (one or two layers; three or more with the hidden layers
between composed as cubics, :mod:`fastcheck.models.layered.deep`) and the loss is sse or mse, or
softmax cross-entropy over an identity output (the loss change by its cumulants,
:mod:`fastcheck.models.layered.softmax`), or binary cross-entropy (:mod:`fastcheck.models.layered.bce`)
(:func:`fastcheck.models.layered.plan.column_path`), every coordinate of
column j of layer l (``W_l[:, j]`` and ``b_l[j]``) moves the rest of the network
through the column's change ``D_b`` alone, and each unit above changes by a
cubic in its move: sigmoid, tanh and softplus with a remainder under rounding,
identity, relu and leaky relu exactly while no pre-activation changes sign (the
coefficients, limits and series are in :mod:`fastcheck.models.layered.cubics`).
:func:`column_block` takes such coordinates a column at a time:

1. the column's changes of all its coordinates and moves, stacked ``(B × rows)``
   (row ``k·nc + c`` is coordinate c at move k): for a column whose moves
   ``|s·x|`` are within its activation's limit (and, relu or leaky relu, keep
   every sample's pre-activation on its side of 0), ``D = M·(g₁δ + g₂δ² + g₃δ³)``
   with ``δ = s·x_b``, made sample by sample beside the loops that read it; else by
   :func:`~fastcheck.models.layered.moves.moved_column` row by row (kinks flagged);
2. the layers above and the loss in loops over the rows (no division, no exp,
   vectorised), ``ΔJ = scale·Σ_b Σ_k d·(d + 2(a − y)) + ½·l2·s·(2w + s)``, with
   the second layer's products ``C_n·W_q`` taken once per column; for a column
   taken by its cubic, when the terms it leaves out are under rounding, by the series in the
   move instead (each sample's polynomial in x up to x⁴, summed over the samples
   with the powers of the inputs, then one Horner step per row).

A block whose moves are too large for the cubics, or could carry a relu or leaky
relu unit above across its kink (both bounded from ``max |D|`` before any row is
computed), returns 0 and takes the general paths
(:mod:`~fastcheck.models.layered.gemm`, :mod:`~fastcheck.models.layered.rank1`).
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, jit
from fastcheck.models.backprop import ACT, IN_OFF, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import BCE, SOFTMAX_CE, SSE, loss_scale
from fastcheck.models.layered import bce, cubics, softmax
from fastcheck.models.layered import deep as deep_chain
from fastcheck.models.layered.cache import locate, matrix_view
from fastcheck.models.layered.moves import l2_change, moved_column
from fastcheck.models.layered.plan import column_path, column_size
from fastcheck.models.numeric import bound, const

#: Added to :func:`column_block`'s route (1 or 2) when the rows came from the series in the move.
SERIES_TAKEN = 4

#: Padding of the column blocks' rows: a row stride that is a multiple of 4 KB would put
#: every sample's entry of one column in the same L1 set.
PAD = 8


@jit(NET)
def column_scratch(arch, loss, B, n_moves, zero, real, cap):
    """A chunk's column-path scratch ``(DT, XG, ii, acc, C, P, SK, row, Q, AB, chain)``: the stacked changes
    ``(B, rows)`` in the type of ``zero``, the gathered inputs ``(B, coordinates)`` (real) and
    their indices ``i``, the rows' sums (type of ``zero``); the real ``(3B, n_m)`` and
    ``(3B, K)`` of :func:`fastcheck.models.layered.cubics.hidden_coefficients` (empty when no
    layer needs them); the moves, move-major, and one sample's changes of every row (type of
    ``zero``); the series' sums ``(SERIES, coordinates)`` and each sample's loss polynomial
    ``(B, LOSS_TERMS)`` (real, :func:`fastcheck.models.layered.cubics.output_rows`); the flat scratch of
    :func:`fastcheck.models.layered.deep.hidden_chain` (empty unless a column lies three or more layers
    below the output)."""
    L = arch.shape[0]
    size = 0
    mid = 0
    w = 0
    for l in range(L):
        if column_path(arch, loss, l):
            size = min(column_size(n_moves, B), cap)  # no block is longer than cap coordinates
            if l == L - 3:
                mid = arch[l + 1, N_OUT]
            w = max(w, deep_chain.chain_width(arch, l))
    K = arch[L - 1, N_OUT] if mid > 0 else 0
    rows = size * n_moves
    return (np.full((B, rows + PAD if rows > 0 else 0), zero), np.full((B, size + PAD if size > 0 else 0), real),
            np.zeros(size, np.int64), np.full(rows, zero), np.full((3 * B if mid > 0 else 0, mid), real),
            np.full((3 * B if mid > 0 else 0, K), real), np.full(rows, zero), np.full(rows, zero),
            np.full((cubics.SERIES, size + PAD if size > 0 else 0), real),
            np.full((B if size > 0 else 0, cubics.LOSS_TERMS), real),
            np.full(deep_chain.chain_entries(B, w) if w > 0 else 0, real))


@jit(NET)
def _cross_entropy_rows(loss, DT, cubic, SK, nc, inputs, MT, G, u, R, theta, wrow, P, deep, AT, YT, oL, K, acc, row, Q,
                        AB, t, J0, scale, zmax):
    """A block's rows under softmax cross-entropy (:func:`fastcheck.models.layered.softmax.softmax_rows`) or
    binary cross-entropy (:func:`fastcheck.models.layered.bce.bce_rows`): -1 when it cannot take them, else 1
    when they came from the series in the move, 0 when one by one."""
    if loss == SOFTMAX_CE:
        return softmax.softmax_rows(DT, cubic, SK, nc, inputs, MT, G, u, R, theta, wrow, P, deep, AT, YT, oL, K, acc,
                                    row, Q, AB, t, J0, scale, zmax)
    return bce.bce_rows(DT, cubic, SK, nc, inputs, MT, G, u, R, theta, wrow, P, deep, AT, YT, oL, K, acc, row, Q, AB,
                        t, J0, scale, zmax)


def _column_block_kernel(deep):
    """:func:`column_block` for any network (``deep``), or for a network of at most two layers, where
    the column path never has a hidden layer between the column and the output (its cubics are then
    left out of the compiled code: less to compile, the same operations)."""

    @jit(NET)
    def column_block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, anew, dvec, cscratch):
        """``dJ`` and ``kink`` of a block of coordinates of one column ``j`` of a layer on the
        column path (see the module doc): the column's changes ``D`` (row
        ``k·nc + c`` is coordinate c at move k), then the layers above as cubics in them.
        Returns 0, having written nothing the caller reads, when some move is too large
        for the cubics (the caller then takes the general path); else 1, or 2 when the
        output's changes were small enough for the quadratic, plus :data:`SERIES_TAKEN`
        when the rows came from the series in the move."""
        Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0 = cache
        DT, XG, ii, acc, C, P, SKf, row, Q, AB, chain = cscratch
        L = arch.shape[0]
        B = Z.shape[0]
        K = arch[L - 1, N_OUT]
        oL = arch[L - 1, OUT_OFF]
        n_off = S.shape[1]
        nc = t1 - t0
        R = nc * n_off
        l, _, _, j = locate(arch, coords[t0])
        i0 = arch[l, IN_OFF]
        u = arch[l, OUT_OFF] + j
        # step 1: by the cubic for a column whose moves |s·x| are within its activation's limit, else
        # by moved_column row by row (any activation, kinks flagged)
        smax = 0.0
        xmax = 0.0
        for c in range(nc):
            i = locate(arch, coords[t0 + c])[2]  # once per coordinate: the loops below read ii
            ii[c] = i
            xmax = max(xmax, 1.0 if i < 0 else colmax[i0 + i])
            for k in range(n_off):
                smax = max(smax, bound(S[c, k]))
        act = arch[l, ACT]
        cubic = smax * xmax <= cubics.layer_limit(act, J0) and cubics.keeps_sign(act, ZT, u, B, smax * xmax)
        SK = matrix_view(SKf, n_off, nc)
        if cubic:
            # the moves, move-major; the changes are made sample by sample below
            for c in range(nc):
                kink[c] = False
                for k in range(n_off):
                    SK[k, c] = S[c, k]
            nw, run = cubics.input_run(ii, nc)  # the inputs themselves: read or gathered by the rows' route
            dmax = cubics.column_bound(G, MT, u, smax * xmax)
        else:
            nw, run = nc, False
            dmax = 0.0
            for c in range(nc):
                i = ii[c]
                flag = False
                for k in range(n_off):
                    r = k * nc + c
                    if moved_column(arch, l, i, j, S[c, k], ZT, HT, AT, ET, MT, colmax, anew, dvec):
                        flag = True
                    for b in range(B):
                        DT[b, r] = dvec[b]
                        dmax = max(dmax, bound(dvec[b]))
                kink[c] = flag
        inputs = (XG, A, i0, ii, nw, run)
        # steps 2-4: the layers above and the loss, every row at once
        scale = const(loss_scale(loss, B, K) * (0.5 if loss == SSE else 1.0), J0)
        t = smax * xmax  # every |s·x_b| of the block is at most this
        m = l + 1
        if m == L - 1:
            wrow = arch[m, W_OFF] + j * K
            wmax = 0.0
            for k in range(K):
                wmax = max(wmax, abs(theta[wrow + k]))
            out = arch[m, ACT]
            if dmax * wmax > cubics.layer_limit(out, J0) or not cubics.weights_keep_sign(out, ZT, oL, K, B, theta,
                                                                                          wrow, dmax):
                return 0
            zmax = dmax * wmax
            quad = zmax <= cubics.quad_limit(out, J0)
        elif deep:
            mid, out = arch[m, ACT], arch[L - 1, ACT]
            if m == L - 2:
                wmax = cubics.hidden_coefficients(theta, arch, m, j, G, MT, C, P)
            else:
                wmax = 0.0
                for v in range(arch[m, N_OUT]):  # (u is the column's unit: the rows read it)
                    wmax = max(wmax, abs(theta[arch[m, W_OFF] + j * arch[m, N_OUT] + v]))
            if dmax * wmax > cubics.layer_limit(mid, J0) or not cubics.weights_keep_sign(
                    mid, ZT, arch[m, OUT_OFF], arch[m, N_OUT], B, theta, arch[m, W_OFF] + j * arch[m, N_OUT], dmax):
                return 0
            if m == L - 2:
                zmax = cubics.output_bound(P, B, dmax)
                if zmax > cubics.layer_limit(out, J0) or not cubics.outputs_keep_sign(out, ZT, oL, P, B, dmax):
                    return 0
            else:  # two or more hidden layers between: their cubics composed, the terms cut bounded
                if not deep_chain.hidden_chain(theta, arch, m, j, G, MT, ZT, P, chain, dmax, J0, True):
                    return 0
                e = deep_chain.output_error(chain, B)
                zmax = cubics.output_bound(P, B, dmax) + e.max()
                if zmax > cubics.layer_limit(out, J0) or not deep_chain.outputs_keep_sign_within(out, ZT, oL, P, B,
                                                                                                 dmax, e):
                    return 0
                if not cubics.series_ok(J0, scale, deep_chain.loss_error(loss, out, G, AT, YT, oL, K, e, zmax)):
                    return 0
            wrow = 0
            quad = zmax <= cubics.quad_limit(out, J0)
        else:  # at most two layers: m is always the last one (this branch is not compiled)
            return 0
        if loss == SOFTMAX_CE or loss == BCE:
            took = _cross_entropy_rows(loss, DT, cubic, SK, nc, inputs, MT, G, u, R, theta, wrow, P, m < L - 1, AT, YT,
                                       oL, K, acc, row, Q, AB, t, J0, scale, zmax)
            if took < 0:
                return 0
            series = took == 1
        elif m == L - 1:
            series = cubics.output_rows(DT, cubic, SK, nc, inputs, MT, u, R, theta, wrow, G, AT, YT, oL, K, quad, acc,
                                        row, Q, AB, t, J0, scale)
        elif deep:
            series = cubics.hidden_output_rows(DT, cubic, SK, nc, inputs, MT, u, R, P, G, AT, YT, oL, K, quad, acc,
                                               row, Q, AB, t, J0, scale)
        else:  # not compiled, as above
            return 0
        for c in range(nc):
            i = ii[c]
            for k in range(n_off):
                s = S[c, k]
                d = scale * acc[k * nc + c]
                if i >= 0 and l2 != 0.0:
                    d += l2_change(theta, arch, l, i, j, s, l2)
                dJ[c, k] = d
        return (2 if quad else 1) + (SERIES_TAKEN if series else 0)

    return column_block


column_block = _column_block_kernel(True)
#: :func:`column_block` for networks of at most two layers (no hidden layer above the column).
shallow_column_block = _column_block_kernel(False)
