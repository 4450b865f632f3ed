"""The structure-aware perturbed costs in NumPy: the unperturbed pass and the general path.

The same recomputation as the compiled kernel (see :mod:`fastcheck.models.layered`), with
the loops over coordinates replaced by array operations over a block of rows (a row is one
coordinate at one move ``s``; the rows of a block belong to one layer l):

1. the moved column, ``z' = Z_l[:, j] + s·x`` (``x = A_{l−1}[:, i]``, 1 for a bias),
   ``D = act(z')·M − A_l[:, j]`` (:func:`column_change`, ``(R, B)``);
2. the rank-1 update of the next layer, ``ΔZ_{l+1} = D ⊗ W_{l+1}[j, :]`` (``(R, B, n)``),
   and its moved activations;
3. every layer above by one matrix product of the stacked changes, ``ΔZ_q = ΔA_{q−1}·W_q``
   (``(R·B, n_{q−1}) × (n_{q−1}, n_q)``, BLAS);
4. the loss by difference, ``(a' − a)(a' + a − 2y)`` for sse and mse, the row losses for
   bce and softmax_ce, and the L2 change ``½·l2·s·(2w + s)``.

Every activation is evaluated at its new argument: for sigmoid and tanh with
``|δ| ≤ 2⁻¹⁰`` through the same small-move polynomials as the compiled kernel
(:mod:`fastcheck.models.layered.moves`), and a sigmoid column's own change by its cubic
in δ for ``|δ| ≤ 2⁻¹³`` (:mod:`fastcheck.models.layered.cubics`), so nothing is
linearised and ``ΔJ`` is exact to rounding.  A row's memory is ``B·width``; callers keep
``R·B·width`` bounded (:data:`ENTRIES`).  Double precision only.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastcheck.models.backprop import ACT, B_OFF, N_IN, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import (
    BCE,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    MSE,
    RELU,
    SIGMOID,
    SOFTMAX_CE,
    SOFTPLUS,
    SSE,
    TANH,
)
from fastcheck.models.layered.cubics import CUBIC
from fastcheck.models.layered.moves import SMALL

#: Entries (row × sample × unit) one block of the general path stacks per array: 128 kB in
#: double precision, whatever the network, so the memory per block is bounded.
ENTRIES = 1 << 14


class Pass(NamedTuple):
    """The unperturbed pass, per layer ``l``: ``Z[l]``, ``H[l]`` (before dropout),
    ``A[l]`` (after, ``A[-1]`` is the input), ``E[l] = e^(−Z[l])``, ``M[l]`` (the layer's dropout
    factors), all ``(B, n_l)``; ``AT[l]``, ``A[l]`` transposed (contiguous); each sample's
    unnormalised loss and J(θ); for softmax_ce, ``P = softmax(A[L − 1])`` and ``ysum = Σ_k y_k``."""

    Z: list
    H: list
    A: list
    E: list
    M: list
    AT: list
    rowloss: np.ndarray
    J0: float
    P: np.ndarray = None
    ysum: np.ndarray = None


def weights(theta, arch, l):
    """``W_l`` as a ``(n_in, n_out)`` view of θ."""
    n_in, n_out, w0 = int(arch[l, N_IN]), int(arch[l, N_OUT]), int(arch[l, W_OFF])
    return theta[w0 : w0 + n_in * n_out].reshape(n_in, n_out)


def activate(z, act):
    """act(z), elementwise, as :func:`fastcheck.models.functions.activate` computes it."""
    if act == SIGMOID:
        return 1.0 / (1.0 + np.exp(-z))
    if act == TANH:
        return np.tanh(z)
    if act == RELU:
        return np.where(z > 0.0, z, 0.0)
    if act == LEAKY_RELU:
        return np.where(z > 0.0, z, LEAKY_SLOPE * z)
    if act == SOFTPLUS:
        return softplus(z)
    return z + 0.0


def softplus(z):
    """log(1 + e^z) without overflow (the compiled function's two branches)."""
    return np.where(z > 0.0, z + np.log1p(np.exp(-np.abs(z))), np.log1p(np.exp(np.minimum(z, 0.0))))


def _exp_small(x):
    return 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0))))


def _tanh_small(x):
    x2 = x * x
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0)))


