"""Structure-aware perturbed costs of the built-in dense networks.

The black-box kernel pays a full forward pass for every J(θ ± h·e_i).  For a
dense network most of that pass is the unperturbed one: moving ``W_l[i, j]``
(or ``b_l[j]``) by ``s`` changes only column ``j`` of layer l's
pre-activations, by ``s·A_{l−1}[:, i]`` (``s`` for a bias).  So, with the
unperturbed forward pass cached, each perturbed cost is recomputed exactly as

1. column ``j`` of layer l:  ``z'_b = Z_l[b, j] + s·x_b``, ``a'_b = act(z'_b)·M[b, j]``,
   ``d_b = a'_b − A_l[b, j]``  (B activations);
2. a rank-1 update into layer l+1: ``Z'_{l+1}[b, :] = Z_{l+1}[b, :] + d_b·W_{l+1}[j, :]``
   for the samples with ``d_b ≠ 0``, and its activations;
3. the remaining layers of those samples, through their changes:
   ``Z'_q[b, :] = Z_q[b, :] + ΔA_{q−1}[b, :]·W_q`` (units that did not move are skipped);
4. the loss by difference, ``J' = J + scale·Σ_b (ℓ'_b − ℓ_b) + ½·l2·s·(2w + s)``,
   with the exact identity ``(y − a')² − (y − a)² = (a' − a)(a' + a − 2y)`` for
   sse and mse.

Every J(θ + s·e_i) is the cost at the perturbed point, recomputed to
rounding: the pre-activations are linear in θ, so steps 1-3 are exact, and
every activation is evaluated at its new argument, nothing is linearised.
The perturbation applied is the one the black-box kernel applies,
``s = fl(θ_i + c·h) − θ_i``.

Sigmoid and tanh take a faster exact route for a move ``δ`` of the
pre-activation with ``|δ| ≤ 2⁻¹⁰`` (2⁻⁵ in single precision): with ``E = e^(−z)`` and ``h = tanh z``
cached, ``σ(z + δ) = 1 / (1 + E·e^(−δ))`` and ``tanh(z + δ) = (h + tanh δ) /
(1 + h·tanh δ)``, where ``e^(−δ)`` and ``tanh δ`` are their Taylor polynomials
(degree 4 and 5), whose truncation errors (below 7.5e-18 and 5e-20
relative) are under double rounding: the same value to an ulp or two,
without a call to ``exp`` or ``tanh``.  Larger moves take the plain formula.

Kinks: for relu and leaky_relu layers, a coordinate is flagged when some
pre-activation changes side of 0 between θ and any perturbed point.

Precision: everything computes in θ's dtype (float64 or float32, literals
typed by :func:`fastcheck.models.numeric.const`), one compiled
specialisation each.  The complex step (:func:`layered_complex_step`) runs
the same code with the move ``s = i·h``: the cached pass stays real, the
changed column and all downstream of it are complex (complex128, or
complex64 for float32), and ``Im ΔJ`` is the result, with no subtraction.
Its divisions have a denominator whose real part dominates (``1 + E·e^(−δ)``,
``1 + h·tanh δ`` with |δ| ≤ 2⁻¹⁰), so they use Smith's formula on that
branch alone (:func:`fastcheck.models.numeric.div`), and the smallness tests
bound |δ| by |Re δ| + |Im δ|: both branch-free, so the loops vectorise as
the real ones do.

Columns: when the one or two layers above layer l are all sigmoid and the
loss is sse or mse (:func:`_column_path`), every coordinate of column j of
layer l (``W_l[:, j]`` and ``b_l[j]``) moves the rest of the network through
the column's change ``D_b`` alone, and each sigmoid above changes by a cubic
in its move whose remainder is under rounding
(:mod:`fastcheck.models.columns`).  Such coordinates are taken a column at a
time (:func:`_column_block`): the column's changes of all its coordinates and
moves stacked, ``(B × rows)``, then the layers above and the loss in loops
over the rows (no division, no exp, vectorised), with the second layer's
products ``C_n·W_q`` taken once per column.  A block whose moves are too
large for the cubics (bounded before any row is computed) takes the paths
below.

Blocks of coordinates (the thread count does not enter).  ``coords`` is
regrouped by a stable sort on (layer, column on the column path) and cut
into blocks (:func:`_plan`): runs of coordinates of one layer (one column on
the column path), about :data:`BLOCK_ROWS` rows long (a row is one sample of
one coordinate at one move), :data:`COLUMN_ENTRIES` on the column path.
For a coordinate of layer l with at least two layers above it, the
block stacks the changed activations of layer l+1 of all its (coordinate,
move) pairs, ``(rows × n_{l+1})``, and pushes them through each layer above
as one matrix product ``ΔA_{q−1}·W_q`` (BLAS; a BLAS-3 shape instead of one
small update per coordinate), then each row's activations and the loss by
difference (a sigmoid output under sse or mse in one pass, unit-major, with
a running sum per sample so that the loop vectorises).  The complex step
stacks the real and the imaginary parts of its complex rows into one real
product.  Coordinates of the last two layers go
one at a time as above (a rank-1 update, no product).

Parallel over blocks, interleaved (chunk ``c`` takes blocks ``c, c + n_chunks,
…``, which balances the costlier first-layer coordinates); each chunk owns its
scratch (O(block rows · width), plus O(batch · width) for the one-at-a-time
path and O(:data:`COLUMN_ENTRIES` + batch · width) for the column path), and
every block runs the same operations whatever the thread count,
so the results are identical for any number of threads.  The products run
inside the parallel region, so BLAS must be held to one thread
(:class:`fastcheck.evaluators.structured.LayeredEvaluator` does; see
:func:`fastcheck.config.single_threaded_blas`).  The loops that divide
vectorise because the network code uses NumPy's error model (no
ZeroDivisionError check; see :data:`fastcheck.models.functions.NET`), and
the block's loops over a row's units index with unsigned integers, which
spares them Numba's negative-index wraparound (that select kept LLVM from
vectorising them).
"""
from __future__ import annotations

