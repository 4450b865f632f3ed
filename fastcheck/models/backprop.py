"""Forward pass, cost and hand-written backprop of the built-in dense networks.

Pure ``@njit`` code over flat arrays.  A network of ``L`` dense layers is
described by an int64 table ``arch`` of shape ``(L, 7)``, one row per layer
with the columns below, so every depth, width, activation and loss runs
through the same compiled functions (the codes are run-time values).

Storage conventions (row-major, batch first):

* θ holds ``W_l`` (``n_in × n_out``, C order) at ``arch[l, W_OFF]`` and
  ``b_l`` at ``arch[l, B_OFF]`` (``-1``: no bias);
* the activations of all layers sit side by side in one ``(B, T)`` array,
  ``T = n_0 + Σ n_l``: the input ``X`` in columns ``0 … n_0 − 1``, layer l's
  units in columns ``arch[l, OUT_OFF] …``; layer l reads its input from
  columns ``arch[l, IN_OFF] …``.  Pre-activations ``Z``, activations before
  dropout ``H`` and dropout factors ``mask`` use the same columns;
* ``mask[b, u]`` is 0 or 1/keep_prob for hidden units and 1 for input and
  output columns, so dropout is the exact product ``A = H·mask``.

The layer recurrence and the cost are

    Z_l = A_{l−1}·W_l + b_l,   H_l = act_l(Z_l),   A_l = H_l ⊙ M_l,
    J   = scale · Σ_b row_loss(A_L[b], y_b) + ½·l2·Σ_l ‖W_l‖².

The forward pass and the costs compute in θ's precision (float64 or
float32; ``X``, ``Y``, ``mask`` and ``l2`` come in the same one, see
:meth:`fastcheck.models.MLP.cost_args`), so a float32 network really rounds
every operation to float32.  The backprop (:func:`mlp_grad`) is the
float64 reference.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.functions import NET, activate, activate_prime, loss_scale, row_loss, row_loss_grad
from fastcheck.models.numeric import const

N_IN, N_OUT, ACT, W_OFF, B_OFF, IN_OFF, OUT_OFF = range(7)


@jit(NET)
def total_columns(arch):
    """T = n_0 + Σ n_l: the width of the side-by-side activation arrays."""
    L = arch.shape[0]
    return arch[L - 1, OUT_OFF] + arch[L - 1, N_OUT]


@jit(NET)
def l2_penalty(theta, arch, l2):
    """½·l2·Σ_l Σ_ij W_l[i, j]², in θ's precision (``l2`` of the same type)."""
    s = const(0.0, theta[0])
    if l2 == 0.0:
        return s
    for l in range(arch.shape[0]):
        a = arch[l, W_OFF]
        for t in range(a, a + arch[l, N_IN] * arch[l, N_OUT]):
            s += theta[t] * theta[t]
    return const(0.5, s) * l2 * s


# -- one dense layer: forward beside backward ------------------------------------------
@jit(NET)
def dense_forward(theta, arch, l, A, Z, H, mask):
    """Layer ``l`` on every sample: Z = A_in·W + b, H = act(Z), A_out = H ⊙ mask.

    ``z_j = b_j + Σ_i x_i·W_ij``, summed in increasing ``i`` (the order every
    fastcheck kernel uses, so they all round alike).
    """
    n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
    w0, b0, i0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, IN_OFF], arch[l, OUT_OFF]
    # unsigned column indices: Numba then skips its negative-index wraparound, and LLVM
    # vectorises the loop over j (the same operations in the same order)
    nu, ou = np.uint64(n_out), np.uint64(o0)
    for b in range(A.shape[0]):
        for j in range(n_out):
            Z[b, o0 + j] = theta[b0 + j] if b0 >= 0 else const(0.0, theta[0])
        for i in range(n_in):
            x = A[b, i0 + i]
            row = np.uint64(w0 + i * n_out)
            for j in range(nu):
                Z[b, ou + j] += x * theta[row + j]
        for j in range(n_out):
            h = activate(Z[b, o0 + j], act)
            H[b, o0 + j] = h
            A[b, o0 + j] = h * mask[b, o0 + j]


