"""Two more ways people write a network by hand, checked with no glue by :func:`fastcheck.check_object`.

* **Parameter dict and a loss method** (the classifier style of a well-known
  vision course): ``model.params = {"W1": …, "b1": …}`` and
  ``model.loss(X, y) -> (loss, grads)`` with ``grads`` keyed like ``params``.
* **Lists of weights and biases and ``backprop``** (the style of a classic
  online book's ``network.py``): ``net.weights`` and ``net.biases`` are lists
  of arrays, ``net.feedforward(x)`` the output and ``net.backprop(x, y) ->
  (nabla_b, nabla_w)`` the gradient of the cost of one example: the cost
  object's ``net.cost.fn(a, y)`` when the network has one, else the
  quadratic ½‖a − y‖² that its ``cost_derivative`` (a − y) differentiates.

Both lay θ out over the user's own arrays, so blocks are named after them
(``W1``, ``biases[0]``, ``weights[1]``), and both put every array back in
place afterwards, also when the user's code raises.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fastcheck.core.layout import Layout
from fastcheck.errors import GradientMismatchError
from fastcheck.inputs.layer_objects import is_layer_list, layer_list_problem


def _float_arrays(values) -> bool:
    return all(isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating) for v in values)


def is_params_loss_style(net) -> bool:
    """``net.params`` is a non-empty dict of float arrays and ``net.loss`` is callable."""
    params = getattr(net, "params", None)
    return (isinstance(params, Mapping) and bool(params) and _float_arrays(params.values())
            and callable(getattr(net, "loss", None)))


def is_backprop_lists_style(net) -> bool:
    """``net.weights`` and ``net.biases`` are lists of float arrays and ``net.backprop`` is callable."""
    w, b = getattr(net, "weights", None), getattr(net, "biases", None)
    return (isinstance(w, list) and isinstance(b, list) and bool(w) and len(w) == len(b)
            and _float_arrays(w) and _float_arrays(b) and callable(getattr(net, "backprop", None))
            and callable(getattr(net, "feedforward", None)))


def params_loss_problem(net, X, y):
    """``(cost, grad, theta0, layout, restore)`` for a model with ``params`` and ``loss(X, y)``."""
    params = net.params
    original = dict(params)
    values = {k: np.array(v, copy=True) for k, v in params.items()}
    layout = Layout(tuple(params), tuple(np.shape(v) for v in params.values()))
    theta0 = layout.flatten(params, dtype=np.result_type(*params.values()))

    def load(theta):
        # Written into the model's own arrays, so that layer objects holding
        # them (``layer.W is params["W1"]``) see θ too; put back by restore().
        for k, v in layout.unflatten(theta).items():
            held = params.get(k)
            if held is original[k] and held.flags.writeable and np.can_cast(v.dtype, held.dtype, "same_kind"):
                held[...] = v
            else:
                params[k] = v.copy()

    def call(theta):
        load(theta)
        out = net.loss(X, y)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
            raise TypeError(f"{type(net).__name__}.loss(X, y) must return (loss, grads) with grads a dict, "
                            f"got {type(out).__name__}")
        return out

    def cost(theta):
        return call(theta)[0]

    def grad(theta):
        return layout.flatten_gradients(call(theta)[1], what=f"{type(net).__name__}.loss(X, y)'s gradient")

    def restore():
        params.clear()
        params.update(original)
        for k, v in values.items():
            if original[k].flags.writeable:
                original[k][...] = v

    return cost, grad, theta0, layout, restore


def backprop_lists_problem(net, x, y):
    """``(cost, grad, theta0, layout, restore)`` for a network with weight/bias lists and ``backprop``."""
    weights, biases = net.weights, net.biases
    names = tuple(f"biases[{i}]" for i in range(len(biases))) + tuple(f"weights[{i}]" for i in range(len(weights)))
    arrays = list(biases) + list(weights)
    layout = Layout(names, tuple(a.shape for a in arrays))
    theta0 = layout.flatten(arrays, dtype=np.result_type(*arrays))
    cost_obj = getattr(net, "cost", None)
    cost_fn = getattr(cost_obj, "fn", None) if cost_obj is not None else None
    nb = len(biases)

    def load(theta):
        blocks = [v.copy() for v in layout.unflatten(theta).values()]
        net.biases, net.weights = blocks[:nb], blocks[nb:]

    def cost(theta):
        load(theta)
        a = np.asarray(net.feedforward(x))
        if callable(cost_fn):
            return cost_fn(a, y)
        return 0.5 * float(np.sum((a - y) ** 2))

    def grad(theta):
        load(theta)
        out = net.backprop(x, y)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{type(net).__name__}.backprop(x, y) must return (nabla_b, nabla_w), "
                            f"got {type(out).__name__}")
        nabla_b, nabla_w = out
        if len(nabla_b) != nb or len(nabla_w) != len(weights):
            raise GradientMismatchError(f"backprop returned {len(nabla_b)} bias and {len(nabla_w)} weight gradients "
                                        f"for {nb} biases and {len(weights)} weights")
        return layout.flatten_gradients(list(nabla_b) + list(nabla_w),
                                        what=f"{type(net).__name__}.backprop(x, y)'s gradient")

    def restore():
        net.weights, net.biases = weights, biases

    return cost, grad, theta0, layout, restore


#: The styles check_object tries after the object style, in order: (name, test, problem builder).
STYLES = (
    ("params dict and loss(X, y) -> (loss, grads)", is_params_loss_style, params_loss_problem),
    ("weights/biases lists and backprop(x, y) -> (nabla_b, nabla_w)", is_backprop_lists_style,
     backprop_lists_problem),
    ("layer objects (forward/backward) ending in a loss", is_layer_list, layer_list_problem),
)