def moved(z0, h0, e0, delta, act):
    """``(act(z0 + δ), crossed)``: the moved activation from the cached ``z0``, ``h0 = act(z0)``,
    ``e0 = e^(−z0)`` (broadcast), and where a relu/leaky_relu pre-activation changed side of 0
    (``None`` for the other activations).  Sigmoid and tanh take the small-move polynomials
    where ``|δ| ≤ 2⁻¹⁰`` (:func:`fastcheck.models.layered.moves.moved_activation`)."""
    if act == SIGMOID or act == TANH:
        small = np.abs(delta) <= SMALL
        if act == SIGMOID:
            near = 1.0 / (1.0 + e0 * _exp_small(-delta))
        else:
            t = _tanh_small(delta)
            near = (h0 + t) / (1.0 + h0 * t)
        if small.all():
            return near, None
        return np.where(small, near, activate(z0 + delta, act)), None
    z = z0 + delta
    a = activate(z, act)
    if act == RELU or act == LEAKY_RELU:
        return a, (z > 0.0) != (z0 > 0.0)
    return a, None


def forward_pass(theta, X, Y, arch, loss, l2, mask) -> Pass:
    """The unperturbed pass (each layer one matrix product) and J(θ) from it."""
    L = arch.shape[0]
    A_in = X
    Z, H, A, E, M = [], [], [], [], []
    for l in range(L):
        o0, n_out, b0 = int(arch[l, OUT_OFF]), int(arch[l, N_OUT]), int(arch[l, B_OFF])
        z = A_in @ weights(theta, arch, l)
        if b0 >= 0:
            z += theta[b0 : b0 + n_out]
        e = np.exp(-z)
        h = 1.0 / (1.0 + e) if arch[l, ACT] == SIGMOID else activate(z, arch[l, ACT])
        m = mask[:, o0 : o0 + n_out]
        A_in = h * m
        Z.append(z)
        H.append(h)
        A.append(A_in)
        E.append(e)
        M.append(m)
    A.append(X)
    rowloss = row_losses(A[L - 1], Y, loss)
    J0 = scale(loss, A[L - 1].shape) * float(rowloss.sum()) + l2_term(theta, arch, l2)
    P = ysum = None
    if loss == SOFTMAX_CE:  # softmax(a) and Σ_k y_k of every sample: the loss change by log1p
        top = A[L - 1].max(axis=1, keepdims=True)
        e = np.exp(A[L - 1] - top)
        P, ysum = e / e.sum(axis=1, keepdims=True), Y.sum(axis=1)
    return Pass(Z, H, A, E, M, [np.ascontiguousarray(a.T) for a in A], rowloss, J0, P, ysum)


#: Largest |Δa| of an output for which softmax_ce's change is taken by :func:`softmax_change`.
SOFTMAX_MOVE = 30.0


def softmax_change(cache: Pass, Y, dA):
    """The change of each sample's softmax_ce row loss when its logits move by ``dA`` (``(…, B, K)``):
    ``Σy·log1p(Σ_k p_k·expm1(Δa_k)) − Σ_k y_k·Δa_k`` with ``p = softmax(a)``, which is
    ``Σy·(lse(a + Δa) − lse(a)) − y·Δa`` without the cancellation of the two log-sum-exps."""
    return np.log1p((cache.P * np.expm1(dA)).sum(axis=-1)) * cache.ysum - (Y * dA).sum(axis=-1)


def scale(loss, shape) -> float:
    """The factor in front of Σ_b ℓ_b (see :func:`fastcheck.models.functions.loss_scale`)."""
    B, K = shape[-2], shape[-1]
    if loss == MSE or loss == BCE:
        return 1.0 / (B * K)
    return 1.0 / B if loss == SOFTMAX_CE else 1.0


def row_losses(a, y, loss):
    """Each sample's unnormalised loss, over the last axis (any leading axes)."""
    if loss == SOFTMAX_CE:
        top = a.max(axis=-1, keepdims=True)
        lse = top + np.log(np.exp(a - top).sum(axis=-1, keepdims=True))
        return (y * (lse - a)).sum(axis=-1)
    if loss == BCE:
        return (softplus(a) - y * a).sum(axis=-1)
    r = ((y - a) ** 2).sum(axis=-1)
    return 0.5 * r if loss == SSE else r


def l2_term(theta, arch, l2) -> float:
    if l2 == 0.0:
        return 0.0
    return 0.5 * l2 * sum(float(np.dot(w, w)) for w in (weights(theta, arch, l).ravel() for l in range(arch.shape[0])))


def column_change(cache: Pass, arch, l, i, j, S):
    """Step 1 for rows ``(i[r], j[r])`` of layer l at moves ``S[r]``: ``(D, crossed)``, the
    changes of the column's activations ``(R, B)`` and the kink flags (``None`` when the
    activation has no kink).  ``j`` may be one column for all rows (an int).  A sigmoid
    column takes its cubic in δ where ``|δ| ≤ 2⁻¹³``."""
    act = arch[l, ACT]
    x = np.where(i[:, None] >= 0, cache.AT[l - 1][i], 1.0)  # A[-1] is the input
    delta = S[:, None] * x
    zt, ht, et, mt, at = (v.T[j] for v in (cache.Z[l], cache.H[l], cache.E[l], cache.M[l], cache.A[l]))
    if act == SIGMOID:
        small = np.abs(delta) <= CUBIC
        if small.any():
            q = np.where(ht >= 0.5, et * ht, 1.0 - ht)  # 1 − σ(z) without cancellation
            g1 = ht * q
            g2 = g1 * (q - ht) * 0.5
            g3 = g1 * (1.0 - 6.0 * g1) * (1.0 / 6.0)
            cubic = mt * (delta * (g1 + delta * (g2 + delta * g3)))
            if small.all():
                return cubic, None
    new, crossed = moved(zt, ht, et, delta, act)
    D = new * mt - at
    if act == SIGMOID and small.any():
        D = np.where(small, cubic, D)
    return D, crossed


