"""Blocks of coordinates whose changes go through the layers above as matrix products.

For a block of coordinates of one layer l with at least two layers above it
(l ≤ L − 3), each (coordinate, move) pair is a group of B rows.  Step 1 (the
moved column, :func:`~fastcheck.models.layered.moves.moved_column`) and the
rank-1 update into layer m = l+1, ``ΔZ_m[g·B + b, :] = d_gb·W_m[j, :]``, are taken
group by group; the block's rows are then stacked, ``(rows × n_m)``, and each
layer q above sees them all at once:

    ΔZ_q = ΔA_{q−1}·W_q      (one BLAS product, ``(rows × n_{q−1})·(n_{q−1} × n_q)``)

followed by each row's activations at their new arguments (:func:`_advance_rows`)
and the loss by difference, ``ΔJ_g = scale·Σ_b (ℓ'_b − ℓ_b) + ½·l2·s·(2w + s)``:
a sigmoid output under sse or mse in one pass, unit-major, with a running sum
per sample so that the loop vectorises (:func:`_sigmoid_loss_t`).  The products
are the same sums as the one-at-a-time path's, in a BLAS-3 shape.

The complex step stacks the real and the imaginary parts of its complex rows
into one real product (:func:`_product`).  The loops over a row's units index
with unsigned integers, which spares them Numba's negative-index wraparound
(that select kept LLVM from vectorising them).  The products run inside the
parallel region, so BLAS must be held to one thread
(:func:`fastcheck.config.single_threaded_blas`).
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from fastcheck.config import NET, NET_OVERLOAD, jit, jit_options
from fastcheck.models.backprop import ACT, N_IN, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import IDENTITY, MSE, SIGMOID, SOFTMAX_CE, SSE, TANH, loss_scale, row_loss
from fastcheck.models.layered.cache import locate, matrix_view
from fastcheck.models.layered.moves import (
    exp_small,
    is_kinked,
    l2_change,
    moved_activation,
    moved_column,
    negative_slope,
    output_diff,
    small_limit,
    tanh_small,
)
from fastcheck.models.numeric import bound, const, div, is_complex


def _product(DC, W, DZ, Pf, Qf):
    """``DZ = DC·W`` (a matrix product; ``P``, ``Q``: flat real scratch for a complex ``DC``)."""
    DZ[:] = DC @ W


@overload(_product, jit_options=jit_options(NET_OVERLOAD))
def _product_impl(DC, W, DZ, Pf, Qf):
    if isinstance(DC.dtype, types.Float):
        def impl(DC, W, DZ, Pf, Qf):
            np.dot(DC, W, DZ)

        return impl
    if isinstance(DC.dtype, types.Complex):
        # W is real: the real and imaginary parts, stacked as rows of one real matrix,
        # go through one real product (half the work of a complex one, and exact the same
        # sums as taking the two parts one at a time).
        def impl(DC, W, DZ, Pf, Qf):
            R, n_in = DC.shape
            n_out = DZ.shape[1]
            P = Pf[: 2 * R * n_in].reshape((2 * R, n_in))
            Q = Qf[: 2 * R * n_out].reshape((2 * R, n_out))
            for r in range(R):
                for k in range(n_in):
                    P[r, k] = DC[r, k].real
                    P[R + r, k] = DC[r, k].imag
            np.dot(P, W, Q)
            unit = const(1j, DZ[0, 0])
            for r in range(R):
                for k in range(n_out):
                    DZ[r, k] = Q[r, k] + unit * Q[R + r, k]

        return impl
    return None


@jit(NET)
def _advance_rows(arch, q, DZ, B, Z, H, A, E, M, CUR, DC, gkink):
    """Layer q for stacked rows (row ``r`` is sample ``r % B`` of group ``r // B``) whose
    pre-activations moved by ``DZ`` (``(R, n_q)``, row-major): writes the new activations
    (after dropout) into ``CUR``, their changes into ``DC``, and ``gkink[g]`` when a
    relu/leaky_relu pre-activation of group g changed side of 0.

    The same values as :func:`fastcheck.models.layered.rank1._advance`: a sigmoid or tanh row whose every |δ| is at most
    2⁻¹⁰ (2⁻⁵ in single precision) takes the branch-free polynomial loop, other rows
    :func:`moved_activation` entry by entry.
    """
    n, act, o = arch[q, N_OUT], arch[q, ACT], arch[q, OUT_OFF]
    R = DZ.shape[0]
    one = const(1.0, Z[0, 0])
    limit = small_limit(DZ[0, 0])
    kinked = is_kinked(act)
    slope = negative_slope(act, one)
    # Unsigned column indices: Numba then skips its negative-index wraparound, and LLVM
    # vectorises the loops over a row's units (row slices would cost a reference count each).
    nu, ou = np.uint64(n), np.uint64(o)
    for r in range(R):
        b = r % B
        if act == SIGMOID or act == TANH:
            # the polynomial route for the whole row, counting the moves too large for it;
            # such a row is redone entry by entry below
            big = 0
            if act == SIGMOID:
                for k in range(nu):
                    u = ou + k
                    a = div(M[b, u], one + E[b, u] * exp_small(-DZ[r, k]))
                    CUR[r, k] = a
                    DC[r, k] = a - A[b, u]
                    big += bound(DZ[r, k]) > limit
            else:
                for k in range(nu):
                    u = ou + k
                    t = tanh_small(DZ[r, k])
                    a = M[b, u] * div(H[b, u] + t, one + H[b, u] * t)
                    CUR[r, k] = a
                    DC[r, k] = a - A[b, u]
                    big += bound(DZ[r, k]) > limit
            if big == 0:
                continue
        if kinked or act == IDENTITY:
            crossed = 0
            for k in range(nu):
                u = ou + k
                z0 = Z[b, u]
                z = z0 + DZ[r, k]
                a = M[b, u] * (z if z.real > 0.0 else slope * z)
                CUR[r, k] = a
                DC[r, k] = a - A[b, u]
                crossed += (z.real > 0.0) != (z0 > 0.0)
            if kinked and crossed > 0:
                gkink[r // B] = True
        else:
            for k in range(nu):
                u = ou + k
                a = moved_activation(Z[b, u], H[b, u], E[b, u], DZ[r, k], act) * M[b, u]
                CUR[r, k] = a
                DC[r, k] = a - A[b, u]


@jit(NET)
def _sigmoid_loss_t(DZT, B, ZT, HT, ET, AT, YT, oL, loss, total, acc):
    """``total[g] += Σ_b Σ_k ℓ(σ(z + δ)) − ℓ(σ(z))`` for a sigmoid output (no dropout there)
    under sse or mse, from the unit-major moves ``DZT`` (``(K, rows)``, row ``g·B + b``).

    Unit by unit over the batch, with a sum per sample in ``acc`` (``(2, B)`` scratch: a
    scalar running sum would chain every addition to the last and keep the loop from
    vectorising), and the values :func:`_advance_rows` gives: the polynomial route when
    every |δ| of the (unit, group) run is small enough, else :func:`moved_activation` entry by entry.
    """
    K, R = DZT.shape
    one = const(1.0, ZT[0, 0])
    two = const(2.0, ZT[0, 0])
    half = const(0.5 if loss == SSE else 1.0, ZT[0, 0])  # as output_diff (×1 is exact), hoisted
    limit = small_limit(DZT[0, 0])
    Bu = np.uint64(B)
    for g in range(R // B):
        base = np.uint64(g * B)
        for b in range(Bu):
            acc[0, b] = 0.0
        for k in range(K):
            u = oL + k
            big = 0
            for b in range(Bu):
                dz = DZT[k, base + b]
                a = div(one, one + ET[u, b] * exp_small(-dz))
                d = (a - AT[u, b]) * (a + AT[u, b] - two * YT[k, b])
                acc[1, b] = half * d
                big += bound(dz) > limit
            if big > 0:
                for b in range(Bu):
                    a = moved_activation(ZT[u, b], HT[u, b], ET[u, b], DZT[k, base + b], SIGMOID)
                    acc[1, b] = output_diff(a, AT[u, b], YT[k, b], loss)
            for b in range(Bu):
                acc[0, b] += acc[1, b]
        for b in range(B):
            total[g] += acc[0, b]


@jit(NET)
def gemm_scratch(B, width, rows, zero, real):
    """A block's scratch: ``(D, anew, acc, DZ, CUR, DC, P, Q, total, gkink)``: the groups' column
    changes ``(groups, B)``, one column, two rows of per-sample sums, three flat ``rows × width`` buffers in the type of
    ``zero``, two real ``2·rows × width`` buffers (the planes of a complex product; empty for
    a real one), the groups' loss sums and kink flags."""
    G = max(1, rows // B)
    n = rows * width
    planes = 2 * n if is_complex(zero) else 0
    return (np.full((G, B), zero), np.full(B, zero), np.full((2, B), zero), np.full(n, zero), np.full(n, zero),
            np.full(n, zero),
            np.full(planes, real), np.full(planes, real), np.full(G, zero), np.zeros(G, np.bool_))


@jit(NET)
def gemm_block(theta, Y, arch, loss, l2, cache, coords, t0, t1, S, dJ, kink, scratch):
    """``dJ[t − t0, k] = J(θ + S[t − t0, k]·e_{coords[t]}) − J(θ)`` for a block of coordinates
    of one layer l ≤ L − 3, and ``kink[t − t0]``.

    Each (coordinate, move) is a group of B rows.  Step 1 and the rank-1 update into layer
    l+1 are taken group by group; the layers above l+1 then see all the block's rows at once,
    ``DZ_q = ΔA_{q−1}·W_q`` as one matrix product of ``(rows × n_{q−1})·(n_{q−1} × n_q)``
    (BLAS), followed by each row's activations; the loss by difference, group by group.
    The blocks are cut from ``coords`` alone (see :func:`fastcheck.models.layered.plan.plan_blocks`), so every row goes
    through the same operations, products included, whatever the thread count.
    """
    Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0 = cache
    D, anew, acc, DZf, CURf, DCf, Pf, Qf, total, gkink = scratch
    L = arch.shape[0]
    B = Z.shape[0]
    K = arch[L - 1, N_OUT]
    oL = arch[L - 1, OUT_OFF]
    n_off = S.shape[1]
    nc = t1 - t0
    G = nc * n_off
    R = G * B
    l = locate(arch, coords[t0])[0]
    m = l + 1
    n1, w1 = arch[m, N_OUT], arch[m, W_OFF]
    DZ = matrix_view(DZf, R, n1)
    for g in range(G):
        gkink[g] = False
    # steps 1-2 per group: the moved column, then the rank-1 update DZ_m[b, :] = d_b·W_m[j, :]
    for c in range(nc):
        _, _, i, j = locate(arch, coords[t0 + c])
        row = w1 + j * n1
        for k in range(n_off):
            g = c * n_off + k
            if moved_column(arch, l, i, j, S[c, k], ZT, HT, AT, ET, MT, colmax, anew, D[g]):
                gkink[g] = True
            for b in range(B):
                d = D[g, b]
                r = g * B + b
                for u in range(np.uint64(n1)):
                    DZ[r, u] = d * theta[np.uint64(row) + u]
    CUR = matrix_view(CURf, R, n1)
    DC = matrix_view(DCf, R, n1)
    _advance_rows(arch, m, DZ, B, Z, H, A, E, M, CUR, DC, gkink)
    for g in range(G):
        total[g] = 0.0
    # a sigmoid output under a squared loss: the last product's rows turned unit-major, then
    # its activations and the loss difference in one pass over the batch (_sigmoid_loss_t)
    fused = arch[L - 1, ACT] == SIGMOID and (loss == SSE or loss == MSE)
    # step 3: the layers above, each one product over the block's rows
    for q in range(m + 1, L):
        n_in, n_out, w0 = arch[q, N_IN], arch[q, N_OUT], arch[q, W_OFF]
        W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        DZ = matrix_view(DZf, R, n_out)
        _product(DC, W, DZ, Pf, Qf)
        if q == L - 1 and fused:
            DZT = matrix_view(CURf, n_out, R)  # unit-major (cheaper than a transposed product)
            for r in range(R):
                for k in range(n_out):
                    DZT[k, r] = DZ[r, k]
            _sigmoid_loss_t(DZT, B, ZT, HT, ET, AT, YT, oL, loss, total, acc)
            break
        CUR = matrix_view(CURf, R, n_out)
        DC = matrix_view(DCf, R, n_out)
        _advance_rows(arch, q, DZ, B, Z, H, A, E, M, CUR, DC, gkink)
    # step 4: the loss by difference, row by row, summed per group in sample order
    for r in range(0 if fused else R):
        b = r % B
        if loss == SOFTMAX_CE:
            moved = False
            for k in range(K):
                moved = moved or DC[r, k] != 0.0
            if moved:
                total[r // B] += row_loss(CUR[r, :K], Y[b], loss) - rowloss[b]
        else:
            acc = const(0.0, total[0])
            for k in range(np.uint64(K)):
                acc += output_diff(CUR[r, k], A[b, np.uint64(oL) + k], Y[b, k], loss)
            total[r // B] += acc
    scale = loss_scale(loss, B, K)
    for c in range(nc):
        _, _, i, j = locate(arch, coords[t0 + c])
        flag = False
        for k in range(n_off):
            g = c * n_off + k
            s = S[c, k]
            d = const(scale, total[g]) * total[g]
            if i >= 0 and l2 != 0.0:
                d += l2_change(theta, arch, l, i, j, s, l2)
            dJ[c, k] = d
            flag = flag or gkink[g]
        kink[c] = flag
