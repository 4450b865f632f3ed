"""What the verdict tests share: a quiet check, the smooth functions' table, the points where they are not smooth.

References: exact gradients of published smooth test functions (``tests/smooth.py``, by the
complex step at h = 1e-200), a ReLU network written here in plain NumPy with its own backprop,
and the built-in networks' exact kink flags.
"""
import warnings

import numba
import numpy as np
import pytest

import fastcheck as fc

quiet = pytest.mark.filterwarnings("ignore::RuntimeWarning")
# Ackley is not differentiable at 0 (√(Σx²)), so at 1e-6·x0 the steps straddle its corner; at
# 100·x0 its point is a stationary point of every term (gradient ~1e-12)
NOT_SMOOTH_THERE = ("ackley-n2-x100", "ackley-n2-x1e-6", "ackley-n10-x1e-6", "ackley-n100-x1e-6")


def check_quietly(f, x, g, **kw):
    """A check of a plain NumPy cost on the loop, its warnings silenced (the tests read the verdict)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fc.check_gradient(f, x, g, jit=False, **kw)


def cubic_py(t):
    return np.sum(t**3 + t)


#: A compiled cubic cost (the parallel kernel), gradient 3t² + 1.
cubic = numba.njit(cubic_py)
