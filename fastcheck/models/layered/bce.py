"""Binary cross-entropy on the column path: a sample's loss change as a polynomial in the column's change.

One output's loss, ``softplus(a) − y·a``, changes by ``e₁·d + e₂·d² + e₃·d³ + R`` when the output moves by
d, with softplus's Taylor coefficients ``e₁ = σ(a) − y``, ``e₂ = σ'(a)/2``, ``e₃ = σ''(a)/6`` and
``|R| ≤ σ'(ξ)·d⁴/24 ≤ e^|d|·d⁴/96`` (the fourth derivative is σ'·(1 − 6σ'), and σ' ≤ 1/4).  The output
moves by its unit's cubic in its pre-activation's change δ (:mod:`fastcheck.models.layered.cubics`), and δ
by ``D·w_k`` one layer above the output, by the hidden layer's cubic ``Σ_n Dⁿ·P_n[b, k]`` two layers
above.  One layer above, the composition is a polynomial of degree 9 in D; two layers above, the loss's
polynomial in δ (degree 9) is cut after δ⁶, its terms δ⁷ … δ⁹ bounded from their coefficients, and
composed with δ's cubic (degree 18).  Summed over the outputs sample by sample, the rows then go as the
squared losses' do.  :func:`bce_rows` takes a block only when all it leaves out (the remainders R and the
cut terms, summed over samples and outputs) is under the rounding of J(θ), and never for the complex
step; the block then takes the general path.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.functions import NET
from fastcheck.models.layered import cubics
from fastcheck.models.numeric import is_complex

#: Coefficients of a sample's loss polynomial in D one layer above the output: a cubic loss of a cubic
#: change (twice as many two layers above).
TERMS = 9


@jit(NET)
def change_bound(dz):
    """A bound of every output's |d| when every pre-activation's |δ| is at most ``dz``: each activation's
    cubic coefficients are at most 1 in magnitude (σ ≤ 1, σ' ≤ 1/4, tanh' ≤ 1, tanh''/2 ≤ 0.4, …)."""
    return dz * (1.0 + dz * (1.0 + dz))


@jit(NET)
def remainder(B, K, zmax):
    """A bound of the Taylor remainders summed over B samples and K outputs, every |d| at most ``zmax``."""
    z2 = zmax * zmax
    return B * K * np.exp(zmax) * z2 * z2 / 96.0


@jit(NET)
def loss_terms(x, y, e):
    """``e``: the Taylor cubic of the loss of output x with target y: ``σ(x) − y``, ``σ'(x)/2``, ``σ''(x)/6``."""
    ex = np.exp(-x)
    h = 1.0 / (1.0 + ex)
    q = ex * h if h >= 0.5 else 1.0 - h  # 1 − σ(x) without cancellation
    s1 = h * q
    e[0] = h - y
    e[1] = 0.5 * s1
    e[2] = s1 * (q - h) / 6.0


@jit(NET)
def sample_polynomial(b, c, AT, YT, oL, K, a, e, pw, nxt):
    """``a``: sample b's loss change as a polynomial in D (``a[m − 1]`` multiplies Dᵐ, m = 1 … 9), output k
    moving by ``Σ_n c[n − 1, k]·Dⁿ``; ``e`` (3), ``pw`` and ``nxt`` (10 at least) are scratch."""
    a[:] = 0.0
    for k in range(K):
        loss_terms(AT[oL + k, b], YT[k, b], e)
        cubics.composed_loss_polynomial(c[0, k], c[1, k], c[2, k], e, 3, a, pw, nxt)


@jit(NET)
def hidden_sample_polynomial(b, P, G, AT, YT, oL, K, a, e, f, pw, nxt, zmax):
    """``a``: sample b's loss change as a polynomial in D (degree 18) two layers above the output, whose
    pre-activations move by ``Σ_n Dⁿ·P_n[b, k]`` (every |δ| at most ``zmax``); ``f`` (9 at least) holds an
    output's loss as a polynomial in δ, ``pw`` and ``nxt`` are scratch (19 at least).  Returns the bound of
    the δ⁷ … δ⁹ terms it leaves out."""
    B = P.shape[0] // 3
    a[:] = 0.0
    cut = 0.0
    for k in range(K):
        u = oL + k
        loss_terms(AT[u, b], YT[k, b], e)
        f[:] = 0.0
        cubics.composed_loss_polynomial(G[0, u, b], G[1, u, b], G[2, u, b], e, 3, f, pw, nxt)
        zm = zmax**7
        for m in range(6, 9):
            cut += abs(f[m]) * zm
            zm *= zmax
        cubics.composed_loss_polynomial(P[b, k], P[B + b, k], P[2 * B + b, k], f, 6, a, pw, nxt)
    return cut


@jit(NET)
def bce_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, theta, wrow, P, deep, AT, YT, oL, K, acc, row, Q, AB, t, J0,
             scale, zmax):
    """``acc[r] = Σ_b Δℓ_b`` for every row of a block under binary cross-entropy: one layer above the
    output (``deep`` False: output k's pre-activation moves by ``D·θ[wrow + k]``) or two
    (``Σ_n Dⁿ·P_n[b, k]``); every pre-activation's |δ| at most ``zmax``.  Returns -1 when the block cannot
    take it (complex step, or what it leaves out not under the rounding of J(θ)), having written nothing the
    caller reads; else 1 when the rows came from the series in the move, 0 when one by one."""
    if is_complex(acc[0]):
        return -1
    B = DT.shape[0]
    left = remainder(B, K, change_bound(zmax))
    if not cubics.series_ok(J0, scale, left):
        return -1
    e = np.zeros(3)
    pw = np.zeros(19)
    nxt = np.zeros(19)
    if deep:
        f = np.zeros(9)
        for b in range(B):
            left += hidden_sample_polynomial(b, P, G, AT, YT, oL, K, AB[b], e, f, pw, nxt, zmax)
        if not cubics.series_ok(J0, scale, left):
            return -1
    else:
        c = np.zeros((3, K))
        for b in range(B):
            for k in range(K):
                w = theta[wrow + k]
                u = oL + k
                c[0, k], c[1, k], c[2, k] = G[0, u, b] * w, G[1, u, b] * w * w, G[2, u, b] * w * w * w
            sample_polynomial(b, c, AT, YT, oL, K, AB[b], e, pw, nxt)
    took = cubics.loss_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, acc, row, Q, AB, 2 * TERMS if deep else TERMS, t,
                            J0, scale)
    return 1 if took else 0