import numpy as np
from numba import prange, types
from numba.extending import overload

from fastcheck.config import NET_OVERLOAD, jit, jit_options
from fastcheck.models import columns
from fastcheck.models.backprop import (
    ACT,
    B_OFF,
    IN_OFF,
    N_IN,
    N_OUT,
    OUT_OFF,
    W_OFF,
    data_loss,
    forward,
    l2_penalty,
)
from fastcheck.models.functions import (
    BCE,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    MSE,
    NET,
    NET_PARALLEL,
    RELU,
    SIGMOID,
    SOFTMAX_CE,
    SSE,
    TANH,
    activate,
    loss_scale,
    row_loss,
    softplus,
)
from fastcheck.models.numeric import bound, const, div, is_complex, is_single

#: Largest |δ| for which e^(−δ) and tanh δ are taken from their Taylor
#: polynomials in double precision (truncation below 7.5e-18 resp. 5e-20 relative) ...
SMALL = 2.0**-10
#: ... and in single precision (2⁻⁵: truncation below 2.5e-10 resp. 6e-11
#: relative, far under float32's 6e-8), so that float32's larger steps
#: (ε_mach^⅓ ≈ 5e-3 for central) still take the polynomial route.
SMALL32 = 2.0**-5


@jit(NET)
def _small(x):
    """The polynomial route's limit on |δ| in the precision of ``x``."""
    return SMALL32 if is_single(x) else SMALL


@jit(NET)
def _exp_small(x):
    """e^x for |x| ≤ 2⁻¹⁰: 1 + x + x²/2 + x³/6 + x⁴/24 (truncation < 7.5e-18 relative;
    < 2.5e-10 for |x| ≤ 2⁻⁵, the single-precision limit)."""
    one = const(1.0, x)
    return one + x * (one + x * (const(0.5, x) + x * (const(1.0 / 6.0, x) + x * const(1.0 / 24.0, x))))


@jit(NET)
def _tanh_small(x):
    """tanh x for |x| ≤ 2⁻¹⁰: x − x³/3 + 2x⁵/15 (truncation 17x⁷/315 < 5e-20 relative;
    < 6e-11 for |x| ≤ 2⁻⁵, the single-precision limit)."""
    x2 = x * x
    return x * (const(1.0, x) + x2 * (const(-1.0 / 3.0, x) + x2 * const(2.0 / 15.0, x)))


@jit(NET)
def _kinked(code):
    return code == RELU or code == LEAKY_RELU


@jit(NET)
def _moved(z0, h0, e0, delta, act):
    """act(z0 + δ), from the cached z0, h0 = act(z0) and e0 = e^(−z0).

    For |δ| ≤ 2⁻¹⁰ (2⁻⁵ in single precision): σ(z0 + δ) = 1 / (1 + e0·e^(−δ)) and
    tanh(z0 + δ) = (h0 + tanh δ) / (1 + h0·tanh δ), with the small-argument
    polynomials (exact to rounding); otherwise the activation itself.
    """
    if bound(delta) <= _small(delta):
        one = const(1.0, delta)
        if act == SIGMOID:
            return div(one, one + e0 * _exp_small(-delta))
        if act == TANH:
            t = _tanh_small(delta)
            return div(h0 + t, one + h0 * t)
    return activate(z0 + delta, act)


@jit(NET)
def forward_cache(theta, X, Y, arch, loss, l2, mask):
    """The unperturbed pass, kept in the forms the kernel reads.

    Returns ``(Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0)``:
    row-major ``(B, T)`` pre-activations, activations before and after
    dropout, ``E = e^(−Z)`` and the dropout factors; their unit-major transposes ``(T, B)``
    (``AT`` starts with Xᵀ), the mask's and the targets' (``(K, B)``); the
    unnormalised loss of each sample; ``colmax[u] = max_b |AT[u, b]|``; and
    J(θ), rounded exactly as the black-box cost.
    """
    Z, H, A = forward(theta, X, arch, mask)
    B, T = A.shape
    E = np.exp(-Z)
    ZT = np.ascontiguousarray(Z.T)
    HT = np.ascontiguousarray(H.T)
    AT = np.ascontiguousarray(A.T)
    ET = np.ascontiguousarray(E.T)
    MT = np.ascontiguousarray(mask.T)
    YT = np.ascontiguousarray(Y.T)
    L = arch.shape[0]
    o0, K = arch[L - 1, OUT_OFF], arch[L - 1, N_OUT]
    rowloss = np.empty(B, Z.dtype)
    for b in range(B):
        rowloss[b] = row_loss(A[b, o0 : o0 + K], Y[b], loss)
    colmax = np.zeros(T)
    for u in range(T):
        m = 0.0
        for b in range(B):
            m = max(m, abs(AT[u, b]))
        colmax[u] = m
    J0 = data_loss(A, Y, arch, loss) + l2_penalty(theta, arch, l2)
    return Z, H, A, E, mask, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0


