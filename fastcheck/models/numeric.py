"""Precision-generic constants for the network code.

Numba types a literal such as ``1.0`` as float64, and float32 ⊕ float64
promotes to float64: ``1.0 / (1.0 + np.exp(-z))`` with a float32 ``z``
would be computed in double precision and a "float32" network would really
run in float64.  :func:`const` gives a literal the type of a value already in
play, so each compiled specialisation (float64, float32, complex128,
complex64) computes in its own precision::

    one = const(1.0, z)
    return one / (one + np.exp(-z))

For float64 the cast is a no-op that LLVM folds away.
"""
from __future__ import annotations

from numba import types
from numba.extending import overload


def const(value, like):
    """``value`` converted to the type of ``like`` (Python fallback: unchanged)."""
    return value


@overload(const, jit_options={"error_model": "numpy"})
def _const(value, like):
    if isinstance(like, (types.Float, types.Complex)):
        target = like

        def impl(value, like):
            return target(value)

        return impl
    return None
