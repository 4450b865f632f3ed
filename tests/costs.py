"""Jitted test costs with known gradients (module level, so each compiles once)."""
import numpy as np
from numba import njit


@njit
def quartic(theta, a):
    """J = Σ a·(θ_i⁴/4 + sin θ_i) + Σ θ_i·θ_{i+1}; also runs on complex θ.

    θ⁴ is written as products: Numba's complex ``z ** 4`` goes through
    exp(4·log z), whose rounding swamps the tiny imaginary part a complex
    step relies on.
    """
    s = theta[0] * 0.0
    n = theta.shape[0]
    for i in range(n):
        t2 = theta[i] * theta[i]
        s += a * (t2 * t2 / 4 + np.sin(theta[i]))
    for i in range(n - 1):
        s += theta[i] * theta[i + 1]
    return s


def quartic_grad(theta, a):
    g = a * (theta**3 + np.cos(theta))
    g[:-1] += theta[1:]
    g[1:] += theta[:-1]
    return g


@njit
def quadratic_blas(theta, A):
    """J = ½ θᵀAθ, through a BLAS matrix-vector product."""
    return 0.5 * np.dot(theta, A @ theta)


def quadratic_grad(theta, A):
    return 0.5 * (A + A.T) @ theta
