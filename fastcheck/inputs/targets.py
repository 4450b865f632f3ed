"""What a user hands in: the one place that recognises it and runs the matching check.

A user's ``make()`` (``fastcheck check file.py:make``, a sweep's
``file.py:make`` problem) or a test (:func:`fastcheck.testing.assert_gradients_match`)
returns one of the shapes of :data:`TARGET_TYPES`.  :func:`classify` names the
shape, :func:`run_target` runs its check; the command line, the sweeps'
problem loader and the testing helper all go through here, so "is this a
model?" and "what did ``make()`` return?" have one answer each.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastcheck.errors import TargetError

__all__ = ["ACCEPTED", "TARGET_TYPES", "TargetType", "classify", "is_model", "layout_of", "run_target"]


def is_model(obj) -> bool:
    """Whether ``obj`` is a built-in :mod:`fastcheck.models` network (it has the structure-aware kernel)."""
    from fastcheck.models import MLP

    return isinstance(obj, MLP)


def _is_object(obj) -> bool:
    from fastcheck.inputs import adapters
    from fastcheck.inputs.styles import STYLES

    return adapters.is_object_style(obj) or any(ok(obj) for _, ok, _ in STYLES)


def _looks_like_layout(obj) -> bool:
    from fastcheck.core.layout import Layout

    return isinstance(obj, Layout) or (isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) for k in obj))


def _is_hessian(obj, theta) -> bool:
    """A Hessian in a target's fourth place: a callable, or an (n, n) array (not args, not a layout)."""
    if isinstance(obj, (tuple, list, str)) or _looks_like_layout(obj):
        return False
    if callable(obj):
        return True
    import numpy as np

    n = np.size(theta)
    return np.ndim(obj) == 2 and np.shape(obj) == (n, n)


def split_hessian(made) -> tuple:
    """``(cost, theta, grad, hess, args, layout)`` of a "hessian" tuple ``(cost, theta, grad, hess[, args][, layout])``."""
    cost, theta, grad, hess, *rest = made
    _, _, _, args, layout = split_cost((cost, theta, grad, *rest))
    return cost, theta, grad, hess, args, layout


def layout_of(obj):
    """A :class:`~fastcheck.core.layout.Layout` from a Layout or from ``{name: shape}`` (a shape is an int or a tuple)."""
    from fastcheck.core.layout import Layout

    if isinstance(obj, Layout):
        return obj
    try:
        shapes = [(v,) if isinstance(v, int) else tuple(int(d) for d in v) for v in obj.values()]
    except (TypeError, ValueError, AttributeError):
        raise TargetError(f"a layout must be a fastcheck.Layout or {{name: shape}}, got {obj!r}") from None
    return Layout(tuple(obj), tuple(shapes))


@dataclass(frozen=True)
class TargetType:
    """One shape a user can hand in: its name, how to recognise it, what it looks like."""

    name: str
    recognise: object
    shape: str


#: The shapes, tried in order (the first that matches wins).
TARGET_TYPES = (
    TargetType("model", lambda t: len(t) == 4 and is_model(t[0]), "(model, theta, X, y) with a fastcheck.models network"),
    TargetType("object", lambda t: len(t) == 3 and _is_object(t[0]),
         "(net, X, y) with getParams/setParams/costFunction/computeGradients (or a params dict with loss(X, y), "
         "or weights/biases lists with backprop(x, y))"),
    TargetType("functions", lambda t: len(t) == 5 and callable(t[0]) and callable(t[1]) and isinstance(t[2], Mapping),
         "(forward, backward, parameters, X, Y)"),
    TargetType("layer", lambda t: len(t) in (3, 4) and callable(t[0]) and callable(t[1]) and isinstance(t[2], Mapping),
         "(forward, backward, inputs[, args]) for a layer (inputs a dict of arrays)"),
    TargetType("hessian", lambda t: 4 <= len(t) <= 6 and callable(t[0]) and _is_hessian(t[3], t[1]),
         "(cost, theta, grad, hess[, args][, layout]) with hess(theta, *args) or an (n, n) array"),
    TargetType("cost", lambda t: 3 <= len(t) <= 5 and callable(t[0]),
         "(cost, theta, grad[, args][, layout]) with layout a fastcheck.Layout or {name: shape}"),
)

