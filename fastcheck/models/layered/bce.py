"""Binary cross-entropy on the column path: a sample's loss change as a polynomial in the column's change.

One output's loss, ``softplus(a) − y·a``, changes by ``e₁·d + e₂·d² + e₃·d³ + R`` when the output moves by
d, with softplus's Taylor coefficients ``e₁ = σ(a) − y``, ``e₂ = σ'(a)/2``, ``e₃ = σ''(a)/6`` and
``|R| ≤ σ'(ξ)·d⁴/24 ≤ e^|d|·d⁴/96`` (σ''' = σ'·(1 − 6σ') and σ' ≤ 1/4).  The output moves by a cubic in
the column's change D: one layer above the output, the output unit's own cubic in ``D·w_k``
(:mod:`fastcheck.models.layered.cubics`); two layers above, over an identity output, the hidden layer's
``Σ_n Dⁿ·P_n[b, k]``.  Composed, each output's loss change is a polynomial of degree 9 in D, summed over
the outputs sample by sample; the rows then go as the squared losses' do.  :func:`bce_rows` takes a block
only when the remainders, summed over samples and outputs, are under the rounding of J(θ), and never for
the complex step; the block then takes the general path.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.functions import NET
from fastcheck.models.layered import cubics
from fastcheck.models.numeric import is_complex

#: Coefficients of a sample's loss polynomial in D: a cubic loss of a cubic change.
TERMS = 9


@jit(NET)
def output_bound(dw):
    """A bound of every output's |d| one layer above it, when every |D·w_k| is at most ``dw``: each
    activation's cubic coefficients are at most 1 in magnitude (σ ≤ 1, σ' ≤ 1/4, tanh' ≤ 1, …)."""
    return dw * (1.0 + dw * (1.0 + dw))


@jit(NET)
def remainder(B, K, zmax):
    """A bound of the Taylor remainders summed over B samples and K outputs, every |d| at most ``zmax``."""
    z2 = zmax * zmax
    return B * K * np.exp(zmax) * z2 * z2 / 96.0


@jit(NET)
def sample_polynomial(b, c, AT, YT, oL, K, a, e, pw, nxt):
    """``a``: sample b's loss change as a polynomial in D (``a[m − 1]`` multiplies Dᵐ, m = 1 … 9), output k
    moving by ``Σ_n c[n − 1, k]·Dⁿ``; ``e`` (3), ``pw`` and ``nxt`` (10 each) are scratch."""
    a[:] = 0.0
    for k in range(K):
        x = AT[oL + k, b]
        ex = np.exp(-x)
        h = 1.0 / (1.0 + ex)
        q = ex * h if h >= 0.5 else 1.0 - h  # 1 − σ(a) without cancellation
        s1 = h * q
        e[0] = h - YT[k, b]
        e[1] = 0.5 * s1
        e[2] = s1 * (q - h) / 6.0
        cubics.composed_loss_polynomial(c[0, k], c[1, k], c[2, k], e, 3, a, pw, nxt)


@jit(NET)
def bce_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, theta, wrow, P, deep, AT, YT, oL, K, acc, row, Q, AB, t, J0,
             scale, zmax):
    """``acc[r] = Σ_b Δℓ_b`` for every row of a block under binary cross-entropy: one layer above the
    output (``deep`` False: output k moves by its cubic in ``D·θ[wrow + k]``) or two, over an identity
    output (``Σ_n Dⁿ·P_n[b, k]``); every output's |d| at most ``zmax``.  Returns -1 when the block cannot
    take it (complex step, or the remainders not under the rounding of J(θ)), having written nothing the
    caller reads; else 1 when the rows came from the series in the move, 0 when one by one."""
    if is_complex(acc[0]):
        return -1
    B = DT.shape[0]
    if not cubics.series_ok(J0, scale, remainder(B, K, zmax)):
        return -1
    c = np.zeros((3, K))
    e = np.zeros(3)
    pw = np.zeros(10)
    nxt = np.zeros(10)
    for b in range(B):
        for k in range(K):
            if deep:
                c[0, k], c[1, k], c[2, k] = P[b, k], P[B + b, k], P[2 * B + b, k]
            else:
                w = theta[wrow + k]
                u = oL + k
                c[0, k], c[1, k], c[2, k] = G[0, u, b] * w, G[1, u, b] * w * w, G[2, u, b] * w * w * w
        sample_polynomial(b, c, AT, YT, oL, K, AB[b], e, pw, nxt)
    if cubics.series_taken(cubic, acc, AB, TERMS, nc, inputs, G, MT, u0, SK, Q, t, J0, scale):
        return 1
    XG = inputs[0]
    if cubic:
        cubics.column_inputs(inputs, nc)
    Ru = np.uint64(R)
    for r in range(Ru):
        acc[r] = 0.0
    for b in range(B):
        D = cubics.column_row(b, DT, cubic, SK, nc, XG, G, MT, u0, row)
        cubics.composed_rows(D, Ru, AB[b], True, acc)
    return 0
