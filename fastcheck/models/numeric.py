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

import numpy as np
from numba import types
from numba.extending import overload

from fastcheck.config import NET_OVERLOAD, jit_options


def const(value, like):
    """``value`` converted to the type of ``like`` (a NumPy scalar's type; anything else: unchanged)."""
    return like.dtype.type(value) if isinstance(like, np.generic) else value


@overload(const, jit_options=jit_options(NET_OVERLOAD))
def _const(value, like):
    if isinstance(like, (types.Float, types.Complex)):
        target = like

        def impl(value, like):
            return target(value)

        return impl
    return None


def div(a, w):
    """``a / w`` for a denominator whose real part dominates (|Re w| ≥ |Im w|)."""
    return a / w


@overload(div, jit_options=jit_options(NET_OVERLOAD))
def _div(a, w):
    if isinstance(w, types.Float):
        def impl(a, w):
            return a / w

        return impl
    if isinstance(w, types.Complex):
        # Smith's formula on its |Re w| ≥ |Im w| branch: no overflow of |w|²
        # and no branch, so the loops that call it vectorise (Numba's general
        # complex division picks a branch per element).  It rounds as that
        # branch of the general division does.
        if isinstance(a, types.Complex):
            def impl(a, w):
                r = w.imag / w.real
                d = w.real + w.imag * r
                return (a.real + a.imag * r) / d + const(1j, w) * ((a.imag - a.real * r) / d)
        else:
            def impl(a, w):
                r = w.imag / w.real
                d = w.real + w.imag * r
                return a / d - const(1j, w) * (a * r / d)

        return impl
    return None


def bound(z):
    """An upper bound of ``|z|`` that is cheap to take: ``|z|`` for real, ``|Re z| + |Im z|`` for complex."""
    return abs(z)


@overload(bound, jit_options=jit_options(NET_OVERLOAD))
def _bound(z):
    if isinstance(z, types.Float):
        def impl(z):
            return abs(z)

        return impl
    if isinstance(z, types.Complex):
        def impl(z):
            return abs(z.real) + abs(z.imag)

        return impl
    return None


def is_single(x):
    """Whether ``x`` is single precision (float32 or complex64): a compile-time constant."""
    return getattr(x, "dtype", None) in ("float32", "complex64")


@overload(is_single, jit_options=jit_options(NET_OVERLOAD))
def _is_single(x):
    single = x in (types.float32, types.complex64)

    def impl(x):
        return single

    return impl


def is_complex(x):
    """Whether ``x`` is complex (complex128 or complex64): a compile-time constant."""
    return isinstance(x, complex) or getattr(x, "dtype", None) in ("complex128", "complex64")


@overload(is_complex, jit_options=jit_options(NET_OVERLOAD))
def _is_complex(x):
    cplx = isinstance(x, types.Complex)

    def impl(x):
        return cplx

    return impl