@jit(NET)
def locate(arch, c):
    """``(layer, is_bias, i, j)`` of flat coordinate ``c`` (``i = -1`` for a bias)."""
    for l in range(arch.shape[0]):
        n_in, n_out = arch[l, N_IN], arch[l, N_OUT]
        w0, b0 = arch[l, W_OFF], arch[l, B_OFF]
        if w0 <= c < w0 + n_in * n_out:
            return l, False, (c - w0) // n_out, (c - w0) % n_out
        if b0 >= 0 and b0 <= c < b0 + n_out:
            return l, True, -1, c - b0
    return -1, False, -1, -1


@jit(NET)
def _column(arch, l, i, j, s, ZT, HT, AT, ET, MT, colmax, anew, dvec):
    """Step 1: column j of layer l after the move ``s`` of W_l[i, j] (``i < 0``: b_l[j]).

    Writes ``anew`` (the column's new activations, after dropout) and
    ``dvec = anew − A_l[:, j]``; returns whether a pre-activation changed side
    of a kink.  Sigmoid and tanh columns whose every |δ_b| = |s·x_b| is at
    most 2⁻¹⁰ (2⁻⁵ in single precision) take branch-free loops (they vectorise).
    """
    act = arch[l, ACT]
    u = arch[l, OUT_OFF] + j
    xu = arch[l, IN_OFF] + i
    B = ZT.shape[1]
    one = const(1.0, ZT[0, 0])  # real, also in the complex step
    small = bound(s) * (1.0 if i < 0 else colmax[xu]) <= _small(s)
    if small and act == SIGMOID:
        for b in range(B):
            delta = s * (one if i < 0 else AT[xu, b])
            anew[b] = div(MT[u, b], one + ET[u, b] * _exp_small(-delta))
            dvec[b] = anew[b] - AT[u, b]
        return False
    if small and act == TANH:
        for b in range(B):
            t = _tanh_small(s * (one if i < 0 else AT[xu, b]))
            anew[b] = MT[u, b] * div(HT[u, b] + t, one + HT[u, b] * t)
            dvec[b] = anew[b] - AT[u, b]
        return False
    if _kinked(act) or act == IDENTITY:
        slope = const(0.0 if act == RELU else (LEAKY_SLOPE if act == LEAKY_RELU else 1.0), one)
        crossed = 0
        for b in range(B):
            z0 = ZT[u, b]
            z = z0 + s * (one if i < 0 else AT[xu, b])
            anew[b] = MT[u, b] * (z if z.real > 0.0 else slope * z)
            dvec[b] = anew[b] - AT[u, b]
            crossed += (z.real > 0.0) != (z0 > 0.0)
        return _kinked(act) and crossed > 0
    for b in range(B):
        delta = s * (one if i < 0 else AT[xu, b])
        anew[b] = _moved(ZT[u, b], HT[u, b], ET[u, b], delta, act) * MT[u, b]
        dvec[b] = anew[b] - AT[u, b]
    return False


@jit(NET)
def _advance(arch, q, DZ, ZT, HT, AT, ET, MT, CUR, DC, moved):
    """Layer q after its pre-activations moved by ``DZ`` (unit-major, ``(n_q, B)``):
    writes the new activations (after dropout) into ``CUR`` and their changes
    into ``DC``, and ``moved[k]`` = unit k changed on some sample; returns
    whether a pre-activation changed side of a kink.

    When every |δ| ≤ 2⁻¹⁰ (2⁻⁵ in single precision), sigmoid and tanh layers take branch-free loops over
    the batch (they vectorise).  A sample whose δ is 0 gets its cached
    activation back exactly.
    """
    n, act, o = arch[q, N_OUT], arch[q, ACT], arch[q, OUT_OFF]
    B = DZ.shape[1]
    one = const(1.0, ZT[0, 0])
    big = 0.0
    limit = _small(DZ[0, 0])
    for k in range(n):
        for b in range(B):
            big = max(big, bound(DZ[k, b]))
    kink = False
    kinked = _kinked(act)
    for k in range(n):
        u = o + k
        if big <= limit and act == SIGMOID:
            for b in range(B):
                a = div(MT[u, b], one + ET[u, b] * _exp_small(-DZ[k, b]))
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        elif big <= limit and act == TANH:
            for b in range(B):
                t = _tanh_small(DZ[k, b])
                a = MT[u, b] * div(HT[u, b] + t, one + HT[u, b] * t)
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        elif kinked or act == IDENTITY:
            # piecewise linear: branch-free selects, the kink test counted alongside
            slope = const(0.0 if act == RELU else (LEAKY_SLOPE if act == LEAKY_RELU else 1.0), one)
            crossed = 0
            for b in range(B):
                z0 = ZT[u, b]
                z = z0 + DZ[k, b]
                a = MT[u, b] * (z if z.real > 0.0 else slope * z)
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
                crossed += (z.real > 0.0) != (z0 > 0.0)
            if kinked and crossed > 0:
                kink = True
        else:
            for b in range(B):
                a = _moved(ZT[u, b], HT[u, b], ET[u, b], DZ[k, b], act) * MT[u, b]
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        flag = False
        for b in range(B):
            flag = flag or DC[k, b] != 0.0
        moved[k] = flag
    return kink


