"""The reference backprop of :mod:`fastcheck.models.backprop` with the planted bugs in it.

The correct gradient is read in :mod:`fastcheck.models.backprop` alone; this
module is its copy in which every mutant of :mod:`fastcheck.models.mutants`
lives at the line where people make that mistake (``bug`` is the mutant's
code; ``MLP(..., mutant=name)`` and ``model.mutant(name)`` call it).  With
``bug = 0`` it computes what the reference computes, which the tests check,
so the two cannot drift apart unnoticed.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, jit
from fastcheck.models import mutants as mu
from fastcheck.models.backprop import (
    ACT,
    B_OFF,
    IN_OFF,
    N_IN,
    N_OUT,
    OUT_OFF,
    W_OFF,
    data_loss,
    forward_blas,
    l2_penalty,
)
from fastcheck.models.functions import SSE, activate, activate_prime, loss_scale, row_loss_grad

__all__ = ["dense_backward", "mlp_grad"]


@jit(NET)
def dense_backward(theta, arch, l, A, Z, H, mask, dA, l2, bug, grad):
    """Backprop through layer ``l``, given ``dA = ∂J/∂A_out`` in the layer's columns.

        dH = dA ⊙ mask,  dZ = dH ⊙ act'(Z),
        ∂J/∂W = A_inᵀ·dZ + l2·W,  ∂J/∂b = Σ_b dZ,  ∂J/∂A_in = dZ·Wᵀ.

    ``dZ`` overwrites ``dA``'s columns; ``∂J/∂A_in`` is written into ``dA``'s
    input columns (except for the first layer, whose input is the data).
    ``bug`` plants the mutant of that code where it lives (see
    :mod:`fastcheck.models.mutants`); 0 is the correct gradient.
    """
    L = arch.shape[0]
    n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
    w0, b0, i0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, IN_OFF], arch[l, OUT_OFF]
    B = A.shape[0]
    hidden = l < L - 1
    for b in range(B):
        for j in range(n_out):
            u = o0 + j
            dh = dA[b, u] if (bug == mu.DROPOUT_BACKWARD and hidden) else dA[b, u] * mask[b, u]
            if l == 0 and bug == mu.ACTIVATION_DERIVATIVE:
                z = H[b, u]
                d = activate_prime(z, activate(z, act), act)
            elif l == 0 and bug == mu.OFF_BY_ONE_LAYER and L > 1:
                z = Z[b, arch[1, OUT_OFF] + j % arch[1, N_OUT]]
                d = activate_prime(z, activate(z, act), act)
            else:
                d = activate_prime(Z[b, u], H[b, u], act)
            dA[b, u] = dh * d
    # weights: ∂J/∂W = A_inᵀ·dZ, one matrix product (BLAS)
    dZ = np.ascontiguousarray(dA[:, o0 : o0 + n_out])
    G = np.dot(np.ascontiguousarray(A[:, i0 : i0 + n_in]).T, dZ)
    l2w = l2
    if bug == mu.NO_L2_GRAD:
        l2w = 0.0
    elif bug == mu.L2_DOUBLED:
        l2w = 2.0 * l2
    factor = 2.0 if (bug == mu.SCALED_GRAD and l == L - 1) else 1.0
    transposed = bug == mu.TRANSPOSED_WEIGHT and l == 0
    for i in range(n_in):
        for j in range(n_out):
            t = w0 + i * n_out + j
            v = factor * (G[i, j] + l2w * theta[t])
            if transposed:
                grad[w0 + j * n_in + i] = v
            else:
                grad[t] = v
    # biases: ∂J/∂b_j = Σ_b dz_bj
    if b0 >= 0:
        for j in range(n_out):
            s = 0.0
            if bug == mu.BIAS_AXIS and l == L - 1:
                r = j % B
                for k in range(n_out):
                    s += dA[r, o0 + k]
            else:
                for b in range(B):
                    s += dA[b, o0 + j]
            if bug == mu.BIAS_REGULARIZED:
                s += l2 * theta[b0 + j]
            grad[b0 + j] = s
    # input: ∂J/∂A_in = dZ·Wᵀ, one matrix product (BLAS)
    if l > 0:
        W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        dX = np.dot(dZ, W.T)
        for b in range(B):
            for i in range(n_in):
                dA[b, i0 + i] = dX[b, i]


@jit(NET)
def mlp_grad(theta, X, Y, arch, loss, l2, mask, bug, grad):
    """``grad = ∂J/∂θ`` by backprop with the mutant ``bug`` planted (0: the reference's gradient).

    ∂J/∂A_L[b] = scale·row_loss_grad(A_L[b], y_b), then each layer's
    :func:`dense_backward` from the last to the first, every product a
    matrix product (BLAS: the forward pass by :func:`forward_blas`, ``A_inᵀ·dZ``
    and ``dZ·Wᵀ``).  Returns J as well (from that pass, so it rounds as the
    BLAS cost does, not bit for bit as the row loops of :func:`mlp_cost`).
    """
    L = arch.shape[0]
    B = X.shape[0]
    Z, H, A = forward_blas(theta, X, arch, mask)
    o0, K = arch[L - 1, OUT_OFF], arch[L - 1, N_OUT]
    scale = loss_scale(loss, B, K)
    if bug == mu.NO_MEAN and loss != SSE:
        scale *= B
    dA = np.zeros_like(A)
    for b in range(B):
        row_loss_grad(A[b, o0 : o0 + K], Y[b], loss, dA[b, o0 : o0 + K])
        for k in range(K):
            dA[b, o0 + k] *= scale
    for l in range(L - 1, -1, -1):
        dense_backward(theta, arch, l, A, Z, H, mask, dA, l2, bug, grad)
    return data_loss(A, Y, arch, loss) + l2_penalty(theta, arch, l2)

