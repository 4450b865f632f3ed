"""Hessian targets for the command line: (cost, theta, grad, hess, layout), right and with a planted error."""
import numpy as np


def _parts():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5)); A = A @ A.T + np.eye(5)
    cost = lambda t: float(0.5 * t @ A @ t + np.sum(np.cos(t)))
    grad = lambda t: A @ t - np.sin(t)
    hess = lambda t: A - np.diag(np.cos(t))
    return cost, grad, hess, rng.standard_normal(5)

def make():
    cost, grad, hess, t = _parts()
    return cost, t, grad, hess, {"a": 2, "b": 3}

def broken():
    cost, grad, hess, t = _parts()
    return cost, t, grad, lambda t: hess(t) + np.diag([0, 0, 0, 0.01, 0]), {"a": 2, "b": 3}


def gradient_only():
    cost, grad, hess, t = _parts()
    return cost, t, grad, {"a": 2, "b": 3}


def gradient_bug():
    cost, grad, hess, t = _parts()
    return cost, t, (lambda t: grad(t) * [1, 1, 1, 1, 1.001]), {"a": 2, "b": 3}
