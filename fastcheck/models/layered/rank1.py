"""One coordinate at a time: a rank-1 update into the next layer, then the layers above.

For a coordinate of layer l (the paths for the last two layers, and the
fallback of the others), with step 1's column change ``d_b`` from
:func:`~fastcheck.models.layered.moves.moved_column`:

2. a rank-1 update into layer m = l+1: ``Z'_m[b, :] = Z_m[b, :] + d_b·W_m[j, :]``
   for the samples with ``d_b ≠ 0``, and its activations (:func:`_advance`);
3. the remaining layers of those samples, through their changes:
   ``Z'_q[b, :] = Z_q[b, :] + ΔA_{q−1}[b, :]·W_q`` (units that did not move are skipped);
4. the loss by difference, ``ΔJ = scale·Σ_b (ℓ'_b − ℓ_b) + ½·l2·s·(2w + s)``
   (:func:`~fastcheck.models.layered.moves.output_diff`, softmax_ce by its row loss).

A sigmoid output under sse or mse whose moves are all small takes steps 2 and 4
in one pass over the batch, unit by unit (it vectorises).  Every activation is
evaluated at its new argument (:func:`~fastcheck.models.layered.moves.moved_activation`):
nothing is linearised, so ``ΔJ`` is the exact change to rounding.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, jit
from fastcheck.models.backprop import ACT, N_IN, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import IDENTITY, MSE, SIGMOID, SOFTMAX_CE, SSE, TANH, loss_scale, row_loss
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
from fastcheck.models.numeric import bound, const, div


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
    limit = small_limit(DZ[0, 0])
    for k in range(n):
        for b in range(B):
            big = max(big, bound(DZ[k, b]))
    kink = False
    kinked = is_kinked(act)
    for k in range(n):
        u = o + k
        if big <= limit and act == SIGMOID:
            for b in range(B):
                a = div(MT[u, b], one + ET[u, b] * exp_small(-DZ[k, b]))
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        elif big <= limit and act == TANH:
            for b in range(B):
                t = tanh_small(DZ[k, b])
                a = MT[u, b] * div(HT[u, b] + t, one + HT[u, b] * t)
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        elif kinked or act == IDENTITY:
            # piecewise linear: branch-free selects, the kink test counted alongside
            slope = negative_slope(act, one)
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
                a = moved_activation(ZT[u, b], HT[u, b], ET[u, b], DZ[k, b], act) * MT[u, b]
                CUR[k, b] = a
                DC[k, b] = a - AT[u, b]
        flag = False
        for b in range(B):
            flag = flag or DC[k, b] != 0.0
        moved[k] = flag
    return kink


@jit(NET)
def perturbed_delta(theta, Y, arch, loss, l2, cache, l, i, j, s, anew, dvec, acc, cur, moved, DZ, CUR, DC):
    """J(θ + s·e_c) − J(θ) for the coordinate ``(l, i, j)`` (see the module doc).

    Returns ``(ΔJ, kink)``.  ``cache`` is
    :func:`~fastcheck.models.layered.cache.forward_cache`'s tuple.
    Scratch: ``anew``, ``dvec``, ``acc`` of the batch size; ``cur`` and
    ``moved`` of the widest layer; ``DZ``, ``CUR``, ``DC`` of (widest layer,
    batch), unit-major.
    """
    Z, H, A, E, M, ZT, HT, AT, ET, MT, YT, rowloss, colmax, J0 = cache
    L = arch.shape[0]
    B = Z.shape[0]
    K = arch[L - 1, N_OUT]
    oL = arch[L - 1, OUT_OFF]
    kink = moved_column(arch, l, i, j, s, ZT, HT, AT, ET, MT, colmax, anew, dvec)
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
                total += output_diff(anew[b], AT[oL + j, b], Y[b, j], loss)
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
        if m == L - 1 and act1 == SIGMOID and (loss == SSE or loss == MSE) and dmax * wmax <= small_limit(s):
            # sigmoid output, squared loss: the rank-1 update and the loss difference in one
            # pass, unit by unit over the batch (contiguous, so it vectorises); acc[b] holds
            # sample b's sum over the units.  A sample with d_b = 0 adds exactly 0.
            for b in range(B):
                acc[b] = 0.0
            for k in range(n1):
                w = theta[wrow + k]
                u = o1 + k
                for b in range(B):
                    a_new = div(one, one + ET[u, b] * exp_small(-dvec[b] * w))
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
                        acc[b] += output_diff(CUR[k, b], AT[u, b], YT[k, b], loss)
                for b in range(B):
                    total += acc[b]
    dJ = const(loss_scale(loss, B, K), total) * total
    if i >= 0 and l2 != 0.0:
        dJ += l2_change(theta, arch, l, i, j, s, l2)
    return dJ, kink


@jit(NET)
def rank1_scratch(B, width, zero):
    """One chunk's scratch, in the type of ``zero``: ``(anew, dvec, acc, cur, moved, DZ, CUR, DC)``."""
    return (np.full(B, zero), np.full(B, zero), np.full(B, zero), np.full(width, zero),
            np.zeros(width, np.bool_), np.full((width, B), zero), np.full((width, B), zero),
            np.full((width, B), zero))