@jit(NET)
def _output_diff(a_new, a_old, y, loss):
    """Unnormalised loss change of one output entry for the separable losses."""
    if loss == BCE:
        return softplus(a_new) - softplus(a_old) - y * (a_new - a_old)
    d = (a_new - a_old) * (a_new + a_old - const(2.0, y) * y)
    return const(0.5, d) * d if loss == SSE else d


@jit(NET)
def perturbed_delta(theta, Y, arch, loss, l2, cache, l, i, j, s, anew, dvec, acc, cur, moved, DZ, CUR, DC):
    """J(θ + s·e_c) − J(θ) for the coordinate ``(l, i, j)`` (see the module doc).

    Returns ``(ΔJ, kink)``.  ``cache`` is :func:`forward_cache`'s tuple.
    Scratch: ``anew``, ``dvec``, ``acc`` of the batch size; ``cur`` and
    ``moved`` of the widest layer; ``DZ``, ``CUR``, ``DC`` of (widest layer,
    batch), unit-major.
    """
    Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0 = cache
    L = arch.shape[0]
    B = Z.shape[0]
    K = arch[L - 1, N_OUT]
    oL = arch[L - 1, OUT_OFF]
    kink = _column(arch, l, i, j, s, ZT, HT, AT, ET, MT, colmax, anew, dvec)
    one = const(1.0, ZT[0, 0])
    total = const(0.0, s)
    if l == L - 1:
        # the output column itself moved
        for b in range(B):
            if dvec[b] == 0.0:
                continue
            if loss == SOFTMAX_CE:
                for k in range(K):
                    cur[k] = A[b, oL + k]
                cur[j] = anew[b]
                total += row_loss(cur[:K], Y[b], loss) - rowloss[b]
            else:
                total += _output_diff(anew[b], AT[oL + j, b], Y[b, j], loss)
    else:
        m = l + 1
        n1, act1 = arch[m, N_OUT], arch[m, ACT]
        o1, wrow = arch[m, OUT_OFF], arch[m, W_OFF] + j * n1
        dmax = 0.0
        wmax = 0.0
        for b in range(B):
            dmax = max(dmax, bound(dvec[b]))
        for k in range(n1):
            wmax = max(wmax, abs(theta[wrow + k]))
        if m == L - 1 and act1 == SIGMOID and (loss == SSE or loss == MSE) and dmax * wmax <= _small(s):
            # sigmoid output, squared loss: the rank-1 update and the loss difference in one
            # pass, unit by unit over the batch (contiguous, so it vectorises); acc[b] holds
            # sample b's sum over the units.  A sample with d_b = 0 adds exactly 0.
            for b in range(B):
                acc[b] = 0.0
            for k in range(n1):
                w = theta[wrow + k]
                u = o1 + k
                for b in range(B):
                    a_new = div(one, one + ET[u, b] * _exp_small(-dvec[b] * w))
                    a_old = AT[u, b]
                    acc[b] += (a_new - a_old) * (a_new + a_old - const(2.0, a_old) * YT[k, b])
            for b in range(B):
                total += acc[b]
            if loss == SSE:
                total *= const(0.5, total)
        else:
            # step 2: rank-1 update of layer m, DZ[k, b] = d_b·W_m[j, k]
            for k in range(n1):
                w = theta[wrow + k]
                for b in range(B):
                    DZ[k, b] = dvec[b] * w
            kink |= _advance(arch, m, DZ, ZT, HT, AT, ET, MT, CUR, DC, moved)
            # step 3: the remaining layers by their changes, DZ_q = ΔA_{q−1}·W_q
            # (inputs that moved on no sample are skipped)
            for q in range(m + 1, L):
                n_in, n_out, w0 = arch[q, N_IN], arch[q, N_OUT], arch[q, W_OFF]
                for k in range(n_out):
                    for b in range(B):
                        DZ[k, b] = 0.0
                for r in range(n_in):
                    if not moved[r]:
                        continue
                    row = w0 + r * n_out
                    for k in range(n_out):
                        w = theta[row + k]
                        for b in range(B):
                            DZ[k, b] += DC[r, b] * w
                kink |= _advance(arch, q, DZ, ZT, HT, AT, ET, MT, CUR, DC, moved)
            # step 4: the loss, by difference, sample by sample
            if loss == SOFTMAX_CE:
                for b in range(B):
                    moved_b = False
                    for k in range(K):
                        cur[k] = CUR[k, b]
                        moved_b = moved_b or DC[k, b] != 0.0
                    if moved_b:
                        total += row_loss(cur[:K], Y[b], loss) - rowloss[b]
            else:
                for b in range(B):
                    acc[b] = 0.0
                for k in range(K):
                    u = oL + k
                    for b in range(B):
                        acc[b] += _output_diff(CUR[k, b], AT[u, b], YT[k, b], loss)
                for b in range(B):
                    total += acc[b]
    dJ = const(loss_scale(loss, B, K), total) * total
    if i >= 0 and l2 != 0.0:
        w = theta[arch[l, W_OFF] + i * arch[l, N_OUT] + j]
        dJ += const(0.5, s) * l2 * s * (const(2.0, w) * w + s)
    return dJ, kink


@jit(NET)
def _width(arch):
    width = 1
    for l in range(arch.shape[0]):
        width = max(width, arch[l, N_OUT])
    return width


