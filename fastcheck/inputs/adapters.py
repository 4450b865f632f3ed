"""Adapters for the ways people write networks by hand.

* the object style of Neural Networks Demystified: ``getParams()``, ``setParams(theta)``,
  ``costFunction(X, y)``, ``computeGradients(X, y)`` (or the snake_case
  spellings) — :func:`check_object`;
* the dictionary style of the well-known deep-learning course:
  ``parameters = {"W1": …, "b1": …}``, ``forward(X, Y, parameters) ->
  (cost, cache)``, ``backward(X, Y, cache) -> {"dW1": …, "db1": …}`` —
  :func:`check_functions`.

Both flatten the user's parameters with a :class:`~fastcheck.Layout` taken
from the arrays themselves, so column-major (W of shape (n_out, n_in)) and
row-major code both work, and the report names blocks by the user's keys.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.gradient import check_gradient_with, run_check
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.validate import layout_for, validate_threads
from fastcheck.evaluators import pool
from fastcheck.inputs.layer_objects import warn_unchecked
from fastcheck.inputs.stages import restore, snapshot, staged_problem
from fastcheck.inputs.styles import STYLES

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

_SPELLINGS = {
    "get": ("getParams", "get_params"),
    "set": ("setParams", "set_params"),
    "cost": ("costFunction", "cost_function"),
    "grad": ("computeGradients", "compute_gradients"),
}


def _method(net, role):
    for name in _SPELLINGS[role]:
        m = getattr(net, name, None)
        if callable(m):
            return m
    return None


def is_object_style(net) -> bool:
    """True when ``net`` has the four methods of the network class of Neural Networks Demystified."""
    return all(_method(net, role) is not None for role in _SPELLINGS)


def validate_data(X, y, names=("X", "y")):
    """Inputs and targets must be numeric and finite (never modified)."""
    for arr, name in zip((X, y), names):
        a = np.asarray(arr)
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[:3].tolist()
            raise ValueError(f"{name} contains NaN or inf (first at {bad})")


def _infer_object_layout(net, theta) -> Layout:
    """Blocks named after the network's array attributes, when they line up.

    The ``getParams`` of Neural Networks Demystified concatenates ``W1`` and ``W2``: if some of the
    object's float array attributes, in definition order, concatenate to
    exactly θ, they name the blocks; otherwise θ is one block.
    """
    names, arrays, pos = [], [], 0
    for name, value in vars(net).items():
        if pos == len(theta):
            break
        if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.size:
            chunk = theta[pos : pos + value.size]
            if value.size <= len(theta) - pos and np.array_equal(value.ravel(), chunk):
                names.append(name)
                arrays.append(value)
                pos += value.size
    if pos == len(theta) and names:
        return Layout(tuple(names), tuple(a.shape for a in arrays))
    return Layout.single(len(theta))


@takes_options()
def check_object(net: object, X: ArrayLike, y: ArrayLike, *, opts: CheckOptions) -> CheckResult:
    """Check a network object written in one of the common styles.

    Parameters
    ----------
    net : object
        With ``getParams()``, ``setParams(theta)``, ``costFunction(X, y)`` and
        ``computeGradients(X, y)`` (or ``get_params``, ``set_params``,
        ``cost_function``, ``compute_gradients``), the style of *Neural
        Networks Demystified*; or a ``params`` dict with ``loss(X, y) ->
        (loss, grads)``; or ``weights``/``biases`` lists with
        ``feedforward(x)`` and ``backprop(x, y) -> (nabla_b, nabla_w)`` (then
        ``X, y`` are one example).  See :mod:`fastcheck.inputs.styles`.
    X, y : arrays
        The data the cost is evaluated on.

    The options are those of every check.  ``layout`` names the blocks (by
    default taken from the object's array attributes when they concatenate
    to ``getParams()``, or the style's own names); ``directions=k`` runs a
    directional check; ``cache_stages`` (default True): when the network
    shows its stages (a ``layers`` list whose objects hold the ``params``
    arrays; ``weights``/``biases`` lists fed through ``feedforward``'s loop;
    see :mod:`fastcheck.inputs.stages`), a coordinate recomputes only the
    layers from its own on (same numbers as the black-box loop, which runs
    when the stages are not recognised; ``result.note`` says why when a
    ``layers`` list was found but could not be used).  ``jit="auto"`` means
    the loop here (methods of a Python object do not compile); ``args`` does
    not apply (the data are X, y).

    The network's parameters (and every attribute it had) are restored
    afterwards, also when its cost raises.
    """
    if opts.args:
        raise ValueError("check_object evaluates the network on X, y; args= does not apply")
    opts = opts.for_python_cost()  # methods of a Python object do not compile
    if not is_object_style(net):
        for style, recognise, problem in STYLES:
            if recognise(net):
                return _check_style(style, problem, net, X, y, opts)
        missing = [_SPELLINGS[r][0] for r in _SPELLINGS if _method(net, r) is None]
        raise TypeError(f"{type(net).__name__} is not a network object: it lacks {', '.join(missing)}; nor has it "
                        f"{' or '.join(name for name, _, _ in STYLES)}")
    validate_data(X, y)
    get, set_, cost_fn, grad_fn = (_method(net, r) for r in ("get", "set", "cost", "grad"))
    theta0 = np.array(get(), copy=True).ravel()
    if theta0.dtype not in (np.float32, np.float64):  # keep the user's float32 or float64
        theta0 = theta0.astype(np.float64)
    snapshot = dict(vars(net))
    if opts.layout is None:
        opts = opts.replace(layout=_infer_object_layout(net, theta0))
    layout = layout_for(theta0, opts.layout)

    def cost(theta):
        set_(theta.copy())
        return cost_fn(X, y)

    def grad(theta):
        set_(theta.copy())
        return layout.flatten_gradients(np.ravel(grad_fn(X, y)), what=f"{type(net).__name__}'s gradient")

    try:
        return check_gradient_with(cost, theta0, grad, opts)
    finally:
        set_(theta0.copy())
        vars(net).update(snapshot)


def _check_style(style, problem, net, X, y, opts: CheckOptions):
    """Check a network of one of :data:`fastcheck.inputs.styles.STYLES`; its arrays are put back afterwards.

    When the network shows its stages (:mod:`fastcheck.inputs.stages`) and
    ``cache_stages`` is true, the per-coordinate check recomputes only the
    stages after the perturbed one; otherwise the black-box loop runs.
    """
    validate_data(X, y)
    # a problem builder may name, after restore, the arrays it leaves out (a layer's arrays with no gradient)
    cost, grad, theta0, own_layout, restore, *left_out = problem(net, X, y)
    unchecked = left_out[0] if left_out else ()
    why_not = ""
    try:
        res = None
        if (opts.cache_stages and opts.directions is None and opts.strategy == "full" and opts.layout is None
                and hasattr(net, "__dict__")):
            res, why_not = _check_staged(style, net, X, y, cost, grad, theta0, own_layout, opts)
        if res is None:
            res = check_gradient_with(cost, theta0, grad, opts.replace(layout=opts.layout or own_layout))
            if why_not:
                res = replace(res, note="; ".join(n for n in (res.note, f"stages not cached: {why_not}") if n))
    finally:
        restore()
    return warn_unchecked(res, unchecked, f"check_object({type(net).__name__})")


def _check_staged(style, net, X, y, cost, grad, theta0, own_layout, opts: CheckOptions):
    """``(result, "")`` of the stage-cached check, or ``(None, why)`` when the stages are not usable."""
    saved = snapshot(net)
    try:
        ev, why = staged_problem(style, net, X, y, cost, theta0, own_layout)
        if ev is None:
            return None, why
        validate_threads(opts.threads)  # Numba threads: nothing here is compiled
        restore(saved)
        g = np.asarray(grad(theta0.copy()), dtype=np.float64)
        restore(saved)
        ev = pool.wrap(ev, pool.check_workers(opts.workers), pool.check_client(opts.client))
        ev.value(theta0)
        return run_check(ev, theta0, g, opts.replace(layout=own_layout)), ""
    finally:
        restore(saved)


def _param_layout(parameters) -> Layout:
    if not isinstance(parameters, Mapping) or not parameters:
        raise TypeError(f"parameters must be a non-empty dict of arrays, got {type(parameters).__name__}")
    for key, value in parameters.items():
        a = np.asarray(value)
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"parameter {key!r} must be a float array, got dtype {a.dtype}")
    return Layout.from_arrays(parameters)


def gradients_to_vector(grads, layout: Layout, prefix: str = "d") -> np.ndarray:
    """Flatten ``{"dW1": …}`` (or ``{"W1": …}``) in the layout's order; extra keys (dZ1, dA1…) are ignored
    (:meth:`Layout.flatten_gradients`)."""
    return layout.flatten_gradients(grads, (prefix, ""), what="backward's gradient")


@takes_options()
def check_functions(forward: Callable, backward: Callable, parameters: Mapping[str, ArrayLike], X: ArrayLike,
                    Y: ArrayLike, *, opts: CheckOptions) -> CheckResult:
    """Check a network written as ``forward``/``backward`` over a parameter dict.

    Parameters
    ----------
    forward : callable
        ``forward(X, Y, parameters) -> (cost, cache)``.
    backward : callable
        ``backward(X, Y, cache) -> grads`` with a key ``"d" + name`` for every
        parameter (other keys are ignored).
    parameters : dict of float arrays
        ``{"W1": …, "b1": …}``; not modified.
    X, Y : arrays

    The options are those of every check; the blocks are named after the
    parameters (``layout`` may name blocks of θ, the parameters flattened in
    their dict order, otherwise; ``args`` does not apply: the data are X, Y);
    ``jit="auto"`` means the loop (a closure over your forward does not
    compile); ``directions=k`` runs a directional check per block.
    """
    if opts.args:
        raise ValueError("check_functions evaluates forward on X, Y; args= does not apply")
    layout = _param_layout(parameters)
    validate_data(X, Y, names=("X", "Y"))
    # the user's precision: float32 parameters stay float32 (any lower float is promoted to float32)
    kinds = {np.asarray(v).dtype for v in parameters.values()}
    dtype = np.float64 if np.dtype(np.float64) in kinds or any(k.itemsize > 8 for k in kinds) else np.float32
    theta0 = layout.flatten(parameters, dtype=dtype)

    def cost(theta):
        value = forward(X, Y, {k: v.copy() for k, v in layout.unflatten(theta).items()})
        return value[0] if isinstance(value, tuple) else value

    def grad(theta):
        _, cache = forward(X, Y, {k: v.copy() for k, v in layout.unflatten(theta).items()})
        return gradients_to_vector(backward(X, Y, cache), layout)

    # θ is the parameters flattened in their dict order; a layout of the user's names blocks of that θ
    return check_gradient_with(cost, theta0, grad, opts.replace(layout=opts.layout or layout).for_python_cost())