@jit(NET)
def dense_backward(theta, arch, l, A, Z, H, mask, dA, l2, grad):
    """Backprop through layer ``l``, given ``dA = ∂J/∂A_out`` in the layer's columns.

        dH = dA ⊙ mask,  dZ = dH ⊙ act'(Z),
        ∂J/∂W = A_inᵀ·dZ + l2·W,  ∂J/∂b = Σ_b dZ,  ∂J/∂A_in = dZ·Wᵀ.

    ``dZ`` overwrites ``dA``'s columns; ``∂J/∂A_in`` is written into ``dA``'s
    input columns (except for the first layer, whose input is the data).
    The planted bugs live in a copy of this function
    (:mod:`fastcheck.models.mutant_backprop`), not here.
    """
    n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
    w0, b0, i0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, IN_OFF], arch[l, OUT_OFF]
    B = A.shape[0]
    for b in range(B):
        for j in range(n_out):
            u = o0 + j
            dA[b, u] = dA[b, u] * mask[b, u] * activate_prime(Z[b, u], H[b, u], act)
    # weights: ∂J/∂W = A_inᵀ·dZ, one matrix product (BLAS)
    dZ = np.ascontiguousarray(dA[:, o0 : o0 + n_out])
    G = np.dot(np.ascontiguousarray(A[:, i0 : i0 + n_in]).T, dZ)
    for i in range(n_in):
        for j in range(n_out):
            t = w0 + i * n_out + j
            grad[t] = G[i, j] + l2 * theta[t]
    # biases: ∂J/∂b_j = Σ_b dz_bj
    if b0 >= 0:
        for j in range(n_out):
            s = 0.0
            for b in range(B):
                s += dA[b, o0 + j]
            grad[b0 + j] = s
    # input: ∂J/∂A_in = dZ·Wᵀ, one matrix product (BLAS)
    if l > 0:
        W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        dX = np.dot(dZ, W.T)
        for b in range(B):
            for i in range(n_in):
                dA[b, i0 + i] = dX[b, i]


# -- whole network ------------------------------------------------------------------
@jit(NET)
def _kept_buffers(theta, X, arch):
    """``(Z, H, A)`` of a forward pass, each ``(B, T)`` in θ's precision, with the inputs in their first columns."""
    B = X.shape[0]
    T = total_columns(arch)
    Z = np.zeros((B, T), theta.dtype)
    H = np.zeros((B, T), theta.dtype)
    A = np.zeros((B, T), theta.dtype)
    n0 = arch[0, N_IN]
    for b in range(B):
        for i in range(n0):
            A[b, i] = X[b, i]
            H[b, i] = X[b, i]
    return Z, H, A


@jit(NET)
def forward(theta, X, arch, mask):
    """The forward pass, kept: ``(Z, H, A)``, each ``(B, T)`` in θ's precision (see the module doc)."""
    Z, H, A = _kept_buffers(theta, X, arch)
    for l in range(arch.shape[0]):
        dense_forward(theta, arch, l, A, Z, H, mask)
    return Z, H, A


@jit(NET)
def forward_blas(theta, X, arch, mask):
    """The forward pass as :func:`forward` keeps it, each layer one matrix product ``A_in·W``
    (BLAS) plus the bias: the backprop's pass (it rounds differently from the row loops)."""
    Z, H, A = _kept_buffers(theta, X, arch)
    B = X.shape[0]
    for l in range(arch.shape[0]):
        n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
        w0, b0, i0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, IN_OFF], arch[l, OUT_OFF]
        W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        P = np.dot(X if l == 0 else np.ascontiguousarray(A[:, i0 : i0 + n_in]), W)
        for b in range(B):
            for j in range(n_out):
                z = P[b, j] + theta[b0 + j] if b0 >= 0 else P[b, j]
                h = activate(z, act)
                Z[b, o0 + j] = z
                H[b, o0 + j] = h
                A[b, o0 + j] = h * mask[b, o0 + j]
    return Z, H, A


@jit(NET)
def data_loss(A, Y, arch, loss):
    """scale · Σ_b row_loss(A_L[b], y_b), from the kept activations."""
    L = arch.shape[0]
    o0, K = arch[L - 1, OUT_OFF], arch[L - 1, N_OUT]
    B = A.shape[0]
    s = const(0.0, A[0, 0])
    for b in range(B):
        s += row_loss(A[b, o0 : o0 + K], Y[b], loss)
    return const(loss_scale(loss, B, K), s) * s