@jit(NET)
def _scratch(B, width, zero):
    """One chunk's scratch, in the type of ``zero``: ``(anew, dvec, acc, cur, moved, DZ, CUR, DC)``."""
    return (np.full(B, zero), np.full(B, zero), np.full(B, zero), np.full(width, zero),
            np.zeros(width, np.bool_), np.full((width, B), zero), np.full((width, B), zero),
            np.full((width, B), zero))


# -- coordinate blocks: the layers above as matrix products ---------------------------------
#: Rows (coordinate × offset × sample) one block stacks for its matrix products: a few
#: hundred rows keep each thread's stacked activations (rows × width) in its L2 cache
#: while the products have BLAS-3 shapes.
BLOCK_ROWS = 256


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
def _rows(flat, R, n):
    """The first ``R·n`` entries of a flat scratch buffer as a C-contiguous ``(R, n)`` matrix."""
    return flat[: R * n].reshape((R, n))


@jit(NET)
def _advance_rows(arch, q, DZ, B, Z, H, A, E, M, CUR, DC, gkink):
    """Layer q for stacked rows (row ``r`` is sample ``r % B`` of group ``r // B``) whose
    pre-activations moved by ``DZ`` (``(R, n_q)``, row-major): writes the new activations
    (after dropout) into ``CUR``, their changes into ``DC``, and ``gkink[g]`` when a
    relu/leaky_relu pre-activation of group g changed side of 0.

    The same values as :func:`_advance`: a sigmoid or tanh row whose every |δ| is at most
    2⁻¹⁰ (2⁻⁵ in single precision) takes the branch-free polynomial loop, other rows
    :func:`_moved` entry by entry.
    """
    n, act, o = arch[q, N_OUT], arch[q, ACT], arch[q, OUT_OFF]
    R = DZ.shape[0]
    one = const(1.0, Z[0, 0])
    limit = _small(DZ[0, 0])
    kinked = _kinked(act)
    slope = const(0.0 if act == RELU else (LEAKY_SLOPE if act == LEAKY_RELU else 1.0), one)
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
                    a = div(M[b, u], one + E[b, u] * _exp_small(-DZ[r, k]))
                    CUR[r, k] = a
                    DC[r, k] = a - A[b, u]
                    big += bound(DZ[r, k]) > limit
            else:
                for k in range(nu):
                    u = ou + k
                    t = _tanh_small(DZ[r, k])
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
                a = _moved(Z[b, u], H[b, u], E[b, u], DZ[r, k], act) * M[b, u]
                CUR[r, k] = a
                DC[r, k] = a - A[b, u]


@jit(NET)
def _sigmoid_loss_t(DZT, B, ZT, HT, ET, AT, YT, oL, loss, total, acc):
    """``total[g] += Σ_b Σ_k ℓ(σ(z + δ)) − ℓ(σ(z))`` for a sigmoid output (no dropout there)
    under sse or mse, from the unit-major moves ``DZT`` (``(K, rows)``, row ``g·B + b``).

    Unit by unit over the batch, with a sum per sample in ``acc`` (``(2, B)`` scratch: a
    scalar running sum would chain every addition to the last and keep the loop from
    vectorising), and the values :func:`_advance_rows` gives: the polynomial route when
    every |δ| of the (unit, group) run is small enough, else :func:`_moved` entry by entry.
    """
    K, R = DZT.shape
    one = const(1.0, ZT[0, 0])
    two = const(2.0, ZT[0, 0])
    half = const(0.5 if loss == SSE else 1.0, ZT[0, 0])  # as _output_diff (×1 is exact), hoisted
    limit = _small(DZT[0, 0])
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
                a = div(one, one + ET[u, b] * _exp_small(-dz))
                d = (a - AT[u, b]) * (a + AT[u, b] - two * YT[k, b])
                acc[1, b] = half * d
                big += bound(dz) > limit
            if big > 0:
                for b in range(Bu):
                    a = _moved(ZT[u, b], HT[u, b], ET[u, b], DZT[k, base + b], SIGMOID)
                    acc[1, b] = _output_diff(a, AT[u, b], YT[k, b], loss)
            for b in range(Bu):
                acc[0, b] += acc[1, b]
        for b in range(B):
            total[g] += acc[0, b]


