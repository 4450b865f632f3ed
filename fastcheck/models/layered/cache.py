"""The unperturbed pass that every perturbed cost starts from, and where a coordinate lives.

* :func:`forward_cache`: ``Z_l = A_{l−1}·W_l + b_l``, ``H_l = act(Z_l)``,
  ``A_l = H_l·M_l`` (dropout factors ``M``) for the whole batch, with
  ``E = e^(−Z)``, their unit-major transposes, each sample's loss ``ℓ_b``,
  ``colmax[u] = max_b |A[b, u]|`` and ``J(θ) = scale·Σ_b ℓ_b + ½·l2·ΣW²`` rounded
  exactly as the black-box cost.  The kernel reads these and never re-runs a
  full pass.
* :func:`locate`: flat coordinate ``c`` → ``(layer l, is_bias, i, j)``, i.e.
  ``c = W_OFF_l + i·n_l + j`` for ``W_l[i, j]`` and ``c = B_OFF_l + j`` for ``b_l[j]``.
* :func:`widest` (the widest layer, the scratch's width) and :func:`matrix_view`
  (a flat scratch buffer seen as a matrix).
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, jit
from fastcheck.models.backprop import B_OFF, N_IN, N_OUT, OUT_OFF, W_OFF, data_loss, forward, l2_penalty
from fastcheck.models.functions import row_loss


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
def widest(arch):
    """The number of units of the widest layer (at least 1)."""
    width = 1
    for l in range(arch.shape[0]):
        width = max(width, arch[l, N_OUT])
    return width


@jit(NET)
def matrix_view(flat, R, n):
    """The first ``R·n`` entries of a flat scratch buffer as a C-contiguous ``(R, n)`` matrix."""
    return flat[: R * n].reshape((R, n))