def l2_changes(theta, arch, l, i, j, S, l2):
    """``½·l2·s·(2w + s)`` for the weights among the rows (0 for biases)."""
    if l2 == 0.0:
        return 0.0
    w = theta[int(arch[l, W_OFF]) + np.maximum(i, 0) * int(arch[l, N_OUT]) + j]
    return np.where(i >= 0, 0.5 * l2 * S * (2.0 * w + S), 0.0)


def general_rows(theta, Y, arch, loss, l2, cache: Pass, l, i, j, S):
    """``(ΔJ, kink)`` of the rows ``(i[r], j[r], S[r])`` of layer l (``i[r] = −1``: the bias
    ``b_l[j]``) by steps 1-4 of the module doc."""
    L = arch.shape[0]
    D, crossed = column_change(cache, arch, l, i, j, S)
    kink = np.zeros(len(S), np.bool_) if crossed is None else crossed.any(axis=1)
    AL = cache.A[L - 1]
    if l == L - 1:
        # the output column itself moved: only entry (b, j) of each row's output changed
        a_old = AL.T[j]
        if loss == SSE or loss == MSE:
            y = Y.T[j]
            d = D * (2.0 * a_old + D - 2.0 * y)
            diff = (0.5 * d if loss == SSE else d).sum(axis=1)
        elif loss == BCE:
            a_new = a_old + D
            diff = (softplus(a_new) - softplus(a_old) - Y.T[j] * D).sum(axis=1)
        elif np.abs(D).max(initial=0.0) <= SOFTMAX_MOVE:
            # only logit j moved: Σ_k p_k·expm1(Δa_k) is p_j·expm1(D)
            diff = (np.log1p(cache.P.T[j] * np.expm1(D)) * cache.ysum - Y.T[j] * D).sum(axis=1)
        else:
            out = np.broadcast_to(AL, (len(S),) + AL.shape).copy()
            rows = np.arange(len(S))
            out[rows, :, j] = a_old + D
            diff = (row_losses(out, Y, loss) - cache.rowloss).sum(axis=1)
    else:
        m = l + 1
        dA = None
        for q in range(m, L):
            if q == m:  # rank-1: the column's change times row j of W_m
                dz = D[:, :, None] * weights(theta, arch, m)[j][:, None, :]
            else:  # the stacked changes through W_q, one product
                n_in = int(arch[q, N_IN])
                dz = (dA.reshape(-1, n_in) @ weights(theta, arch, q)).reshape(dA.shape[:2] + (-1,))
            if arch[q, ACT] == IDENTITY:  # linear: the change is the move itself (the output's mask is 1)
                dA = dz if q == L - 1 else dz * cache.M[q]
                continue
            new, crossed = moved(cache.Z[q], cache.H[q], cache.E[q], dz, arch[q, ACT])
            dA = new * cache.M[q] - cache.A[q]
            if crossed is not None:
                kink |= crossed.any(axis=(1, 2))
        if loss == SSE or loss == MSE:
            d = dA * (2.0 * (AL - Y) + dA)
            diff = d.sum(axis=(1, 2))
            if loss == SSE:
                diff *= 0.5
        elif loss == BCE:
            diff = (softplus(AL + dA) - softplus(AL) - Y * dA).sum(axis=(1, 2))
        elif np.abs(dA).max(initial=0.0) <= SOFTMAX_MOVE:
            diff = softmax_change(cache, Y, dA).sum(axis=1)
        else:
            diff = (row_losses(AL + dA, Y, loss) - cache.rowloss).sum(axis=1)
    dJ = scale(loss, AL.shape) * diff
    return dJ + l2_changes(theta, arch, l, i, j, S, l2), kink


def row_width(arch, l) -> int:
    """Entries per sample that a row of layer l stacks on the general path: the widest layer above
    it, or the output's width (a moved output column recomputes the row's outputs for softmax_ce)."""
    L = arch.shape[0]
    return max([int(arch[L - 1, N_OUT])] + [int(arch[q, N_OUT]) for q in range(l + 1, L)])