@jit(NET)
def _gemm_scratch(B, width, rows, zero, real):
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
def _gemm_block(theta, Y, arch, loss, l2, cache, coords, t0, t1, S, dJ, kink, scratch):
    """``dJ[t − t0, k] = J(θ + S[t − t0, k]·e_{coords[t]}) − J(θ)`` for a block of coordinates
    of one layer l ≤ L − 3, and ``kink[t − t0]``.

    Each (coordinate, move) is a group of B rows.  Step 1 and the rank-1 update into layer
    l+1 are taken group by group; the layers above l+1 then see all the block's rows at once,
    ``DZ_q = ΔA_{q−1}·W_q`` as one matrix product of ``(rows × n_{q−1})·(n_{q−1} × n_q)``
    (BLAS), followed by each row's activations; the loss by difference, group by group.
    The blocks are cut from ``coords`` alone (see :func:`_plan`), so every row goes
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
    DZ = _rows(DZf, R, n1)
    for g in range(G):
        gkink[g] = False
    # steps 1-2 per group: the moved column, then the rank-1 update DZ_m[b, :] = d_b·W_m[j, :]
    for c in range(nc):
        _, _, i, j = locate(arch, coords[t0 + c])
        row = w1 + j * n1
        for k in range(n_off):
            g = c * n_off + k
            if _column(arch, l, i, j, S[c, k], ZT, HT, AT, ET, MT, colmax, anew, D[g]):
                gkink[g] = True
            for b in range(B):
                d = D[g, b]
                r = g * B + b
                for u in range(np.uint64(n1)):
                    DZ[r, u] = d * theta[np.uint64(row) + u]
    CUR = _rows(CURf, R, n1)
    DC = _rows(DCf, R, n1)
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
        DZ = _rows(DZf, R, n_out)
        _product(DC, W, DZ, Pf, Qf)
        if q == L - 1 and fused:
            DZT = _rows(CURf, n_out, R)  # unit-major (cheaper than a transposed product)
            for r in range(R):
                for k in range(n_out):
                    DZT[k, r] = DZ[r, k]
            _sigmoid_loss_t(DZT, B, ZT, HT, ET, AT, YT, oL, loss, total, acc)
            break
        CUR = _rows(CURf, R, n_out)
        DC = _rows(DCf, R, n_out)
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
                acc += _output_diff(CUR[r, k], A[b, np.uint64(oL) + k], Y[b, k], loss)
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
                w = theta[arch[l, W_OFF] + i * arch[l, N_OUT] + j]
                d += const(0.5, s) * l2 * s * (const(2.0, w) * w + s)
            dJ[c, k] = d
            flag = flag or gkink[g]
        kink[c] = flag


@jit(NET)
def _block_size(n_moves, B):
    """Coordinates per block: about :data:`BLOCK_ROWS` stacked rows (at least one coordinate)."""
    return max(1, BLOCK_ROWS // (n_moves * B))


#: Entries (row × sample) of one column block's stacked changes ``D`` (see
#: :mod:`fastcheck.models.columns`): 512 KB in double precision, rows of a few
#: hundred coordinates at batch 64, whose inner loops stay in the L1/L2 caches.
COLUMN_ENTRIES = 65536


@jit(NET)
def _longest(starts):
    """The number of coordinates of the longest block (at least one)."""
    longest = 1
    for b in range(starts.shape[0] - 1):
        longest = max(longest, starts[b + 1] - starts[b])
    return longest


@jit(NET)
def _column_size(n_moves, B):
    """Coordinates per column block (at least one)."""
    return max(1, COLUMN_ENTRIES // (n_moves * B))


@jit(NET)
def _column_path(arch, loss, l):
    """Whether the coordinates of layer l take the column path (:mod:`fastcheck.models.columns`):
    one or two layers above l, all of them sigmoid, under sse or mse."""
    L = arch.shape[0]
    above = L - 1 - l
    if above < 1 or above > 2 or not (loss == SSE or loss == MSE):
        return False
    for q in range(l + 1, L):
        if arch[q, ACT] != SIGMOID:
            return False
    return True


@jit(NET)
def _plan(arch, loss, coords, n_moves, B):
    """``(order, starts)``: the order in which the coordinates are taken and the start indices
    (and the end) of the blocks, runs of ``coords[order]``.

    A block holds coordinates of one layer, at most :func:`_block_size` of them; for a
    layer on the column path, of one column ``j`` (``W_l[:, j]`` and ``b_l[j]``), at most
    :func:`_column_size`.  ``order`` is a stable sort by (layer, column on the column
    path), so both are functions of ``coords`` alone, whatever the thread count.
    """
    nc = coords.shape[0]
    span = _width(arch) + 1
    keys = np.empty(nc, np.int64)
    for t in range(nc):
        l, _, _, j = locate(arch, coords[t])
        keys[t] = l * span + (j + 1 if _column_path(arch, loss, l) else 0)
    # a stable counting sort on the keys: O(n) (a merge sort took ~7 ms at 10⁵ coordinates)
    first = np.zeros(arch.shape[0] * span + 1, np.int64)
    for t in range(nc):
        first[keys[t] + 1] += 1
    for key in range(1, first.shape[0]):
        first[key] += first[key - 1]
    order = np.empty(nc, np.int64)
    for t in range(nc):
        order[first[keys[t]]] = t
        first[keys[t]] += 1
    gsize = _block_size(n_moves, B)
    csize = _column_size(n_moves, B)
    starts = np.empty(nc + 1, np.int64)
    nb = 0
    prev = -1
    count = 0
    for t in range(nc):
        key = keys[order[t]]
        size = gsize if key % span == 0 else csize
        if t == 0 or key != prev or count == size:
            starts[nb] = t
            nb += 1
            count = 0
        prev = key
        count += 1
    starts[nb] = nc
    return order, starts[: nb + 1]


#: Padding of the column blocks' rows: a row stride that is a multiple of 4 KB would put
#: every sample's entry of one column in the same L1 set.
PAD = 8


@jit(NET)
def _column_scratch(arch, loss, B, n_moves, zero, real, cap):
    """A chunk's column-path scratch ``(DT, XG, ii, acc, C, P)``: the stacked changes ``(B, rows)``
    in the type of ``zero``, the gathered inputs ``(B, coordinates)`` (real) and their
    indices ``i``, the rows' sums
    (type of ``zero``); the real ``(3B, n_m)`` and ``(3B, K)`` of
    :func:`fastcheck.models.columns.hidden_coefficients` (empty when no layer needs them)."""
    L = arch.shape[0]
    size = 0
    mid = 0
    for l in range(L):
        if _column_path(arch, loss, l):
            size = min(_column_size(n_moves, B), cap)  # no block is longer than cap coordinates
            if l == L - 3:
                mid = arch[l + 1, N_OUT]
    K = arch[L - 1, N_OUT] if mid > 0 else 0
    rows = size * n_moves
    return (np.full((B, rows + PAD if rows > 0 else 0), zero), np.full((B, size + PAD if size > 0 else 0), real),
            np.zeros(size, np.int64), np.full(rows, zero), np.full((3 * B if mid > 0 else 0, mid), real),
            np.full((3 * B if mid > 0 else 0, K), real), np.full(rows, zero), np.full(rows, zero))


@jit(NET)
def _column_block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, anew, dvec, cscratch):
    """``dJ`` and ``kink`` of a block of coordinates of one column ``j`` of a layer on the
    column path (:mod:`fastcheck.models.columns`): the column's changes ``D`` (row
    ``k·nc + c`` is coordinate c at move k), then the layers above as cubics in them.
    Returns 0, having written nothing the caller reads, when some move is too large
    for the cubics (the caller then takes the general path); else 1, or 2 when the
    output's changes were small enough for the quadratic."""
    Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0 = cache
    DT, XG, ii, acc, C, P, SKf, row = cscratch
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
    limit = columns.cubic_limit(J0)
    # step 1: by the cubic for a sigmoid column whose moves |s·x| are small enough, else
    # by _column row by row (any activation, kinks flagged)
    smax = 0.0
    xmax = 0.0
    for c in range(nc):
        i = locate(arch, coords[t0 + c])[2]
        xmax = max(xmax, 1.0 if i < 0 else colmax[i0 + i])
        for k in range(n_off):
            smax = max(smax, bound(S[c, k]))
    cubic = arch[l, ACT] == SIGMOID and smax * xmax <= limit
    SK = _rows(SKf, n_off, nc)
    if cubic:
        # the moves, move-major, and the inputs; the changes are made sample by sample below
        for c in range(nc):
            ii[c] = locate(arch, coords[t0 + c])[2]
            kink[c] = False
            for k in range(n_off):
                SK[k, c] = S[c, k]
        for b in range(B):
            for c in range(nc):
                XG[b, c] = 1.0 if ii[c] < 0 else A[b, i0 + ii[c]]
        dmax = columns.column_bound(G, MT, u, smax * xmax)
    else:
        dmax = 0.0
        for c in range(nc):
            i = locate(arch, coords[t0 + c])[2]
            flag = False
            for k in range(n_off):
                r = k * nc + c
                if _column(arch, l, i, j, S[c, k], ZT, HT, AT, ET, MT, colmax, anew, dvec):
                    flag = True
                for b in range(B):
                    DT[b, r] = dvec[b]
                    dmax = max(dmax, bound(dvec[b]))
            kink[c] = flag
    # steps 2-4: the layers above and the loss, every row at once
    m = l + 1
    if m == L - 1:
        wrow = arch[m, W_OFF] + j * K
        wmax = 0.0
        for k in range(K):
            wmax = max(wmax, abs(theta[wrow + k]))
        if dmax * wmax > limit:
            return 0
        quad = dmax * wmax <= columns.quadratic_limit(J0)
        columns.output_rows(DT, cubic, SK, nc, XG, MT, u, R, theta, wrow, G, AT, YT, oL, K, quad, acc, row)
    else:
        wmax = columns.hidden_coefficients(theta, arch, m, j, G, MT, C, P)
        zmax = columns.output_bound(P, B, dmax)
        if dmax * wmax > limit or zmax > limit:
            return 0
        quad = zmax <= columns.quadratic_limit(J0)
        columns.hidden_output_rows(DT, cubic, SK, nc, XG, MT, u, R, P, G, AT, YT, oL, K, quad, acc, row)
    scale = const(loss_scale(loss, B, K) * (0.5 if loss == SSE else 1.0), J0)
    for c in range(nc):
        i = locate(arch, coords[t0 + c])[2]
        for k in range(n_off):
            s = S[c, k]
            d = scale * acc[k * nc + c]
            if i >= 0 and l2 != 0.0:
                w = theta[arch[l, W_OFF] + i * arch[l, N_OUT] + j]
                d += const(0.5, s) * l2 * s * (const(2.0, w) * w + s)
            dJ[c, k] = d
    return 2 if quad else 1


