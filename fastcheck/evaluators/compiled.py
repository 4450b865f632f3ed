"""Compile once: the Numba versions of users' plain Python costs, kept across checks.

``jit="auto"``/``True`` compiles a plain cost with ``numba.njit``.  The
dispatcher is kept here, keyed weakly by the user's function, so a second
check of the same cost (with arguments of the same types) reuses it and
the kernels already specialised for it: nothing is compiled twice.  A cost
Numba could not compile is remembered too (per argument types), so it is
not tried again.

The time compilations took is recorded, so that ``jit="auto"`` can weigh
the next compilation against the time it would save.
"""
from __future__ import annotations

import statistics
import weakref

#: What a compilation (the cost and the parallel kernel specialised for it)
#: is assumed to take before any has been measured in this process (about a
#: second or two for small NumPy costs).
DEFAULT_COMPILE_SECONDS = 1.5

_JITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FAILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SECONDS: list = []


def type_key(values) -> tuple:
    """What Numba specialises on, roughly: the type, dtype and ndim of each argument."""
    return tuple((type(v), getattr(v, "dtype", None), getattr(v, "ndim", None)) for v in values)


def lookup(cost):
    """The dispatcher made for ``cost`` before, or None."""
    try:
        return _JITTED.get(cost)
    except TypeError:  # not weak-referenceable
        return None


def store(cost, dispatcher) -> None:
    try:
        _JITTED[cost] = dispatcher
    except TypeError:
        pass


def failure(cost, key):
    """Why ``cost`` did not compile for arguments of these types before, or None."""
    try:
        return _FAILED.get(cost, {}).get(key)
    except TypeError:
        return None


def store_failure(cost, key, reason: str) -> None:
    try:
        _FAILED.setdefault(cost, {})[key] = reason
    except TypeError:
        pass


def record(seconds: float) -> None:
    """Remember how long a compilation took (the last 20 are kept)."""
    _SECONDS.append(float(seconds))
    del _SECONDS[:-20]


def estimate() -> float:
    """Seconds the next compilation is expected to take: the median of those
    measured in this process, else :data:`DEFAULT_COMPILE_SECONDS`."""
    return statistics.median(_SECONDS) if _SECONDS else DEFAULT_COMPILE_SECONDS
