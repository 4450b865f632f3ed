"""Three or more layers above a column: the hidden layers in between as cubics in the column's change.

Two layers above a moved column (:func:`fastcheck.models.layered.cubics.hidden_coefficients`), the
first hidden layer m changes by a cubic in the column's change D per sample and unit,
``ΔA_m = Σ_n Dⁿ·C_n``, so the next layer's pre-activations move by ``Σ_n Dⁿ·P_n`` with
``P_n = C_n·W``.  With more hidden layers above, each one's unit changes by its own cubic in that move
(:func:`fastcheck.models.layered.cubics.unit_coefficients`), and the composition of two cubics is a
polynomial of degree 9 in D.  :func:`hidden_chain` keeps its terms up to D³,

    c₁ = g₁p₁,   c₂ = g₁p₂ + g₂p₁²,   c₃ = g₁p₃ + 2g₂p₁p₂ + g₃p₁³   (times the dropout mask),

and bounds the ones it cuts, for every |D| ≤ dmax, with ``aₙ = |pₙ|·dmaxⁿ`` and ``s = a₁ + a₂ + a₃``:

    |g₂|·(a₂² + 2a₁a₃ + 2a₂a₃ + a₃²) + |g₃|·(a₂ + a₃)·(s² + s·a₁ + a₁²)

(the absolute values of the monomials of δ² and δ³ of degree four and more: every term is positive, no
difference is taken).  A bound ``f`` of a layer's error in its pre-activations carries into its change
through the cubic's slope on the move, ``(|g₁| + 2|g₂|S + 3|g₃|S²)·f`` with ``S = s + f``, and into the next
layer's pre-activations through the weights' largest column sum of |W|.  The bounds are kept per sample
(the largest over the layer's units).  Each unit's move, at most S, must be within its activation's limit,
and a relu or leaky relu unit's pre-activation must keep its sign (``2S < |z|``), as for the layers the
column path already takes.

The output then moves by ``Σ_n Dⁿ·P_n`` plus at most ``e_b`` (:func:`output_error`), and the loss by at
most ``Σ_{b,k} λ_{b,k}·e_b`` more (:func:`loss_error`): λ is the loss's slope in the output's
pre-activation over the move (sse and mse: the output unit's slope times ``2|a − y| + 2|d|``; binary
cross-entropy: the unit's slope, since ``|σ(a) − y| ≤ 1``; softmax cross-entropy of an identity output: 1).
:func:`fastcheck.models.layered.columns.column_block` takes the block only when that bound is under the
same share of the rounding of J(θ) as the series' left-out terms
(:func:`fastcheck.models.layered.cubics.series_ok`); at a central check's default steps it is some
twenty orders of magnitude below it.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.backprop import ACT, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import BCE, NET, SOFTMAX_CE
from fastcheck.models.layered import cubics


@jit(NET)
def chain_width(arch, l):
    """The widest hidden layer between layer l and the output (0 when fewer than two lie there)."""
    L = arch.shape[0]
    w = 0
    if L - 1 - l >= 3:
        for q in range(l + 1, L - 1):
            w = max(w, arch[q, N_OUT])
    return w


@jit(NET)
def chain_entries(B, w):
    """Entries of :func:`hidden_chain`'s scratch for B samples and hidden layers of at most w units: two
    ``(3B, w)`` coefficient buffers and two per-sample error bounds."""
    return 6 * B * w + 2 * B


@jit(NET)
def largest_column_sum(theta, w0, n, k):
    """``max_v Σ_u |W[u, v]|`` of the ``(n, k)`` weights at ``theta[w0:]``: a bound of how much a change
    of at most f in each of n units moves any of the k pre-activations above them."""
    top = 0.0
    for v in range(k):
        s = 0.0
        for u in range(n):
            s += abs(theta[w0 + u * k + v])
        top = max(top, s)
    return top


@jit(NET)
def cut_bound(a1, a2, a3, g2, g3):
    """A bound of the terms of degree four and more in D of ``g₁δ + g₂δ² + g₃δ³`` with
    ``δ = p₁D + p₂D² + p₃D³``, for every |D| ≤ dmax, from ``aₙ = |pₙ|·dmaxⁿ``: the sum of their monomials'
    absolute values (it is attained at D = dmax when every coefficient is positive)."""
    s = a1 + a2 + a3
    return abs(g2) * (a2 * a2 + 2.0 * a1 * a3 + 2.0 * a2 * a3 + a3 * a3) + abs(g3) * (a2 + a3) * (s * s + s * a1 + a1 * a1)


@jit(NET)
def cubic_slope(g1, g2, g3, S):
    """A bound of the slope of ``g₁δ + g₂δ² + g₃δ³`` for every |δ| ≤ S."""
    return abs(g1) + 2.0 * abs(g2) * S + 3.0 * abs(g3) * S * S


@jit(NET)
def hidden_chain(theta, arch, m, j, G, MT, ZT, P, chain, dmax, J0, checked):
    """The output's pre-activation change ``Σ_n Dⁿ·P_n`` (into ``P``, ``(3B, K)``) for column j below
    the hidden layer m, with two or more hidden layers from m to the output (see the module doc); the
    per-sample bounds of what it leaves out are in ``output_error(chain, B)``.

    Returns False, having written nothing the caller reads, when a move is beyond a unit's limit or
    could carry a relu or leaky relu pre-activation across 0 (the block then takes the general path).
    ``chain`` is flat scratch of :func:`chain_entries` entries; layer m's own limits are the caller's.
    ``checked`` False leaves the units' limits and signs unchecked (only the expansion and its bounds: the
    tests compare it with the composed cubics at moves beyond the limits).
    """
    B = MT.shape[1]
    L = arch.shape[0]
    w = (chain.shape[0] - 2 * B) // (6 * B)
    base = 3 * B * w
    n = arch[m, N_OUT]
    C = chain[: 3 * B * n].reshape((3 * B, n))
    cubics.hidden_cubics(theta, arch, m, j, G, MT, C)
    err = chain[6 * B * w : 6 * B * w + B]  # per sample, a bound of the current layer's error
    nxt = chain[6 * B * w + B : 6 * B * w + 2 * B]
    err[:] = 0.0
    d2 = dmax * dmax
    d3 = d2 * dmax
    for q in range(m + 1, L):
        nq = arch[q, N_OUT]
        wq = arch[q, W_OFF]
        W = theta[wq : wq + n * nq].reshape((n, nq))
        spread = largest_column_sum(theta, wq, n, nq)
        for b in range(B):
            nxt[b] = err[b] * spread  # the error carried into layer q's pre-activations
        if q == L - 1:
            np.dot(C, W, P)
            err[:] = nxt
            return True
        Pq = chain[base : base + 3 * B * nq].reshape((3 * B, nq))
        np.dot(C, W, Pq)
        C = chain[: 3 * B * nq].reshape((3 * B, nq))  # layer m's coefficients are spent: layer q's go there
        code = arch[q, ACT]
        limit = cubics.layer_limit(code, J0)
        kinked = cubics.piecewise_linear(code)
        oq = arch[q, OUT_OFF]
        for b in range(B):
            f = nxt[b]
            top = 0.0
            for v in range(nq):
                p1 = Pq[b, v]
                p2 = Pq[B + b, v]
                p3 = Pq[2 * B + b, v]
                a1 = abs(p1) * dmax
                a2 = abs(p2) * d2
                a3 = abs(p3) * d3
                s = a1 + a2 + a3
                S = s + f
                u = oq + v
                if checked and (not S <= limit or (kinked and not 2.0 * S < abs(ZT[u, b]))):
                    return False
                g1 = G[0, u, b]
                g2 = G[1, u, b]
                g3 = G[2, u, b]
                mask = MT[u, b]
                C[b, v] = mask * g1 * p1
                C[B + b, v] = mask * (g1 * p2 + g2 * p1 * p1)
                C[2 * B + b, v] = mask * (g1 * p3 + 2.0 * g2 * p1 * p2 + g3 * p1 * p1 * p1)
                top = max(top, abs(mask) * (cubic_slope(g1, g2, g3, S) * f + cut_bound(a1, a2, a3, g2, g3)))
            err[b] = top
        n = nq
    return True


@jit(NET)
def output_error(chain, B):
    """The per-sample bounds :func:`hidden_chain` left: every output pre-activation of sample b moves by
    ``Σ_n Dⁿ·P_n[b, k]`` up to at most ``output_error(chain, B)[b]``."""
    w = (chain.shape[0] - 2 * B) // (6 * B)
    return chain[6 * B * w : 6 * B * w + B]


@jit(NET)
def loss_error(loss, out, G, AT, YT, oL, K, e, zmax):
    """A bound of the loss change's error, in the units of the rows' sums (before the loss scale), when
    each output pre-activation of sample b is off by at most ``e[b]`` and moves by at most ``zmax``."""
    total = 0.0
    B = e.shape[0]
    for b in range(B):
        if e[b] == 0.0:
            continue
        for k in range(K):
            u = oL + k
            slope = cubic_slope(G[0, u, b], G[1, u, b], G[2, u, b], zmax)
            if loss == SOFTMAX_CE:
                lam = 1.0  # an identity output: |softmax − y| ≤ 1 in every output
            elif loss == BCE:
                lam = slope  # |σ(a) − y| ≤ 1
            else:
                lam = slope * (2.0 * abs(AT[u, b] - YT[k, b]) + 2.0 * slope * zmax)
            total += lam * e[b]
    return total


@jit(NET)
def outputs_keep_sign_within(code, ZT, oL, P, B, dmax, e):
    """:func:`fastcheck.models.layered.cubics.outputs_keep_sign` with each sample's outputs off by up to
    ``e[b]`` more."""
    if not cubics.piecewise_linear(code):
        return True
    K = P.shape[1]
    for b in range(B):
        for k in range(K):
            z = dmax * (abs(P[b, k]) + dmax * (abs(P[B + b, k]) + dmax * abs(P[2 * B + b, k]))) + e[b]
            if not 2.0 * z < abs(ZT[oL + k, b]):
                return False
    return True