@jit(NET)
def _block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, scratch, gscratch, cscratch):
    """``dJ`` and ``kink`` of one block: by :func:`_column_block` on the column path when its
    moves are small enough, else by :func:`_gemm_block` (in blocks of at most
    :func:`_block_size` coordinates) when at least two layers lie above the block's layer,
    else coordinate by coordinate (:func:`perturbed_delta`)."""
    L = arch.shape[0]
    l = locate(arch, coords[t0])[0]
    anew, dvec, acc, cur, moved, DZ, CUR, DC = scratch
    if _column_path(arch, loss, l):
        if _column_block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, anew, dvec, cscratch) > 0:
            return
    if l <= L - 3:
        size = _block_size(S.shape[1], Y.shape[0])
        for a in range(t0, t1, size):
            e = min(t1, a + size)
            _gemm_block(theta, Y, arch, loss, l2, cache, coords, a, e, S[a - t0 :], dJ[a - t0 :], kink[a - t0 :],
                        gscratch)
        return
    for c in range(t1 - t0):
        _, _, i, j = locate(arch, coords[t0 + c])
        flag = False
        for k in range(S.shape[1]):
            d, kk = perturbed_delta(theta, Y, arch, loss, l2, cache, l, i, j, S[c, k],
                                    anew, dvec, acc, cur, moved, DZ, CUR, DC)
            dJ[c, k] = d
            flag = flag or kk
        kink[c] = flag


