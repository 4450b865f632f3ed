"""What :func:`fastcheck.check_gradient` is handed, put in the form the core checks: θ flat, one cost.

* ``grad`` omitted (or ``True``): ``fun(theta, *args)`` returns ``(cost, grad)`` (scipy's ``jac=True``
  convention); :class:`CostAndGrad` evaluates it once at θ for both and takes the cost part at the
  perturbed points.
* θ of any shape: flattened in C order for the core (a copy: the caller's array is never touched); the
  cost and the gradient callable see θ in its own shape (:class:`Reshaped`); the report names coordinates
  by their index in that shape (one block ``theta`` of θ's shape, unless a layout names the blocks).
* ``reseed``: the cost and the gradient callable are wrapped by :class:`fastcheck.core.randomness.Reseeded`.
* A cost or gradient callable that cannot take ``(theta, *args)`` is refused up front.
"""
from __future__ import annotations

import numpy as np

from fastcheck.core.callables import describe, takes
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.randomness import reseeded
from fastcheck.core.validate import refuse_function
from fastcheck.errors import CostError

__all__ = ["CostAndGrad", "Reshaped", "user_problem"]


class CostAndGrad:
    """``fun(theta, *args) -> (cost, grad)`` split in two: calling it gives the cost; :meth:`gradient` the
    gradient, taken from the first evaluation when asked at the same θ (so θ itself is evaluated once)."""

    def __init__(self, fun):
        self.fun = fun
        self.first = None  # (θ, grad) of the first evaluation

    def _pair(self, theta, args):
        out = self.fun(theta, *args)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            got = f"a {type(out).__name__} of {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
            raise CostError(f"grad was not given, so fun(theta, *args) must return (cost, grad); it returned {got}"
                            " (pass grad= when fun returns the cost only)")
        return out

    def __call__(self, theta, *args):
        cost, grad = self._pair(theta, args)
        if self.first is None:
            self.first = (np.array(theta, copy=True), grad if callable(grad) else np.array(grad, copy=True))
        return cost

    def gradient(self, theta, *args):
        if self.first is not None and self.first[0].shape == np.shape(theta) and np.array_equal(self.first[0], theta):
            return self.first[1]
        return self._pair(theta, args)[1]

    def __getstate__(self):  # workers need the function only
        return {"fun": self.fun, "first": None}


class Reshaped:
    """``fn`` called with the flat θ of the core reshaped to the user's shape (a view: in-place changes show)."""

    def __init__(self, fn, shape):
        self.fn, self.shape = fn, tuple(shape)

    def __call__(self, theta, *args):
        return self.fn(theta.reshape(self.shape), *args)


def _require_fits(fn, n_args: int, what: str) -> None:
    if takes(fn, 1 + n_args) is False:
        forms = "(theta)" if n_args == 0 else f"(theta, *args) with the {n_args} args= given"
        raise TypeError(f"{what} must take {forms}; {describe(fn)} does not")


def user_problem(cost, theta, grad, opts: CheckOptions):
    """``(cost, theta, grad, opts)`` for the core: θ 1-D, the pair split, reshaping and reseeding applied."""
    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    n_args = len(opts.args)
    _require_fits(cost, n_args, "the cost")
    if grad is None or grad is True:
        pair = CostAndGrad(cost)
        cost, grad = pair, pair.gradient
    elif callable(grad):
        _require_fits(grad, n_args, "grad")
    refuse_function(theta)
    arr = np.asarray(theta)
    if arr.ndim > 1 or (arr.ndim == 0 and arr.size == 1):
        shape = arr.shape
        theta = np.array(arr, copy=True).reshape(-1)
        cost = Reshaped(cost, shape)
        if callable(grad):
            grad = Reshaped(grad, shape)
        if opts.layout is None:
            opts = opts.replace(layout=Layout(("theta",), (shape,)))
    if opts.reseed is not None:
        cost = reseeded(cost, opts.reseed)
        if callable(grad):
            grad = reseeded(grad, opts.reseed)
    return cost, theta, grad, opts
