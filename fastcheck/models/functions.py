"""Activations and losses of the built-in networks, each beside its derivative.

Pure ``@njit`` scalar and row functions, selected by integer codes at run
time (not compile time), so one compiled kernel serves every configuration.
The string registries :data:`ACTIVATIONS` and :data:`LOSSES` map the public
names to these codes.

Conventions
-----------
* ``activate(z, code)`` is the activation; ``activate_prime(z, a, code)`` its
  derivative at ``z``, given ``a = activate(z, code)`` (sigmoid and tanh read
  it from ``a``).  At a ReLU kink (``z == 0``) the derivative taken is 0.
* A loss is ``J_data = scale · Σ_b row_loss(a_b, y_b)`` over the rows of the
  output ``a`` (batch ``B``, ``K`` outputs) with ``scale`` from
  :func:`loss_scale`; ``row_loss_grad`` writes ∂row_loss/∂a_b.
* ``"bce"`` and ``"softmax_ce"`` read the network's output as *logits*
  (sigmoid resp. softmax applied inside the loss, in a numerically stable
  form), so every output activation gives a finite, smooth cost.

Precision: every function computes in the type of its argument (float64,
float32, and for the complex step complex128 or complex64); literals go
through :func:`fastcheck.models.numeric.const`.  The piecewise functions
(relu, leaky_relu, the stable softplus, the max shift of logsumexp) choose
their branch by the real part, the usual complexification: each branch is
analytic, so a complex step ``z + i·h`` returns the derivative of the branch
that ``z`` lies on, as a real difference would.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, NET_PARALLEL, jit  # noqa: F401 - the network code's Numba flags, re-exported
from fastcheck.models.numeric import const

IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTPLUS = range(6)

#: Activation name -> code.
ACTIVATIONS = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softplus": SOFTPLUS,
}
#: Activations with a kink at z = 0 (their derivative jumps there).
KINKED = frozenset({"relu", "leaky_relu"})
#: Slope of leaky_relu for z < 0.
LEAKY_SLOPE = 0.01

SSE, MSE, BCE, SOFTMAX_CE = range(4)

#: Loss name -> code.
LOSSES = {"sse": SSE, "mse": MSE, "bce": BCE, "softmax_ce": SOFTMAX_CE}

#: One-line definitions, for help texts and reports.
LOSS_FORMULAS = {
    "sse": "0.5·Σ(y − ŷ)²  (the cost of Neural Networks Demystified)",
    "mse": "mean over batch and outputs of (y − ŷ)²",
    "bce": "mean over batch and outputs of softplus(ŷ) − y·ŷ  (binary cross-entropy of σ(ŷ), targets in {0,1})",
    "softmax_ce": "mean over the batch of −Σ_k y_k·log softmax(ŷ)_k  (one-hot targets)",
}


# -- activations: forward beside derivative --------------------------------------
@jit(NET)
def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)) (exp overflow gives exactly 0, as it should)."""
    one = const(1.0, z)
    return one / (one + np.exp(-z))


@jit(NET)
def softplus(z):
    """log(1 + e^z), as z + log1p(e^(−z)) for Re z > 0 and log1p(e^z) otherwise
    (max(z, 0) + log1p(e^(−|z|)) for real z, bit for bit; no overflow)."""
    if z.real > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@jit(NET)
def activate(z, code):
    """a = act(z) for activation ``code``."""
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return np.tanh(z)
    if code == RELU:
        return z if z.real > 0.0 else const(0.0, z)
    if code == LEAKY_RELU:
        return z if z.real > 0.0 else const(LEAKY_SLOPE, z) * z
    if code == SOFTPLUS:
        return softplus(z)
    return z


@jit(NET)
def activate_prime(z, a, code):
    """act'(z), given ``a = act(z)``: σ' = a(1 − a), tanh' = 1 − a², relu' = [z > 0],
    leaky' = 1 or 0.01, softplus' = σ(z), identity' = 1."""
    one = const(1.0, a)
    if code == SIGMOID:
        return a * (one - a)
    if code == TANH:
        return one - a * a
    if code == RELU:
        return one if z.real > 0.0 else const(0.0, a)
    if code == LEAKY_RELU:
        return one if z.real > 0.0 else const(LEAKY_SLOPE, a)
    if code == SOFTPLUS:
        return sigmoid(z)
    return one


# -- losses: row loss beside its gradient ---------------------------------------
@jit(NET)
def loss_scale(code, batch, outputs):
    """The normalisation in front of Σ_b row_loss: 1 (sse), 1/(B·K) (mse, bce), 1/B (softmax_ce)."""
    if code == MSE or code == BCE:
        return 1.0 / (batch * outputs)
    if code == SOFTMAX_CE:
        return 1.0 / batch
    return 1.0


@jit(NET)
def logsumexp(a):
    """log Σ_k e^(a_k), shifted by the entry of largest real part."""
    m = a[0]
    for k in range(1, a.shape[0]):
        if a[k].real > m.real:
            m = a[k]
    s = const(0.0, m)
    for k in range(a.shape[0]):
        s += np.exp(a[k] - m)
    return m + np.log(s)


@jit(NET)
def row_loss(a, y, code):
    """Unnormalised loss of one sample: output row ``a``, target row ``y``.

    sse: ½Σ(y − a)²; mse: Σ(y − a)²; bce: Σ softplus(a) − y·a;
    softmax_ce: Σ_k y_k·(logsumexp(a) − a_k).
    """
    s = const(0.0, a[0])
    if code == SOFTMAX_CE:
        lse = logsumexp(a)
        for k in range(a.shape[0]):
            s += y[k] * (lse - a[k])
        return s
    for k in range(a.shape[0]):
        if code == BCE:
            s += softplus(a[k]) - y[k] * a[k]
        else:
            r = y[k] - a[k]
            s += r * r
    if code == SSE:
        s *= const(0.5, s)
    return s


@jit(NET)
def row_loss_grad(a, y, code, out):
    """``out = ∂row_loss/∂a``: a − y (sse), 2(a − y) (mse), σ(a) − y (bce),
    softmax(a)·Σy − y (softmax_ce)."""
    if code == SOFTMAX_CE:
        lse = logsumexp(a)
        ysum = const(0.0, y[0])
        for k in range(a.shape[0]):
            ysum += y[k]
        for k in range(a.shape[0]):
            out[k] = np.exp(a[k] - lse) * ysum - y[k]
        return
    for k in range(a.shape[0]):
        if code == BCE:
            out[k] = sigmoid(a[k]) - y[k]
        elif code == MSE:
            out[k] = const(2.0, a[k]) * (a[k] - y[k])
        else:
            out[k] = a[k] - y[k]
