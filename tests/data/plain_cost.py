"""A plain cost: make() returns (cost, theta, grad, args)."""
import numpy as np


def cost(theta, A):
    return 0.5 * theta @ A @ theta + np.sum(np.cos(theta))


def grad(theta, A):
    return 0.5 * (A + A.T) @ theta - np.sin(theta)


def make():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    return cost, rng.standard_normal(6), grad, (A,)


def make_raises():
    raise RuntimeError("the user's make() failed")