@jit(NET_PARALLEL)
def layered_costs(theta, X, Y, arch, loss, l2, mask, coords, steps, offsets, n_chunks, out, kinks):
    """``out[j, k] = J(θ + s_jk·e_{coords[j]})`` with ``s_jk = fl(θ_c + offsets[k]·steps[j]) − θ_c``,
    and ``kinks[j]`` = some relu/leaky_relu pre-activation changes side at one of those points.

    Parameters
    ----------
    theta, X, Y, arch, loss, l2, mask
        The network, as :func:`fastcheck.models.backprop.mlp_cost` takes it,
        all in one precision (float64 or float32), which the whole
        computation keeps; ``fl`` rounds to it.
    coords : int64 array
    steps : float64 array, one step per coordinate
    offsets : float64 array of stencil offsets (no zero)
    n_chunks : int
        Number of interleaved chunks of blocks (the thread count; any value gives the same results).
    out : float64 array ``(len(coords), len(offsets))``
    kinks : bool array ``(len(coords),)``

    BLAS must be held to one thread while this runs (see
    :func:`fastcheck.config.single_threaded_blas`): the blocks' products run inside the
    parallel region.
    """
    cache = forward_cache(theta, X, Y, arch, loss, l2, mask)
    J0 = cache[-1]
    G = columns.sigmoid_coefficients(cache[6], cache[8])
    B = X.shape[0]
    width = _width(arch)
    gwidth = width if arch.shape[0] >= 3 else 0  # no block products in a network of one or two layers
    n_off = offsets.shape[0]
    order, starts = _plan(arch, loss, coords, n_off, B)
    pcoords = coords[order]
    nb = starts.shape[0] - 1
    longest = _longest(starts)  # scratch for the blocks there are (a small check allocates little)
    gsize = min(_block_size(n_off, B), longest)
    size = max(gsize, min(_column_size(n_off, B), longest))
    n_chunks = max(1, min(nb, n_chunks))
    zero = const(0.0, J0)
    for c in prange(n_chunks):
        scratch = _scratch(B, width, zero)
        gscratch = _gemm_scratch(B, gwidth, gsize * n_off * B, zero, zero)
        cscratch = _column_scratch(arch, loss, B, n_off, zero, zero, longest)
        S = np.full((size, n_off), zero)
        dJ = np.full((size, n_off), zero)
        kink = np.zeros(size, np.bool_)
        for blk in range(c, nb, n_chunks):
            t0, t1 = starts[blk], starts[blk + 1]
            for t in range(t0, t1):
                x = theta[pcoords[t]]
                for k in range(n_off):
                    S[t - t0, k] = const(x + offsets[k] * steps[order[t]], x) - x
            _block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch, gscratch, cscratch)
            for t in range(t0, t1):
                for k in range(n_off):
                    out[order[t], k] = J0 + dJ[t - t0, k]
                kinks[order[t]] = kink[t - t0]


@jit(NET_PARALLEL)
def layered_complex_step(theta, X, Y, arch, loss, l2, mask, coords, steps, unit, n_chunks, out):
    """``out[j] = Im J(θ + i·h_j·e_{coords[j]})``, ``h_j = fl(steps[j])``: the complex step.

    The same recomputation as :func:`layered_costs` with the move ``s = i·h``:
    the cached pass stays real, the changed column and everything downstream
    of it are complex (``unit`` is 1j in complex64 for a float32 network,
    complex128 for float64), and ``Im ΔJ`` is read off directly, with no
    subtraction of J(θ).  The piecewise activations take the branch of the
    real part (see :mod:`fastcheck.models.functions`), so every built-in
    activation and loss has a complex step.  The blocks' products split each
    complex matrix into its real and imaginary rows (one real product).
    """
    cache = forward_cache(theta, X, Y, arch, loss, l2, mask)
    G = columns.sigmoid_coefficients(cache[6], cache[8])
    B = X.shape[0]
    width = _width(arch)
    gwidth = width if arch.shape[0] >= 3 else 0
    order, starts = _plan(arch, loss, coords, 1, B)
    pcoords = coords[order]
    nb = starts.shape[0] - 1
    longest = _longest(starts)
    gsize = min(_block_size(1, B), longest)
    size = max(gsize, min(_column_size(1, B), longest))
    n_chunks = max(1, min(nb, n_chunks))
    real = const(0.0, theta[0])
    zero = unit * real
    for c in prange(n_chunks):
        scratch = _scratch(B, width, zero)
        gscratch = _gemm_scratch(B, gwidth, gsize * B, zero, real)
        cscratch = _column_scratch(arch, loss, B, 1, zero, real, longest)
        S = np.full((size, 1), zero)
        dJ = np.full((size, 1), zero)
        kink = np.zeros(size, np.bool_)
        for blk in range(c, nb, n_chunks):
            t0, t1 = starts[blk], starts[blk + 1]
            for t in range(t0, t1):
                S[t - t0, 0] = unit * const(steps[order[t]], theta[0])
            _block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch, gscratch, cscratch)
            for t in range(t0, t1):
                out[order[t]] = dJ[t - t0, 0].imag
