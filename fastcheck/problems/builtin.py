"""The built-in problems of the registry and their test functions."""
from __future__ import annotations

import numpy as np

from fastcheck import config, models
from fastcheck.core.layout import Layout
from fastcheck.errors import ProblemError
from fastcheck.problems.problem import Problem
from fastcheck.problems.registry import SIZES_PATTERN, problem_from_model, register

__all__ = ["cube_cost", "cube_grad", "smooth_cost", "smooth_cost_numpy", "smooth_grad", "square_cost", "square_grad"]


@register("tutorial", "the 2-3-1 sigmoid network of Neural Networks Demystified on its sleep/study data "
                     "(fastcheck.models.tutorial_network)")
def _tutorial(seed="0"):
    model, theta, X, y = models.tutorial_network(seed=_int(seed, "seed"))
    return problem_from_model(model, theta=theta, X=X, y=y, description="the 2-3-1 sigmoid network of Neural Networks Demystified, sse loss")


@register("tutorial-numpy", "the 2-3-1 network of Neural Networks Demystified as its own NumPy code (any dtype, "
                           "complex-safe); same θ and data as tutorial")
def _tutorial_numpy(seed="0"):
    _, theta, X, y = models.tutorial_network(seed=_int(seed, "seed"))
    return Problem("tutorial-numpy", models.tutorial.tutorial_numpy_cost, np.array(theta, dtype=np.float64),
                   models.tutorial.tutorial_numpy_grad, (X, y), models.tutorial.TUTORIAL_LAYOUT,
                   description="the NumPy 2-3-1 sigmoid network of Neural Networks Demystified, sse loss")


@register("mlp", "dense network by layer sizes, e.g. mlp:784-128-10,batch=64,act=sigmoid,loss=sse,l2=0,seed=0")
def _mlp(sizes, batch="64", act="sigmoid", loss="sse", l2="0", seed="0"):
    if not SIZES_PATTERN.match(sizes):
        raise ProblemError(f"mlp sizes must look like 784-128-10, got {sizes!r}")
    dims = [int(s) for s in sizes.split("-")]
    if min(dims) < 1:
        raise ProblemError(f"mlp layer sizes must be positive, got {sizes!r}")
    acts = act.split("/") if "/" in act else act
    model = models.MLP(dims, activations=acts, loss=loss, l2=_float(l2, "l2"))
    return problem_from_model(
        model, batch=_int(batch, "batch"), seed=_int(seed, "seed"),
        description=f"MLP {sizes}, {act}, {loss} loss, batch {batch}",
    )


@config.jit(config.NJIT)
def smooth_cost(theta, c):
    """J(θ) = Σ_i exp(sin θ_i) + (Σ_i c_i θ_i)².

    Written without float literals so that a float32 θ (with float32 ``c``)
    is evaluated in float32, and without ``**`` so that complex θ keeps the
    tiny imaginary part a complex step needs.
    """
    acc = theta[0] - theta[0]
    s = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += np.exp(np.sin(theta[i]))
        s += c[i] * theta[i]
    return acc + s * s


def smooth_cost_numpy(theta, c):
    """:func:`smooth_cost` in plain NumPy (runs in the loop evaluator)."""
    s = np.sum(c * theta)
    return np.sum(np.exp(np.sin(theta))) + s * s


def smooth_grad(theta, c):
    """∂J/∂θ_i = cos θ_i · exp(sin θ_i) + 2 c_i Σ_j c_j θ_j."""
    return np.cos(theta) * np.exp(np.sin(theta)) + 2.0 * c * np.dot(c, theta)


@register("smooth", "J = Σ exp(sin θ_i) + (Σ c_i θ_i)², known gradient; options n=20, seed=0, jit=1")
def _smooth(n="20", seed="0", jit="1"):
    n = _int(n, "n")
    if n < 1:
        raise ProblemError(f"smooth needs n >= 1, got {n}")
    rng = np.random.default_rng(_int(seed, "seed"))
    theta = rng.uniform(-1.5, 1.5, n)
    c = rng.uniform(0.2, 1.0, n) / np.sqrt(n)
    cost = smooth_cost if _int(jit, "jit") else smooth_cost_numpy
    return Problem("smooth", cost, theta, smooth_grad, (c,), Layout.single(n),
                   description="Σ exp(sin θ_i) + (Σ c_i θ_i)², analytic gradient")


@config.jit(config.NJIT)
def cube_cost(theta):
    """J(θ) = Σ θ_i³ (written as products, complex-safe)."""
    acc = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += theta[i] * theta[i] * theta[i]
    return acc


def cube_grad(theta):
    return 3.0 * theta * theta


@register("cube", "f(θ) = θ³ of Debugging your Neural Nets and checking your Gradients at θ = 1 (one parameter)")
def _cube():
    return Problem("cube", cube_cost, np.array([1.0]), cube_grad, (), Layout.single(1), description="θ³ at θ = 1")


@config.jit(config.NJIT)
def square_cost(theta):
    """J(x) = Σ x_i² (complex-safe)."""
    acc = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += theta[i] * theta[i]
    return acc


def square_grad(theta):
    return 2.0 * theta


@register("square", "f(x) = x² of Neural Networks Demystified at x = 1.5 (one parameter)")
def _square():
    return Problem("square", square_cost, np.array([1.5]), square_grad, (), Layout.single(1), description="x² at x = 1.5")


def _int(v, what) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ProblemError(f"option {what} must be an integer, got {v!r}") from None


def _float(v, what) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ProblemError(f"option {what} must be a number, got {v!r}") from None
