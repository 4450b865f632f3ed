"""A user's cost in a plain Python loop: :class:`LoopEvaluator`, and what every evaluator of a user's cost shares.

:class:`LoopEvaluator` runs any Python callable point by point, computing
exactly the points the parallel kernels compute, so a user's NumPy network
just works (and :mod:`fastcheck.evaluators.pool` can run its chunks on worker
processes with bitwise the same numbers).  :func:`as_scalar` turns what a cost
returned into a Python scalar, or a clear :class:`~fastcheck.errors.CostError`.
"""
from __future__ import annotations

import time

import numpy as np

from fastcheck.errors import CostError
from fastcheck.evaluators.protocol import Capabilities, Evaluator

__all__ = ["LoopEvaluator", "UserCost", "as_scalar", "complex_dtype", "refuse_in_place", "require_complex_value"]


def as_scalar(value, *, where: str = "at theta", complex_ok: bool = False):
    """The cost's value as a Python scalar; a clear error if it is not one."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise CostError(f"cost must return a scalar, but {where} it returned an array of shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CostError(f"cost must return a number, but {where} it returned {type(value).__name__}")
    if np.iscomplexobj(arr) and not complex_ok:
        raise CostError(f"cost returned a complex value {where}; pass a real cost, or use scheme='complex'")
    return arr.reshape(()).item()


def refuse_in_place(after, before, who: str, argument: str, remedy: str) -> None:
    """The one check that user code did not change the parameters it was handed
    (``after``, a copy of ``before`` it was given): a :class:`~fastcheck.errors.CostError`
    naming ``who``, the coordinates and the remedy when it did."""
    changed = np.flatnonzero(np.asarray(after) != np.asarray(before))
    if len(changed):
        raise CostError(
            f"{who} modified {argument} in place (at {len(changed)} coordinate(s), first "
            f"{changed[:5].tolist()}): the checker hands it perturbed copies, so the differences would be "
            f"wrong; {remedy}"
        )


def complex_dtype(dtype):
    """complex64 for float32 θ (the complex step then works in θ's precision), else complex128."""
    return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128


class UserCost(Evaluator):
    """An evaluator of a user's ``cost(theta, *args)``."""

    caps = Capabilities(complex_step=True, directions=True, calls_user_cost=True)

    def __init__(self, cost, args=()):
        self.cost = cost
        self.args = tuple(args)
        self.eval_seconds = float("inf")

    def value(self, theta) -> float:
        work = theta.copy()
        t0 = time.perf_counter()
        v = as_scalar(self.cost(work, *self.args))
        self.eval_seconds = min(self.eval_seconds, time.perf_counter() - t0)
        refuse_in_place(work, theta, "the cost", "its theta argument", "copy theta inside the cost before changing it")
        return v


class LoopEvaluator(UserCost):
    """Evaluates a Python callable point by point (one thread)."""

    path = "loop"

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        out = np.empty((len(coords), len(offsets)))
        work = theta.copy()
        cost, args = self.cost, self.args
        offsets = np.asarray(offsets, np.float64).tolist()
        steps = np.asarray(steps, np.float64).tolist()
        # Python floats hold the same doubles as NumPy's scalars and add and
        # multiply them the same way, at a fraction of the overhead per point.
        for j, i in enumerate(np.asarray(coords).tolist()):
            x, h = float(work[i]), steps[j]  # x + c·h in double, then stored in θ's dtype
            row = out[j]
            for k, c in enumerate(offsets):
                work[i] = x + c * h
                v = cost(work, *args)
                row[k] = v if type(v) is float or type(v) is np.float64 else as_scalar(v, where=f"theta[{i}] {c:+g}·h")
            work[i] = x
        return out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        out = np.empty(len(coords))
        work = theta.astype(complex_dtype(theta.dtype))
        for j, i in enumerate(coords):
            x = work[i]
            work[i] = x + 1j * steps[j]
            v = self.cost(work, *self.args)
            require_complex_value(v, f"at theta[{i}] + i·h")
            out[j] = np.imag(as_scalar(v, where=f"theta[{i}] + i·h", complex_ok=True))
            work[i] = x
        return out

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        """Costs along directions stored ragged (see ``kernels.stencil.direction_costs``)."""
        out = np.empty((len(lo), len(offsets)))
        work = theta.copy()
        for d in range(len(lo)):
            a, u = lo[d], dirvals[start[d] : start[d + 1]]
            for k, c in enumerate(offsets):
                work[a : a + len(u)] = theta[a : a + len(u)] + (c * steps[d]) * u
                out[d, k] = as_scalar(self.cost(work, *self.args), where=f"direction {d}")
            work[a : a + len(u)] = theta[a : a + len(u)]
        return out


def require_complex_value(v, where: str) -> None:
    """The complex step reads Im J: a cost that returned a real value dropped it."""
    if not np.iscomplexobj(v):
        raise CostError(
            f"scheme='complex' needs a complex-safe cost, but {where} the cost returned a real "
            f"{type(v).__name__}: something in it (np.abs, np.real, float(), a real buffer) drops the imaginary "
            "part; use a real scheme such as 'central'"
        )
