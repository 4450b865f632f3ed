"""The 2-3-1 network of *Neural Networks Demystified*: its data, as a built-in model and as plain NumPy.

The tutorial predicts a test score from the hours of sleep and of study
with two inputs, three sigmoid hidden units and one sigmoid output, no
biases, and the cost 0.5·Σ(y − ŷ)².  fastcheck has it twice: as a built-in
:class:`~fastcheck.models.MLP` (:func:`tutorial_network`, structure-aware
kernel and all) and in the tutorial's own NumPy style
(:func:`tutorial_numpy_cost`, :func:`tutorial_numpy_grad`: any dtype,
complex-safe), on the same θ and data.
"""
from __future__ import annotations

import warnings

import numpy as np

from fastcheck.core.layout import Layout
from fastcheck.models.mlp import MLP

__all__ = ["TUTORIAL_LAYOUT", "seed_network", "sleep_study_data", "tutorial_network", "tutorial_numpy_cost",
           "tutorial_numpy_grad"]

#: The blocks of the NumPy version's θ: W1 (2×3), then W2 (3×1).
TUTORIAL_LAYOUT = Layout(("W1", "W2"), ((2, 3), (3, 1)))


def sleep_study_data():
    """``(X, y)``: hours of sleep and study ``[[3, 5], [5, 1], [10, 2]]`` scaled by their
    column maxima, and the test scores ``[75, 82, 93] / 100`` as a ``(3, 1)`` column."""
    X = np.array([[3, 5], [5, 1], [10, 2]], dtype=np.float64)
    X = X / np.amax(X, axis=0)
    y = np.array([[75], [82], [93]], dtype=np.float64) / 100
    return X, y


def tutorial_network(seed=0):
    """The 2-3-1 sigmoid network of Neural Networks Demystified, as ``(model, theta, X, y)``.

    No biases, cost 0.5·Σ(y − ŷ)², the data of :func:`sleep_study_data`.  θ
    is drawn from a standard normal (as the tutorial draws it) with ``seed``.
    """
    model = MLP([2, 3, 1], activations="sigmoid", loss="sse", bias=False)
    X, y = sleep_study_data()
    return model, model.init(seed, scale=1.0), X, y


def seed_network(seed=0):
    """Deprecated spelling of :func:`tutorial_network` (kept for one release)."""
    warnings.warn("fastcheck.models.seed_network is now tutorial_network", DeprecationWarning, stacklevel=2)
    return tutorial_network(seed)


def tutorial_numpy_cost(theta, X, y):
    """The tutorial's cost 0.5·Σ(y − ŷ)² in its own NumPy style (2-3-1, sigmoid, no biases).

    Pure NumPy on θ's own dtype: float32 stays float32 and complex θ gives the
    complex step what it needs.
    """
    W1 = theta[:6].reshape(2, 3)
    W2 = theta[6:9].reshape(3, 1)
    a2 = 1 / (1 + np.exp(-(X @ W1)))
    r = y - 1 / (1 + np.exp(-(a2 @ W2)))
    return 0.5 * np.sum(r * r)


def tutorial_numpy_grad(theta, X, y):
    """The tutorial's backprop: δ3 = −(y − ŷ)·σ'(z3), δ2 = δ3·W2ᵀ·σ'(z2)."""
    W1 = theta[:6].reshape(2, 3)
    W2 = theta[6:9].reshape(3, 1)
    z2 = X @ W1
    a2 = 1 / (1 + np.exp(-z2))
    z3 = a2 @ W2
    yhat = 1 / (1 + np.exp(-z3))
    delta3 = -(y - yhat) * (yhat * (1 - yhat))
    delta2 = (delta3 @ W2.T) * (a2 * (1 - a2))
    return np.concatenate(((X.T @ delta2).ravel(), (a2.T @ delta3).ravel()))