@jit(NET)
def mlp_cost(theta, X, Y, arch, loss, l2, mask):
    """J(θ) = scale·Σ_b row_loss(A_L[b], y_b) + ½·l2·Σ‖W_l‖², by row loops.

    One sample at a time through two row buffers (O(width) memory, no BLAS);
    it rounds exactly as :func:`forward` followed by :func:`data_loss`, hence
    as the structure-aware kernel's unperturbed cost.
    """
    L = arch.shape[0]
    B = X.shape[0]
    width = 0
    for l in range(L):
        width = max(width, arch[l, N_OUT])
    cur = np.empty(max(width, arch[0, N_IN]), theta.dtype)
    nxt = np.empty(width, theta.dtype)
    s = const(0.0, theta[0])
    for b in range(B):
        n0 = arch[0, N_IN]
        for i in range(n0):
            cur[i] = X[b, i]
        for l in range(L):
            n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
            w0, b0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, OUT_OFF]
            for j in range(n_out):
                nxt[j] = theta[b0 + j] if b0 >= 0 else const(0.0, theta[0])
            for i in range(n_in):
                x = cur[i]
                row = np.uint64(w0 + i * n_out)
                for j in range(np.uint64(n_out)):
                    nxt[j] += x * theta[row + j]
            for j in range(n_out):
                cur[j] = activate(nxt[j], act) * mask[b, o0 + j]
        K = arch[L - 1, N_OUT]
        s += row_loss(cur[:K], Y[b], loss)
    return const(loss_scale(loss, B, arch[L - 1, N_OUT]), s) * s + l2_penalty(theta, arch, l2)


@jit(NET)
def mlp_cost_blas(theta, X, Y, arch, loss, l2, mask):
    """J(θ) as :func:`mlp_cost`, with each layer one matrix product ``A·W`` (BLAS).

    The black-box form (``model.jit_cost``): in the parallel kernel, with BLAS
    held to one thread, it runs about 4× faster than the row loops of
    :func:`mlp_cost` (benchmarks/bench_structured.py measures both); it
    rounds differently from them, by a few ulps.
    """
    L = arch.shape[0]
    A = X
    for l in range(L):
        n_in, n_out, act = arch[l, N_IN], arch[l, N_OUT], arch[l, ACT]
        w0, b0, o0 = arch[l, W_OFF], arch[l, B_OFF], arch[l, OUT_OFF]
        Z = A @ theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        for b in range(Z.shape[0]):
            for j in range(n_out):
                z = Z[b, j] + theta[b0 + j] if b0 >= 0 else Z[b, j]
                Z[b, j] = activate(z, act) * mask[b, o0 + j]
        A = Z
    s = const(0.0, theta[0])
    for b in range(A.shape[0]):
        s += row_loss(A[b], Y[b], loss)
    return const(loss_scale(loss, A.shape[0], A.shape[1]), s) * s + l2_penalty(theta, arch, l2)


@jit(NET)
def _layer_view(flat, B, arch, q):
    """Layer ``q``'s units of a flat per-layer buffer as a C-contiguous ``(B, n_q)`` matrix: layer q
    starts at ``B·(OUT_OFF_q − n_0)`` (the layers one after the other, each its own block)."""
    start = B * (arch[q, OUT_OFF] - arch[0, N_IN])
    return flat[start : start + B * arch[q, N_OUT]].reshape((B, arch[q, N_OUT]))


@jit(NET)
def _grad_forward(theta, arch, q, Ain, mask, Zf, Hf, Af):
    """Layer ``q`` of :func:`mlp_grad`'s forward pass: ``Z = A_in·W`` (BLAS, straight into the layer's
    block) plus the bias, ``H = act(Z)``, ``A = H ⊙ mask``, as :func:`forward_blas` computes them."""
    B = Ain.shape[0]
    n_in, n_out, act = arch[q, N_IN], arch[q, N_OUT], arch[q, ACT]
    w0, b0, o0 = arch[q, W_OFF], arch[q, B_OFF], arch[q, OUT_OFF]
    W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
    Z = _layer_view(Zf, B, arch, q)
    H = _layer_view(Hf, B, arch, q)
    A = _layer_view(Af, B, arch, q)
    np.dot(Ain, W, Z)
    for b in range(B):
        for j in range(n_out):
            z = Z[b, j] + theta[b0 + j] if b0 >= 0 else Z[b, j]
            h = activate(z, act)
            Z[b, j] = z
            H[b, j] = h
            A[b, j] = h * mask[b, o0 + j]


