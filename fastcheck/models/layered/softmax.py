"""The softmax cross-entropy output on the column path: a sample's loss change as a polynomial in the column's change.

With an identity output layer, the outputs ``a_k`` of a sample move by a cubic in the column's change D,
``d_k = e₁ₖ·D + e₂ₖ·D² + e₃ₖ·D³`` (``e₁ = W_out[j, :]`` and ``e₂ = e₃ = 0`` one layer above the output;
the hidden layer's products ``P_n`` of :func:`fastcheck.models.layered.cubics.hidden_coefficients` two
layers above), and the sample's loss ``Y·lse(a) − y·a`` (``Y = Σ_k y_k``) changes by

    Y·log Σ_k p_k·e^{d_k} − y·d = Σ_k (Y·p_k − y_k)·d_k + Y·(κ₂/2 + κ₃/6) + Y·R,

``p = softmax(a)``: the cumulant expansion of ``log E_p[e^{d}]``, with ``κ₂``, ``κ₃`` the second and third
central moments of ``d`` under ``p`` (taken from the centred coefficients, so without cancellation), each a
polynomial in D (degree 9 at most).  The remainder is ``κ₄/24`` of a tilted distribution on the same
values, and the fourth cumulant of anything spread over a range r is at most ``max(μ₄, 3σ⁴) ≤ r⁴/4``, so
``|R| ≤ r⁴/96`` with ``r ≤ 2·max_k |d_k|``.  :func:`softmax_rows` takes a block only when those remainders,
summed over the samples, are under the rounding of J(θ) (:func:`fastcheck.models.layered.cubics.series_ok`),
and never for the complex step, whose complex d the range bound does not cover; the block then takes the
general path.  The rows then go as the squared losses' do: the series in the move for a column taken by
its cubic, else one Horner evaluation per row.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.functions import NET
from fastcheck.models.layered import cubics
from fastcheck.models.numeric import is_complex

#: Coefficients of a sample's loss polynomial in D: degree 3·3 for the third cumulant of a cubic.
TERMS = 9


@jit(NET)
def remainder(B, ysum, zmax):
    """A bound of the cumulant expansion's remainders summed over the samples, every |d_k| at most
    ``zmax``: ``Σ_b |Y_b|·(2·zmax)⁴/96``."""
    r = 2.0 * zmax
    return ysum * r * r * r * r / 96.0


@jit(NET)
def target_sum(YT, B):
    """``Σ_b |Σ_k y_bk|``: the factor of every sample's cumulant terms."""
    total = 0.0
    for b in range(B):
        y = 0.0
        for k in range(YT.shape[0]):
            y += YT[k, b]
        total += abs(y)
    return total


@jit(NET)
def sample_polynomial(b, e, AT, YT, oL, K, a, mean):
    """``a``: sample b's loss change as a polynomial in D (``a[m − 1]`` multiplies Dᵐ, m = 1 … 9), its
    outputs moving by ``d_k = Σ_n e[n − 1, k]·Dⁿ`` (see the module doc); ``mean`` is scratch of 3."""
    a[:] = 0.0
    mean[:] = 0.0
    top = AT[oL, b]
    for k in range(1, K):
        top = max(top, AT[oL + k, b])
    s = 0.0
    for k in range(K):
        s += np.exp(AT[oL + k, b] - top)
    Y = 0.0
    for k in range(K):
        Y += YT[k, b]
    for k in range(K):
        p = np.exp(AT[oL + k, b] - top) / s
        g = Y * p - YT[k, b]
        for n in range(3):
            a[n] += g * e[n, k]
            mean[n] += p * e[n, k]
    half = 0.5 * Y
    sixth = Y / 6.0
    for k in range(K):
        p = np.exp(AT[oL + k, b] - top) / s
        c1, c2, c3 = e[0, k] - mean[0], e[1, k] - mean[1], e[2, k] - mean[2]
        # (c1·D + c2·D² + c3·D³)² and ³, coefficient by coefficient
        q2, q3, q4, q5, q6 = c1 * c1, 2.0 * c1 * c2, c2 * c2 + 2.0 * c1 * c3, 2.0 * c2 * c3, c3 * c3
        w2 = p * half
        a[1] += w2 * q2
        a[2] += w2 * q3
        a[3] += w2 * q4
        a[4] += w2 * q5
        a[5] += w2 * q6
        w3 = p * sixth
        a[2] += w3 * q2 * c1
        a[3] += w3 * (q2 * c2 + q3 * c1)
        a[4] += w3 * (q2 * c3 + q3 * c2 + q4 * c1)
        a[5] += w3 * (q3 * c3 + q4 * c2 + q5 * c1)
        a[6] += w3 * (q4 * c3 + q5 * c2 + q6 * c1)
        a[7] += w3 * (q5 * c3 + q6 * c2)
        a[8] += w3 * q6 * c3


@jit(NET)
def softmax_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, theta, wrow, P, deep, AT, YT, oL, K, acc, row, Q, AB, t,
                 J0, scale, zmax):
    """``acc[r] = Σ_b Δℓ_b`` for every row of a block under softmax cross-entropy with an identity output:
    one layer above the output (``deep`` False: ``d_k = D·θ[wrow + k]``) or two (``d_k = Σ_n Dⁿ·P_n[b, k]``).
    Returns -1 when the block cannot take it (complex step, or the remainders, for outputs that move by at
    most ``zmax``, not under the rounding of J(θ)): nothing the caller reads is written; else 1 when the rows
    came from the series in the move (:func:`fastcheck.models.layered.cubics.series_taken`), 0 when one by one."""
    if is_complex(acc[0]):
        return -1
    B = DT.shape[0]
    if not cubics.series_ok(J0, scale, remainder(B, target_sum(YT, B), zmax)):
        return -1
    e = np.zeros((3, K))
    mean = np.zeros(3)
    if not deep:
        for k in range(K):
            e[0, k] = theta[wrow + k]
    for b in range(B):
        if deep:
            for k in range(K):
                e[0, k] = P[b, k]
                e[1, k] = P[B + b, k]
                e[2, k] = P[2 * B + b, k]
        sample_polynomial(b, e, AT, YT, oL, K, AB[b], mean)
    took = cubics.loss_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, acc, row, Q, AB, TERMS if deep else 3, t, J0,
                            scale)
    return 1 if took else 0
