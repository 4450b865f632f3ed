"""Problems the benchmarks run on, built on demand (never at import time).

The core benchmarks use a black-box logistic-regression cost written here as
a plain ``@njit`` function, so they depend on nothing but fastcheck's core
API.  The model benchmarks build fastcheck's own networks through
:func:`network`, which raises ``NotImplementedError`` (asv's way of skipping
a benchmark) when ``fastcheck.models`` is not importable in the benchmarked
commit.
"""
from __future__ import annotations

import importlib

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def logistic_cost(theta, X, y):
    """Mean logistic loss J = (1/m) Σ_i softplus(−y_i (x_i·w + b)).

    θ = [w (n), b]; softplus(t) = max(t, 0) + log1p(exp(−|t|)), stable for
    any t.
    """
    m, n = X.shape
    b = theta[n]
    total = 0.0
    for i in range(m):
        z = b
        for j in range(n):
            z += X[i, j] * theta[j]
        t = -y[i] * z
        total += max(t, 0.0) + np.log1p(np.exp(-abs(t)))
    return total / m


def logistic_grad(theta, X, y):
    """∂J/∂w = −(1/m) Xᵀ (y σ(−y z)), ∂J/∂b = −(1/m) Σ y σ(−y z)."""
    m, n = X.shape
    z = X @ theta[:n] + theta[n]
    s = -y / (1.0 + np.exp(y * z)) / m
    return np.concatenate([X.T @ s, [s.sum()]])


def logistic_problem(n, batch=16, seed=0):
    """``(cost, theta, grad, args, layout)`` for a logistic regression of n features."""
    import fastcheck

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, n)) / np.sqrt(n)
    y = np.where(rng.random(batch) < 0.5, -1.0, 1.0)
    theta = 0.5 * rng.standard_normal(n + 1)
    layout = fastcheck.Layout(("w", "b"), ((n,), (1,)))
    return logistic_cost, theta, logistic_grad(theta, X, y), (X, y), layout


def optional(module, *names):
    """Import ``module`` (and check it defines ``names``) or skip the benchmark.

    asv skips a benchmark whose setup raises ``NotImplementedError``: that is
    how the suite runs against commits older than a feature.  A module
    without a file (a namespace package left behind by a ``__pycache__`` of
    a later commit) counts as missing.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise NotImplementedError(f"{module} is not available in this commit: {exc}") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if getattr(mod, "__file__", None) is None or missing:
        raise NotImplementedError(f"{module} in this commit lacks {missing or 'a module file'}")
    return mod


#: The networks of the model benchmarks (and of ``python -m benchmarks.peers``).
NETWORKS = {
    "seed": None,
    "64-32-10": (64, 32, 10),
    "256-64-10": (256, 64, 10),
    "784-128-10": (784, 128, 10),
}


def network(name, batch=64, seed=0):
    """``(model, theta, X, y)`` of a sigmoid MLP on a random batch, or (``"seed"``, the benchmark id kept
    for the history) the 2-3-1 network of Neural Networks Demystified."""
    models = optional("fastcheck.models", "MLP")
    sizes = NETWORKS[name] if name in NETWORKS else tuple(int(w) for w in name.split("-"))  # "784-256-64-10"
    if sizes is None:
        make = getattr(models, "tutorial_network", None) or models.seed_network  # older commits
        return make(seed)
    model = models.MLP(list(sizes), activations="sigmoid", loss="sse")
    X, y = model.sample_data(batch, seed=seed)
    return model, model.init(seed), X, y


def check_model():
    """``fastcheck.check_model``, or skip when this commit has none.

    The compiled kernels are what these benchmarks time (their ``setup`` compiles them): a process
    without them in its cache would otherwise check small and mid-sized networks interpreted or in the
    kernel's NumPy form, whatever the commit, so compiling is forced where the commit can choose."""
    import fastcheck

    config = getattr(fastcheck, "config", None)
    if config is not None and hasattr(config, "COMPILE"):
        config.COMPILE = "always"
    if hasattr(fastcheck, "check_model"):
        return fastcheck.check_model
    return optional("fastcheck.checks.model", "check_model").check_model


def require_threads(threads):
    """Skip (asv's NotImplementedError) a variant that needs more Numba threads than this machine has."""
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise NotImplementedError(f"only {numba.config.NUMBA_NUM_THREADS} Numba threads here")