@jit(NET)
def _grad_backward(theta, arch, q, Ain, mask, Zf, Hf, dAf, l2, grad):
    """Layer ``q`` of :func:`mlp_grad`'s backward pass, as :func:`dense_backward` computes it, every
    product written where it is read (``A_inᵀ·dZ`` into ∂J/∂W's place in ``grad``, ``dZ·Wᵀ`` into the
    layer below's block of ``dAf``) and ``dZ`` made in place of ``dA``."""
    B = Ain.shape[0]
    n_in, n_out, act = arch[q, N_IN], arch[q, N_OUT], arch[q, ACT]
    w0, b0, o0 = arch[q, W_OFF], arch[q, B_OFF], arch[q, OUT_OFF]
    Z = _layer_view(Zf, B, arch, q)
    H = _layer_view(Hf, B, arch, q)
    dZ = _layer_view(dAf, B, arch, q)
    for b in range(B):
        for j in range(n_out):
            dZ[b, j] = dZ[b, j] * mask[b, o0 + j] * activate_prime(Z[b, j], H[b, j], act)
    GW = grad[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
    np.dot(Ain.T, dZ, GW)
    if l2 != 0.0:
        for t in range(w0, w0 + n_in * n_out):
            grad[t] = grad[t] + l2 * theta[t]
    if b0 >= 0:
        for j in range(n_out):
            s = 0.0
            for b in range(B):
                s += dZ[b, j]
            grad[b0 + j] = s
    if q > 0:
        W = theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
        np.dot(dZ, W.T, _layer_view(dAf, B, arch, q - 1))


@jit(NET)
def mlp_grad(theta, X, Y, arch, loss, l2, mask, grad):
    """``grad = ∂J/∂θ`` by backprop (the correct gradient; the mutants are in :mod:`.mutant_backprop`).

    ∂J/∂A_L[b] = scale·row_loss_grad(A_L[b], y_b), then each layer's
    backward step (:func:`dense_backward`'s operations) from the last to the first, every product a
    matrix product (BLAS: the forward pass as :func:`forward_blas` takes it, ``A_inᵀ·dZ``
    and ``dZ·Wᵀ``).  Returns J as well (from that pass, so it rounds as the
    BLAS cost does, not bit for bit as the row loops of :func:`mlp_cost`).

    Without temporaries: each layer's ``Z``, ``H``, ``A`` and ``∂J/∂A`` are contiguous blocks of four
    flat buffers (:func:`_layer_view`; the input is ``X`` itself, not a copy), and every product goes
    straight to where it is read (``out=``).  The products, their shapes and layouts and every
    elementwise operation are those of the kept form (:func:`forward_blas`, :func:`dense_backward`,
    which :mod:`.mutant_backprop` still runs), so the gradient is the same, bit for bit.
    """
    L = arch.shape[0]
    B = X.shape[0]
    n = B * (total_columns(arch) - arch[0, N_IN])
    Zf = np.empty(n, theta.dtype)
    Hf = np.empty(n, theta.dtype)
    Af = np.empty(n, theta.dtype)
    dAf = np.empty(n, theta.dtype)
    _grad_forward(theta, arch, 0, X, mask, Zf, Hf, Af)
    for q in range(1, L):
        _grad_forward(theta, arch, q, _layer_view(Af, B, arch, q - 1), mask, Zf, Hf, Af)
    K = arch[L - 1, N_OUT]
    scale = loss_scale(loss, B, K)
    AL = _layer_view(Af, B, arch, L - 1)
    dAL = _layer_view(dAf, B, arch, L - 1)
    J = const(0.0, AL[0, 0])
    for b in range(B):
        J += row_loss(AL[b], Y[b], loss)
        row_loss_grad(AL[b], Y[b], loss, dAL[b])
        for k in range(K):
            dAL[b, k] *= scale
    for q in range(L - 1, 0, -1):
        _grad_backward(theta, arch, q, _layer_view(Af, B, arch, q - 1), mask, Zf, Hf, dAf, l2, grad)
    _grad_backward(theta, arch, 0, X, mask, Zf, Hf, dAf, l2, grad)
    return const(loss_scale(loss, B, K), J) * J + l2_penalty(theta, arch, l2)
