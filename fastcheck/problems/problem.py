"""The problem type: a cost, a point θ and the analytic gradient there."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastcheck.core.layout import Layout
from fastcheck.errors import ProblemError

__all__ = ["Problem", "fingerprint", "is_file_spec"]


@dataclass(frozen=True, eq=False)
class Problem:
    """A cost, a point and its analytic gradient.

    Parameters
    ----------
    name : str
        Label used in result tables.
    cost : callable
        ``cost(theta, *args) -> float`` (Numba-jitted costs run in parallel).
    theta : 1-D float64 array
    grad : callable or array
        ``grad(theta, *args)`` or the gradient at ``theta``.
    args : tuple
        Extra arguments of ``cost`` and ``grad``.
    layout : Layout, optional
        Block names of θ.
    model : object, optional
        A built-in ``fastcheck.models`` network; enables the structure-aware
        kernel.  ``data`` then holds its ``(X, y)``.
    spec : str, optional
        The string :func:`get_problem` rebuilds this problem from.
    """

    name: str
    cost: object
    theta: np.ndarray
    grad: object
    args: tuple = ()
    layout: Layout | None = None
    model: object = None
    data: tuple | None = None
    spec: str | None = None
    description: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_params(self) -> int:
        return int(len(self.theta))

    @property
    def structured(self) -> bool:
        """Whether the structure-aware kernel of ``fastcheck.models`` applies."""
        return self.model is not None

    def at(self, dtype):
        """``(theta, args)`` in precision ``dtype``.

        Floating arrays among the arguments (the data of a network) are cast
        too, so that a float32 check computes in float32 throughout rather
        than promoting back to float64 at the first product with the data.
        """
        dtype = np.dtype(dtype)
        key = ("at", dtype.str)
        if key not in self._cache:
            if dtype == np.float64:
                self._cache[key] = (self.theta, self.args)
            elif self.model is not None:
                X, y = (_cast(a, dtype) for a in self.data)
                self._cache[key] = (self.theta.astype(dtype), tuple(self.model.cost_args(X, y, dtype)))
            else:
                self._cache[key] = (self.theta.astype(dtype), _cast(self.args, dtype))
        return self._cache[key]

    def data_at(self, dtype):
        """The model's ``(X, y)`` in precision ``dtype`` (model problems only)."""
        return tuple(_cast(a, np.dtype(dtype)) for a in self.data)

    def reference_gradient(self, dtype) -> np.ndarray:
        """The analytic gradient in float64 at the point a ``dtype`` check sees.

        θ and the data are rounded to ``dtype`` first, then the gradient is
        taken in float64: the exact derivative of the function that the
        ``dtype`` evaluation approximates, so a sweep measures the error of
        the differences alone.
        """
        dtype = np.dtype(dtype)
        key = ("ref", dtype.str)
        if key not in self._cache:
            theta = self.theta.astype(dtype).astype(np.float64)
            if self.model is not None:
                # also the dropout factors and l2 as the dtype's cost has them
                g = self.model.grad(theta, *self.data, precision=dtype)
            else:
                args = _cast(_cast(self.args, dtype), np.dtype(np.float64))
                g = self.grad(theta.copy(), *args) if callable(self.grad) else self.grad
            if isinstance(g, dict):
                g = self.layout.flatten_gradients(g, what=f"problem {self.name!r}'s gradient")
            g = np.asarray(g, dtype=np.float64).reshape(-1)
            if g.shape != self.theta.shape:
                raise ProblemError(f"problem {self.name!r}: grad has {g.size} entries but theta has {self.n_params}")
            self._cache[key] = g
        return self._cache[key]

    def memo(self, key, make):
        """The value kept under ``key`` in this process, made by ``make()`` the first time.

        Users of a problem (a sweep's prepared evaluators) keep their per-problem state here; like
        the cast copies of :meth:`at`, it is never pickled.
        """
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def ship(self):
        """What a Dask task carries: the spec string if there is one, else the problem."""
        return self.spec if self.spec is not None else self

    def __reduce__(self):
        # Never pickle the per-process cache (evaluators, cast copies).
        return (_rebuild, (self.name, self.cost, self.theta, self.grad, self.args, self.layout,
                           self.model, self.data, self.spec, self.description))


def _rebuild(*fields):
    return Problem(*fields)


def _cast(obj, dtype: np.dtype):
    """Cast floating arrays (also inside tuples) to ``dtype``; leave the rest."""
    if isinstance(obj, np.ndarray) and obj.dtype in (np.float64, np.float32) and obj.dtype != dtype:
        return obj.astype(dtype)
    if isinstance(obj, tuple):
        return tuple(_cast(o, dtype) for o in obj)
    return obj


def fingerprint(problem: Problem) -> dict:
    """What identifies a problem's numbers across runs: the sha1 of θ's bytes
    and, for a user file, of the file's contents (a resumed sweep compares them)."""
    theta_sha1 = hashlib.sha1(np.ascontiguousarray(problem.theta).tobytes()).hexdigest()
    out = {"n_params": problem.n_params, "theta_sha1": theta_sha1}
    if problem.spec is not None and is_file_spec(problem.spec):
        path = Path(problem.spec.rsplit(":", 1)[0])
        if path.is_file():
            out["file_sha1"] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def is_file_spec(spec: str) -> bool:
    """Whether a problem spec names a user file (``path/to/file.py:function``)."""
    head = spec.rsplit(":", 1)[0]
    return head.endswith(".py")
