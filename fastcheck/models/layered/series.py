"""The NumPy form of the column path: a sigmoid output under sse or mse, as a polynomial per sample.

For the coordinates of column ``j`` of layer ``L − 2`` (``W[i, j]`` for all i, and ``b[j]``),
the network moves through one number per sample, the column's change ``D_b``
(:func:`fastcheck.models.layered.vpass.column_change`).  The sigmoid output unit k then moves
by ``δ = D_b·w_k`` (``w = W_{L−1}[j, :]``) and, with ``g_n = σ⁽ⁿ⁾(z)/n!`` of the cached pass,
its change is the cubic ``d_k = c₁D + c₂D² + c₃D³``, ``c_n = g_n·w_kⁿ``, exact to rounding for
``|δ| ≤ 2⁻¹³`` (the remainder is under the rounding of σ itself; see
:mod:`fastcheck.models.layered.cubics`).  The loss change of sample b,

    Σ_k d_k·(d_k + t_k),   t_k = 2(a_k − y_k),

is then a polynomial of degree 6 in ``D_b`` whose coefficients depend on (b, j) alone:

    p₁ = Σ t·c₁,  p₂ = Σ (t·c₂ + c₁²),  p₃ = Σ (t·c₃ + 2c₁c₂),
    p₄ = Σ (c₂² + 2c₁c₃),  p₅ = Σ 2c₂c₃,  p₆ = Σ c₃²

(:func:`output_polynomials`, summed over the K outputs once per column).  Each row (one
coordinate at one move) then costs one Horner evaluation per sample instead of K moved
sigmoids: the same sums as the compiled column path in another order, so the same
accuracy (the rounding of each coefficient is bounded by that of the sum it replaces).
A row whose ``max_b |D_b|·max_k |w_k|`` exceeds 2⁻¹³ is left to the general path.
"""
from __future__ import annotations

import numpy as np

from fastcheck.models.backprop import ACT
from fastcheck.models.functions import MSE, SIGMOID, SSE
from fastcheck.models.layered.cubics import CUBIC
from fastcheck.models.layered.vpass import ENTRIES, Pass, weights


def takes_series(arch, loss, l) -> bool:
    """Whether the coordinates of layer l take the polynomial: l is the layer below a sigmoid
    output, under sse or mse."""
    L = arch.shape[0]
    return l == L - 2 and arch[L - 1, ACT] == SIGMOID and loss in (SSE, MSE)


def output_polynomials(theta, arch, Y, cache: Pass):
    """``(P, wmax)``: ``P[j, n − 1, b] = p_n`` (module doc) for every column j of layer ``L − 2``,
    ``(n_{L−2}, 6, B)``, and ``wmax[j] = max_k |W_{L−1}[j, k]|``."""
    L = arch.shape[0]
    h, e, a = cache.H[L - 1], cache.E[L - 1], cache.A[L - 1]
    q = np.where(h >= 0.5, e * h, 1.0 - h)  # 1 − σ(z) without cancellation
    g1 = h * q
    g2 = g1 * (q - h) * 0.5
    g3 = g1 * (1.0 - 6.0 * g1) * (1.0 / 6.0)
    t = 2.0 * (a - Y)
    W = weights(theta, arch, L - 1)  # (n_{L-2}, K)
    B, K = h.shape
    P = np.empty((W.shape[0], 6, B))
    step = max(1, ENTRIES // (B * K))  # columns at a time: O(ENTRIES) scratch, whatever the widths
    for a in range(0, W.shape[0], step):
        w = W[a : a + step, None, :]
        c1 = g1 * w
        c2 = g2 * (w * w)
        c3 = g3 * (w * w * w)
        for n, c in enumerate((t * c1, t * c2 + c1 * c1, t * c3 + 2.0 * c1 * c2, c2 * c2 + 2.0 * c1 * c3,
                               2.0 * c2 * c3, c3 * c3)):
            P[a : a + step, n] = c.sum(-1)
    return P, np.abs(W).max(axis=1)


def series_rows(P, wmax, D, loss):
    """``(diff, ok)`` for rows of one column with changes ``D`` ``(R, B)``, ``P = P[j]`` ``(6, B)``:
    ``diff[r] = Σ_b Σ_k d·(d + t)`` (halved for sse; the caller scales), valid where ``ok[r]``."""
    ok = np.abs(D).max(axis=1) * wmax <= CUBIC
    f = P[5] * D
    for n in (4, 3, 2, 1, 0):
        f += P[n]
        f *= D
    diff = f.sum(axis=1)
    if loss == SSE:
        diff *= 0.5
    return diff, ok