#: One sentence listing every accepted shape (help texts and errors).
ACCEPTED = ", ".join(t.shape for t in TARGET_TYPES[1:]) + ", or " + TARGET_TYPES[0].shape


def classify(made) -> str:
    """The name of the :data:`TARGET_TYPES` entry ``made`` matches; :class:`TargetError` if none."""
    if not isinstance(made, tuple):
        raise TargetError(f"got a {type(made).__name__}; expected a tuple: {ACCEPTED}")
    for target_type in TARGET_TYPES:
        if target_type.recognise(made):
            return target_type.name
    types = ", ".join(type(o).__name__ for o in made)
    raise TargetError(f"got a tuple of {len(made)} ({types}), which fastcheck does not recognise; expected {ACCEPTED}")


def split_cost(made) -> tuple:
    """``(cost, theta, grad, args, layout)`` of a "cost" tuple ``(cost, theta, grad[, args][, layout])``."""
    cost, theta, grad, *rest = made
    layout = layout_of(rest.pop()) if rest and _looks_like_layout(rest[-1]) else None
    if len(rest) > 1:
        types = ", ".join(type(o).__name__ for o in made)
        raise TargetError(f"got a tuple of {len(made)} ({types}); expected {ACCEPTED}")
    args = tuple(rest[0]) if rest else ()
    return cost, theta, grad, args, layout


def run_target(made, options: dict, directional=None, mode: str = "structured"):
    """Run the check that fits what ``made`` is; returns its :class:`~fastcheck.checks.result.CheckResult`.

    ``options`` are the keyword options of the check functions
    (:class:`~fastcheck.core.options.CheckOptions`); ``directional`` (a number
    of directions) asks for a directional check; ``mode`` picks the kernel of
    a built-in model (``"structured"`` or ``"blackbox"``).
    """
    opts = dict(options)
    if directional:
        opts["directions"] = int(directional)
    return _RUNNERS[classify(made)](made, opts, mode)


def _run_model(made, opts, mode):
    from fastcheck.checks.model import check_model

    if mode == "structured" and opts.get("workers", "auto") not in ("auto", 1) and not opts.get("directions"):
        raise ValueError("workers (--workers) applies to your own network's cost, or to a built-in model in "
                         "blackbox mode (--mode blackbox)")
    model, theta, X, y = made
    return check_model(model, theta, X, y, mode=mode, **opts)


def _run_object(made, opts, mode):
    from fastcheck.inputs.adapters import check_object

    return check_object(*made, **opts)


def _run_functions(made, opts, mode):
    from fastcheck.inputs.adapters import check_functions

    return check_functions(*made, **opts)


def _run_layer(made, opts, mode):
    from fastcheck.inputs.layers import check_layer

    extra = made[3] if len(made) == 4 else ()
    return check_layer(made[0], made[1], made[2], args=extra if isinstance(extra, tuple) else (extra,), **opts)


def _run_cost(made, opts, mode):
    from fastcheck.checks.gradient import check_gradient

    cost, theta, grad, args, layout = split_cost(made)
    return check_gradient(cost, theta, grad, args=args, layout=layout, **opts)


def _run_hessian(made, opts, mode):
    from fastcheck.checks.hessian import check_hessian

    if opts.get("directions"):
        raise ValueError("a Hessian target is checked column by column; --directional does not apply")
    cost, theta, grad, hess, args, layout = split_hessian(made)
    return check_hessian(cost, theta, hess, grad=grad, args=args, layout=layout, **opts)


_RUNNERS = {"hessian": _run_hessian, "model": _run_model, "object": _run_object, "functions": _run_functions, "layer": _run_layer,
            "cost": _run_cost}
