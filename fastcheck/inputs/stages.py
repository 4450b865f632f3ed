"""Stage caching for networks whose structure is visible to :func:`fastcheck.check_object`.

:func:`fastcheck.check_sequential` recomputes, for a coordinate of stage l,
stages l…L only.  :func:`check_object` hands a network to it instead of the
black-box loop when the network shows its stages in one of two ways:

* **a list of layer objects** (the params-dict style of
  :mod:`fastcheck.inputs.styles`, plus ``net.layers``): ``net.layers`` is a list,
  tuple or dict (its values, in order) of objects with ``forward(a)``, and
  every array of ``net.params`` is an attribute of exactly one layer (the
  same array object: ``layer.W is net.params["W1"]``).  Stage l is
  ``layers[l].forward(a)``; the last stage runs the model's own
  ``net.loss(a, y)`` with ``net.layers`` holding the last layer alone (so
  the loss is whatever the model computes after its layer loop).
* **lists of weights and biases fed through a loop** (the
  ``weights``/``biases``/``backprop`` style): stage l is
  ``net.feedforward(a)`` with ``net.weights = [weights[l]]`` and
  ``net.biases = [biases[l]]``; the last stage adds the cost, as the
  black-box check computes it.

Either way the stages are *verified* before they are used: composed at θ they
must give bitwise the model's own cost, or the check runs the black-box path
(:attr:`CheckResult.note <fastcheck.CheckResult>` says why).  A
model that reads its parameters by name inside one ``loss`` method (the
course's classifiers, *Neural Networks Demystified*) shows no stages: it runs
the black-box path, silently.

The result keeps the model's own order of blocks; every coordinate's
numbers are those of the black-box check of the same model.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from fastcheck.core.layout import Layout
from fastcheck.evaluators.protocol import Capabilities, Wrapper
from fastcheck.evaluators.sequential import SequentialEvaluator


def _one_layer(held, key):
    """``held`` (a list, tuple or dict of layers) with the layer at ``key`` alone, same kind of container."""
    if isinstance(held, Mapping):
        return type(held)([(key, held[key])])
    return type(held)([held[key]]) if isinstance(held, (list, tuple)) else [held[key]]


class LayerStage:
    """Stage l of a layer-list network: ``layer.forward(a)`` (the last stage: the model's ``loss`` over
    the last layer alone).  The arrays are put in place by :class:`LayerModelEvaluator` (all of them, so
    that a loss reading every parameter, a weight penalty say, sees the point being evaluated)."""

    def __init__(self, net, key, y=None, last=False):
        self.net, self.key, self.y, self.last = net, key, y, last
        self.__name__ = f"layers[{key!r}].forward" + (" + loss" if last else "")

    def __call__(self, a, *arrays):
        layers = self.net.layers
        if not self.last:
            return layers[self.key].forward(a)
        self.net.layers = _one_layer(layers, self.key)
        try:
            out = self.net.loss(a, self.y)
        finally:
            self.net.layers = layers
        return out[0] if isinstance(out, tuple) else out


class ListStage:
    """Stage l of a weights/biases network: ``feedforward`` over one layer (the last: and the cost)."""

    def __init__(self, net, l, y=None, last=False, cost_fn=None):
        self.net, self.l, self.y, self.last, self.cost_fn = net, l, y, last, cost_fn
        self.__name__ = f"feedforward over layer {l}" + (" + cost" if last else "")

    def __call__(self, a, b, w):
        net = self.net
        held = net.weights, net.biases
        net.biases, net.weights = [np.array(b, copy=True)], [np.array(w, copy=True)]
        try:
            out = np.asarray(net.feedforward(a))
        finally:
            net.weights, net.biases = held
        if not self.last:
            return out
        if callable(self.cost_fn):
            return self.cost_fn(out, self.y)
        return 0.5 * float(np.sum((out - self.y) ** 2))


class LayerModelEvaluator(SequentialEvaluator):
    """:class:`~fastcheck.evaluators.sequential.SequentialEvaluator` over a layer-list model: before the stages
    run, every parameter array of the point (``work``) is put in its layer and in ``net.params``
    (copies), so nothing is left over from the previous point."""

    def __init__(self, fns, names, layout, x, net, slots):
        super().__init__(fns, names, layout, x)
        self.net = net
        self.slots = [(key, attr, name, layout.block_slice(name), layout.shapes[layout.names.index(name)])
                      for key, attr, name in slots]

    def load(self, work):
        layers = self.net.layers
        for key, attr, name, sl, shape in self.slots:
            arr = np.array(work[sl].reshape(shape), copy=True)
            setattr(layers[key], attr, arr)
            self.net.params[name] = arr

    def _run(self, l, a, work, validate=False, times=None):
        self.load(work)
        return super()._run(l, a, work, validate, times)

    def _inputs(self, theta):
        self.load(theta)
        return super()._inputs(theta)


class InOrder(Wrapper):
    """A stage-ordered evaluator seen in the model's own order of parameters.

    The stages need each stage's coordinates together (``W1, b1, W2, …``);
    the model lists them its own way (``biases[0], biases[1], weights[0],
    …``).  θ and the coordinates (and the directions, and the kink flags) are
    permuted on the way in, so the check and its report keep the model's
    order; the numbers are the same.  The base's own cost takes θ in the
    stage order, so it is not offered (``caps.calls_user_cost`` is False).
    """

    cost = None

    def __init__(self, base, own: Layout, staged: Layout):
        super().__init__(base)
        order = np.concatenate([np.arange(own.offsets[own.names.index(n)], own.offsets[own.names.index(n) + 1])
                                for n in staged.names]).astype(np.int64)
        self.take = order  # θ_staged = θ_own[take]
        self.where = np.empty_like(order)  # coordinate i of θ_own sits at where[i] of θ_staged
        self.where[order] = np.arange(len(order))

    @property
    def caps(self) -> Capabilities:
        return replace(self.base.caps, calls_user_cost=False)

    def value(self, theta):
        return self.base.value(theta[self.take])

    def prepare(self, theta, kind):
        self.base.prepare(theta[self.take], kind)

    def stencil(self, theta, coords, steps, offsets):
        return self.base.stencil(theta[self.take], self.where[np.asarray(coords, np.int64)], steps, offsets)

    def complex_step(self, theta, coords, steps):
        return self.base.complex_step(theta[self.take], self.where[np.asarray(coords, np.int64)], steps)

    def kinks(self, theta, coords, steps):
        return self.base.kinks(theta[self.take], self.where[np.asarray(coords, np.int64)], steps)

    def directions(self, theta, lo, start, dirvals, steps, offsets):
        """The directions re-stored in the stage order: direction d moves θ_own[lo[d] : lo[d] + m] by u_d,
        which are the coordinates ``where[lo[d] : lo[d] + m]`` of θ_staged.

        Blocks move as wholes, so a direction within a block or over the whole
        of θ covers a run of θ_staged (only the order of its entries changes)
        and its costs are bitwise those of the same direction in the model's
        order.  A direction over some blocks but not all may cover a run with
        gaps; the coordinates in the gaps get a zero component (θ_i + c·h·0,
        the same point unless θ_i is -0.0).
        """
        lo, start = np.asarray(lo, np.int64), np.asarray(start, np.int64)
        dirvals = np.asarray(dirvals)
        new_lo = np.empty_like(lo)
        parts = []
        for d in range(len(lo)):
            m = start[d + 1] - start[d]
            pos = self.where[lo[d] : lo[d] + m]
            first = int(pos.min()) if m else 0
            u = np.zeros(int(pos.max()) + 1 - first if m else 0, dirvals.dtype)
            u[pos - first] = dirvals[start[d] : start[d + 1]]
            new_lo[d] = first
            parts.append(u)
        new_start = np.concatenate([[0], np.cumsum([len(u) for u in parts])]).astype(np.int64)
        new_vals = np.concatenate(parts) if parts else np.zeros(0, dirvals.dtype)
        return self.base.directions(theta[self.take], new_lo, new_start, new_vals, steps, offsets)


def _layer_sequence(layers):
    """``[(key, layer)]`` of a list, tuple or dict of layers, or None."""
    if isinstance(layers, Mapping):
        return list(layers.items())
    if isinstance(layers, (list, tuple)):
        return list(enumerate(layers))
    return None


def layer_list_stages(net, X, y, style_layout: Layout):
    """``(stages, params)`` of a params-dict network with ``layers``, or ``(None, why)``."""
    seq = _layer_sequence(getattr(net, "layers", None))
    if not seq or len(seq) < 2:
        return None, "", None  # no visible structure: the black box, silently
    if not all(callable(getattr(layer, "forward", None)) for _, layer in seq):
        return None, "net.layers: not every layer has a forward method", None
    params = net.params
    owner = {}
    per_layer = []
    for key, layer in seq:
        attrs, names = [], []
        for attr, value in vars(layer).items() if hasattr(layer, "__dict__") else ():
            for name in style_layout.names:
                if params[name] is value:
                    if name in owner:
                        return None, f"net.params[{name!r}] is held by two layers ({owner[name]!r} and {key!r})", None
                    owner[name] = key
                    attrs.append(attr)
                    names.append(name)
        per_layer.append((key, attrs, names))
    missing = [n for n in style_layout.names if n not in owner]
    if missing:
        return None, f"net.params {missing} are held by no layer of net.layers", None
    stages = [(LayerStage(net, key, y, last=(i == len(per_layer) - 1)), tuple(names))
              for i, (key, _, names) in enumerate(per_layer)]
    slots = [(key, attr, name) for key, attrs, names in per_layer for attr, name in zip(attrs, names)]
    return stages, {n: params[n] for n in style_layout.names}, slots


def list_stages(net, X, y, style_layout: Layout):
    """``(stages, params)`` of a weights/biases network, or ``(None, why)``."""
    weights, biases = net.weights, net.biases
    if len(weights) < 2:
        return None, "", None
    cost_obj = getattr(net, "cost", None)
    cost_fn = getattr(cost_obj, "fn", None) if cost_obj is not None else None
    L = len(weights)
    stages = [(ListStage(net, l, y, last=(l == L - 1), cost_fn=cost_fn), (f"biases[{l}]", f"weights[{l}]"))
              for l in range(L)]
    params = {f"biases[{l}]": biases[l] for l in range(L)}
    params.update({f"weights[{l}]": weights[l] for l in range(L)})
    return stages, params, None


#: Style name (as in :data:`fastcheck.inputs.styles.STYLES`) -> what finds its stages.
FINDERS = {
    "params dict and loss(X, y) -> (loss, grads)": layer_list_stages,
    "weights/biases lists and backprop(x, y) -> (nabla_b, nabla_w)": list_stages,
}


def snapshot(net):
    """Every attribute of the network and of its layers, to put back afterwards."""
    seq = _layer_sequence(getattr(net, "layers", None)) or []
    saved = [(net, dict(vars(net)))]
    saved += [(layer, dict(vars(layer))) for _, layer in seq if hasattr(layer, "__dict__")]
    params = getattr(net, "params", None)
    return saved, (params, dict(params)) if isinstance(params, dict) else None


def restore(saved):
    objs, params = saved
    for obj, attrs in objs:
        vars(obj).clear()
        vars(obj).update(attrs)
    if params is not None:
        params[0].clear()
        params[0].update(params[1])


def staged_problem(style_name, net, X, y, cost, theta0, style_layout: Layout):
    """The stages of ``net`` verified against its black-box ``cost`` at ``theta0``.

    Returns ``(evaluator, why)``: a stage-caching evaluator of θ in the
    model's own layout (``style_layout``), or ``(None, why)`` when the
    structure is not visible (``why`` empty) or not usable (``why`` says
    what failed).
    """
    from fastcheck.evaluators.sequential import plan_stages

    finder = FINDERS.get(style_name)
    if finder is None:
        return None, ""
    saved = snapshot(net)
    try:
        stages, params, slots = finder(net, X, y, style_layout)
        if stages is None:
            return None, params
        fns, names, layout = plan_stages(stages, params)
        if slots is None:
            ev = SequentialEvaluator(fns, names, layout, np.asarray(X))
        else:
            ev = LayerModelEvaluator(fns, names, layout, np.asarray(X), net, slots)
        theta = layout.flatten(params, dtype=theta0.dtype)
        try:
            direct = cost(theta0.copy())
            restore(saved)
            staged = ev.value(theta)
        except Exception as exc:  # noqa: BLE001 - whatever the user's code raises on a truncated model
            return None, (f"the stages could not be run one by one ({type(exc).__name__}: "
                                      f"{str(exc)[:120]})")
        if not (np.float64(staged) == np.float64(direct) or (np.isnan(staged) and np.isnan(direct))):
            return None, (f"the stages composed give {float(staged)!r}, the model's cost "
                                      f"{float(direct)!r}: they are not what the model computes")
        return InOrder(ev, style_layout, layout), ""
    finally:
        restore(saved)
