"""Stateful layer objects, the style of most from-scratch frameworks::

    class Dense:
        def __init__(self, n_in, n_out):
            self.parameters = {"W": ..., "b": ...}       # or params=, or attributes self.W, self.b
            self.gradients = {"W": zeros, "b": zeros}     # or grads= (keys "W" or "dW"), or self.dW / W_grad / W_diff
        def forward(self, X): ...                         # caches what backward needs
        def backward(self, dY):
            self.gradients["W"] += self.X.T @ dY         # accumulates (+=) until the optimiser flushes
            return dY @ self.parameters["W"].T            # dL/dX

:func:`check_layer_object` (what :func:`fastcheck.check_layer` does with ``check_layer(layer, X)``)
checks the input gradient and every parameter gradient of one layer against the numerical gradient of
⟨dY, forward(X)⟩; :func:`layer_list_problem` (what :func:`fastcheck.check_object` does with a list of
such layers ending in a loss, or an object with ``layers`` and ``loss``) the whole network.

A layer may also keep its results instead of returning them (the style of the book *Neural Networks
from Scratch in Python*): ``forward`` sets ``self.output`` and returns None, ``backward`` sets
``self.dinputs`` (or ``d_inputs``, ``dX``, ``dx``) and returns None, parameters ``weights``/``biases`` have
``dweights``/``dbiases``.  A loss whose ``forward`` returns one loss per sample and whose ``calculate``
returns their mean is read through ``calculate``; when a loss's ``forward`` sets ``self.output`` (a softmax
combined with its cross-entropy), its ``backward`` gets that output, as such code expects.

Two more forms are read: ``self.params = [W, b]`` with ``self.grads = [dW, db]`` (lists of the same
length, the style of the book *Deep Learning from Scratch*; blocks ``params[0]``, ``params[1]``), and a
``backward(dY)`` that returns ``(dX, dW, db)``: the first element is dL/dX, the others are the parameters'
gradients in the order the layer holds its parameters (matched by shape; gradients the layer also keeps as
attributes, ``self.dW``, are read there instead).  Float arrays the layer holds that no gradient is found for
are not checked: :func:`check_layer_object` warns (:class:`~fastcheck.errors.UncheckedArraysWarning`) and names
them in the result (``CheckResult.unchecked``, and the headline).

Gradients that accumulate with ``+=`` are handled by zeroing every gradient array in place before the
checked backward pass (an assignment ``self.dW = ...`` is unaffected); everything the layer held —
parameters, gradients, caches, every attribute — is put back afterwards, also when its code raises.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

import numpy as np

from fastcheck.checks.gradient import check_gradient_with
from fastcheck.checks.result import CheckResult
from fastcheck.core.callables import call_fitting
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.randomness import reseeded
from fastcheck.errors import LayerError, UncheckedArraysWarning

__all__ = ["GRAD_ATTRS", "LayerState", "check_layer_object", "fits_shape", "is_layer_list", "is_layer_object", "layer_list_problem",
           "warn_unchecked"]

PARAM_DICTS = ("parameters", "params")
GRAD_DICTS = ("gradients", "grads")
#: How a gradient attribute is named after its parameter ``n``.
GRAD_ATTRS = ("d{}", "d_{}", "{}_grad", "grad_{}", "{}_diff", "{}grad", "grad{}", "g{}", "delta_{}", "{}_gradient")
#: Where a forward pass that returns None leaves its output, and a backward pass its input's gradient.
OUTPUT_ATTRS = ("output",)
INPUT_GRAD_ATTRS = ("dinputs", "d_inputs", "dinput", "dX", "dx")


def is_layer_object(obj) -> bool:
    """An object (not a function) with ``forward`` and ``backward`` methods."""
    return (not isinstance(obj, type) and callable(getattr(obj, "forward", None))
            and callable(getattr(obj, "backward", None)) and hasattr(obj, "__dict__"))


def _layers_and_loss(net):
    if isinstance(net, (list, tuple)):
        return list(net[:-1]), net[-1]
    return list(getattr(net, "layers", [])), getattr(net, "loss", None)


def is_layer_list(net) -> bool:
    """A list of layer objects ending in a loss object (``forward(pred, y)``, ``backward()``), or an object
    with a ``layers`` list of layer objects and such a ``loss``."""
    if not (isinstance(net, (list, tuple)) or isinstance(getattr(net, "layers", None), (list, tuple))):
        return False
    layers, loss = _layers_and_loss(net)
    return bool(layers) and all(is_layer_object(l) for l in layers) and loss is not None and is_layer_object(loss)


def _is_float_array(v) -> bool:
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating) and v.size > 0


def layer_forward(layer, X, label: str):
    """What ``layer.forward(X)`` returned, or what it left in ``self.output`` when it returned None."""
    out = layer.forward(X)
    if out is None:
        out = next((getattr(layer, a) for a in OUTPUT_ATTRS if getattr(layer, a, None) is not None), None)
        if out is None:
            raise LayerError(f"{label}.forward returned None and set no self.{'/'.join(OUTPUT_ATTRS)}: "
                             "it must return its output or keep it there")
    return out


def _kept_input_grad(layer):
    return next((getattr(layer, a) for a in INPUT_GRAD_ATTRS if _is_float_array(getattr(layer, a, None))), None)


def layer_backward(layer, d, label: str, state: LayerState | None = None):
    """What ``layer.backward(d)`` returned, or the input gradient it left in ``self.dinputs`` (and similar).

    A tuple ``(dX, dW, db)`` gives dX; the rest is kept in ``state.returned`` for :meth:`LayerState.discover`.
    """
    for a in INPUT_GRAD_ATTRS:           # a stale gradient of an earlier pass must not pass for this one's
        if _is_float_array(getattr(layer, a, None)):
            setattr(layer, a, None)
    if state is not None:
        state.returned = None
    dX = layer.backward(d)
    if isinstance(dX, (tuple, list)):
        if state is None:
            raise LayerError(f"{label}.backward returned a {type(dX).__name__} of {len(dX)}; it must return dL/dX "
                             "alone and keep the parameters' gradients as attributes (self.dW next to self.W)")
        state.returned = list(dX[1:])
        dX = dX[0] if len(dX) else None
    return _kept_input_grad(layer) if dX is None else dX


def fits_shape(a, shape) -> bool:
    """``a`` has ``shape``, or a shape that differs from it by singleton axes only (as gradients are accepted)."""
    s = np.shape(a)
    return s == tuple(shape) or (int(np.prod(s)) == int(np.prod(shape))
                                 and tuple(d for d in s if d != 1) == tuple(d for d in shape if d != 1))


def _orders(arrays: list, cands: list, limit: int = 2) -> list:
    """Up to ``limit`` ways of giving each of ``arrays`` one of ``cands`` ((name, array) pairs), in order, by shape."""
    found = []

    def walk(i, j, picked):
        if len(found) >= limit:
            return
        if i == len(arrays):
            found.append(list(picked))
            return
        for k in range(j, len(cands) - (len(arrays) - i) + 1):
            if isinstance(arrays[i], np.ndarray) and fits_shape(arrays[i], cands[k][1].shape):
                walk(i + 1, k + 1, picked + [cands[k][0]])

    walk(0, 0, [])
    return found


def warn_unchecked(result: CheckResult, unchecked, where: str) -> CheckResult:
    """``result`` naming ``unchecked`` (arrays left out of the check), with a warning; ``result`` itself if none."""
    if not unchecked:
        return result
    warnings.warn(f"{where}: not checked, no gradient found for {', '.join(unchecked)} (keep a gradient next to "
                  "each, such as self.dW for self.W, or return (dX, dW, db)); only "
                  f"{', '.join(result.layout.names)} checked", UncheckedArraysWarning, stacklevel=3)
    return dataclasses.replace(result, unchecked=tuple(unchecked))


class LayerState:
    """One layer's parameters and gradients, found after one backward pass, and everything it holds, restorable."""

    def __init__(self, layer, label: str = ""):
        self.layer, self.label = layer, label
        self.bindings = dict(vars(layer))
        self.dicts = {k: dict(v) for k, v in self.bindings.items() if isinstance(v, dict)}
        self.lists = {k: list(v) for k, v in self.bindings.items() if isinstance(v, list)}
        self.contents = {}
        for k, v in self.bindings.items():
            if isinstance(v, np.ndarray):
                self.contents[(k, None)] = (v, v.copy())
        for k, d in (*self.dicts.items(), *((k, dict(enumerate(v))) for k, v in self.lists.items())):
            for kk, v in d.items():
                if isinstance(v, np.ndarray):
                    self.contents[(k, kk)] = (v, v.copy())
        # where the parameters are: a dict (parameters/params), a list (params = [W, b]), else attributes
        self.param_dict = next((k for k in PARAM_DICTS if isinstance(self.bindings.get(k), Mapping)), None)
        self.param_list = None if self.param_dict else next(
            (k for k in PARAM_DICTS if isinstance(self.bindings.get(k), list) and self.bindings[k]
             and all(_is_float_array(v) for v in self.bindings[k])), None)
        self.names = []      # parameter names, found by discover()
        self.returned = None  # what backward returned after dX ((dX, dW, db)), set by layer_backward
        self.from_returned = False  # the gradients are read from ``returned``, one per name, in order
        self.unchecked = []  # float arrays the layer holds that no gradient was found for (discover())

    # -- where the parameters and gradients are ------------------------------------------------------------
    def _grad_dict(self):
        return next((getattr(self.layer, k) for k in GRAD_DICTS if isinstance(getattr(self.layer, k, None), Mapping)),
                    None)

    def _grad_list(self):
        return next((getattr(self.layer, k) for k in GRAD_DICTS if isinstance(getattr(self.layer, k, None), list)),
                    None)

    def _index(self, name) -> int:
        return int(name[len(self.param_list) + 1:-1])  # "params[1]" -> 1

    def param(self, name):
        if self.param_list:
            return getattr(self.layer, self.param_list)[self._index(name)]
        return getattr(self.layer, self.param_dict)[name] if self.param_dict else getattr(self.layer, name)

    def _grad_of(self, name):
        """The gradient array of parameter ``name`` (None when the layer holds none)."""
        if self.param_list:
            grads = self._grad_list()
            i = self._index(name)
            return grads[i] if grads is not None and i < len(grads) and _is_float_array(grads[i]) else None
        if self.param_dict:
            d = self._grad_dict()
            if d is None:
                return None
            return next((d[k] for k in (name, "d" + name) if k in d), None)
        return next((getattr(self.layer, f.format(name)) for f in GRAD_ATTRS
                     if _is_float_array(getattr(self.layer, f.format(name), None))), None)

    def _attribute_arrays(self) -> dict:
        """The float-array attributes that were there before forward and are the same arrays after it (a cache is
        rebound), except gradients named after another attribute and the kept input gradient or output."""
        grads = {f.format(n) for n in vars(self.layer) for f in GRAD_ATTRS}
        return {n: v for n, v in vars(self.layer).items()
                if _is_float_array(v) and n not in grads and n not in INPUT_GRAD_ATTRS and n not in OUTPUT_ATTRS
                and self.bindings.get(n) is v}

    def _label(self):
        return self.label or type(self.layer).__name__

    def _pair_returned(self, cands: dict) -> list:
        """The parameters (of ``cands``, in the layer's order) of the gradients backward returned after dX."""
        rest, label = self.returned, self._label()
        shapes = ", ".join(str(np.shape(g)) for g in rest)
        held = ", ".join(f"{n} {a.shape}" for n, a in cands.items()) or "no float arrays"
        form = (f"for a layer object, backward(dY) must return dL/dX alone and keep each parameter's gradient next "
                f"to it (self.dW for self.W), or return (dX, *grads) with one gradient per parameter in the order "
                f"the layer holds them ({held})")
        if not all(isinstance(g, np.ndarray) for g in rest):
            kinds = ", ".join(type(g).__name__ for g in rest)
            raise LayerError(f"{label}.backward returned a tuple of {len(rest) + 1} whose elements after dX are not "
                             f"all arrays ({kinds}); {form}")
        ways = _orders(rest, list(cands.items()))
        if len(ways) != 1:
            how = "fit none of the layer's parameters in order" if not ways else "fit its parameters in more than one way"
            raise LayerError(f"{label}.backward returned a tuple of {len(rest) + 1}; the {len(rest)} gradient(s) after "
                             f"dX (shapes {shapes}) {how}; {form}")
        self.from_returned = True
        return ways[0]

    def discover(self):
        """Call after one backward pass: the parameters are those with a gradient array next to them (or, when
        backward returned ``(dX, dW, db)`` and the layer keeps no gradient, those the returned ones fit)."""
        label, rest = self._label(), self.returned or []
        self.from_returned = False
        if self.param_list and not (self._grad_list() is not None or rest):
            self.param_list = None  # a params list with no grads list: the attributes (self.W with self.dW)
        if self.param_list:
            params = getattr(self.layer, self.param_list)
            self.names = [f"{self.param_list}[{i}]" for i in range(len(params))]
            grads = self._grad_list()
            if grads is None or (rest and not any(self._grad_of(n) is not None for n in self.names)):
                self.names = self._pair_returned({n: self.param(n) for n in self.names})
            elif len(grads) != len(params) or any(self._grad_of(n) is None for n in self.names):
                got = ", ".join(str(np.shape(g)) for g in grads)
                raise LayerError(f"{label}: {self.param_list} holds {len(params)} arrays but grads holds {len(grads)} "
                                 f"({got}); backward must leave one gradient array per parameter, in the same order")
        elif self.param_dict:
            params = getattr(self.layer, self.param_dict)
            self.names = [k for k, v in params.items() if _is_float_array(v)]
            missing = [n for n in self.names if self._grad_of(n) is None]
            if missing and rest and len(missing) == len(self.names):
                self.names = self._pair_returned({n: params[n] for n in self.names})
            elif missing:
                raise LayerError(f"{label}: backward left no gradient for "
                                 f"{missing} in {'/'.join(GRAD_DICTS)} (keys name or 'd' + name)")
        else:
            arrays = self._attribute_arrays()
            self.names = [n for n in arrays if self._grad_of(n) is not None]
            if not self.names and rest:
                self.names = self._pair_returned(arrays)
        self.originals = {n: self.param(n) for n in self.names}
        # what the check leaves out: the float-array attributes that are neither a checked parameter nor a gradient
        taken = {id(a) for a in self.originals.values()}
        taken |= {id(g) for n in self.names if (g := self._grad_of(n)) is not None}
        for container in (self._grad_dict(), self._grad_list()):
            values = container.values() if isinstance(container, Mapping) else container or ()
            taken |= {id(v) for v in values}
        self.unchecked = [n for n, v in self._attribute_arrays().items() if n not in self.names and id(v) not in taken]
        return self.names

    def load(self, values: Mapping):
        for n, v in values.items():
            held = self.originals[n]
            # in place (an optimiser or another layer may hold the array), unless it cannot hold v: read-only,
            # or v complex (the complex step) and the array real
            in_place = held.flags.writeable and (v.dtype == held.dtype or np.can_cast(v.dtype, held.dtype, "same_kind"))
            if in_place:
                held[...] = v
            value = held if in_place else v.copy()
            if self.param(n) is not value:
                if self.param_list:
                    getattr(self.layer, self.param_list)[self._index(n)] = value
                elif self.param_dict:
                    getattr(self.layer, self.param_dict)[n] = value
                else:
                    setattr(self.layer, n, value)

    def zero_gradients(self):
        """Zero every gradient array in place: an accumulating (+=) backward then gives this pass's gradient."""
        if self.from_returned:
            return
        for n in self.names:
            g = self._grad_of(n)
            if g is not None and g.flags.writeable:
                g[...] = 0

    def gradients(self) -> dict:
        if self.from_returned:
            rest = self.returned or []
            if len(rest) != len(self.names):
                raise LayerError(f"{self._label()}.backward returned {len(rest)} gradient(s) after dX here but "
                                 f"{len(self.names)} ({', '.join(self.names)}) at the first pass")
            return {n: np.array(g, copy=True) for n, g in zip(self.names, rest)}
        out = {}
        for n in self.names:
            g = self._grad_of(n)
            if g is None:
                raise LayerError(f"{self._label()}: backward left no gradient for {n!r}")
            out[n] = np.array(g, copy=True)
        return out

    def restore(self):
        for (k, kk), (arr, saved) in self.contents.items():
            if arr.flags.writeable and arr.shape == saved.shape:
                arr[...] = saved
        for k, d in self.dicts.items():
            held = self.bindings[k]
            held.clear()
            held.update(d)
        for k, items in self.lists.items():
            self.bindings[k][:] = items
        vars(self.layer).clear()
        vars(self.layer).update(self.bindings)


def _input(inputs):
    if isinstance(inputs, Mapping):
        if len(inputs) != 1:
            raise LayerError(f"a layer object's forward takes one input; got {len(inputs)} ({list(inputs)})")
        (name, X), = inputs.items()
    else:
        name, X = "X", inputs
    X = np.array(X, copy=True)
    if not np.issubdtype(X.dtype, np.floating):
        raise LayerError(f"input {name!r} must be a float array, got dtype {X.dtype}")
    return str(name), X


def check_layer_object(layer, inputs, opts: CheckOptions) -> CheckResult:
    """``check_layer(layer, X)`` for a layer object (see the module's doc); blocks ``X`` and the parameters."""
    if opts.args:
        raise LayerError("check_layer(layer, X): forward(X) takes the input only; args= does not apply")
    if opts["n_douts"] != 1:
        raise LayerError("check_layer(layer, X) draws one dout; n_douts does not apply to layer objects")
    xname, X = _input(inputs)
    state = LayerState(layer, type(layer).__name__)
    label = type(layer).__name__
    dout = opts["dout"]

    def first_pass():
        out = np.asarray(layer_forward(layer, X.copy(), label))
        if not np.issubdtype(out.dtype, np.floating):
            raise LayerError(f"{label}.forward returned {out.dtype}, not a float array")
        dY = (np.random.default_rng(opts.seed).standard_normal(out.shape) if dout is None
              else np.array(dout, dtype=np.float64, copy=True))
        if dY.shape != out.shape:
            raise LayerError(f"dout has shape {dY.shape} but forward's output has shape {out.shape}")
        layer_backward(layer, dY.copy(), label, state)
        return dY

    def analytic_pass():
        """The layer's own gradients at the checked point (under the same reseed as every perturbed cost)."""
        layer_forward(layer, X.copy(), label)
        state.zero_gradients()
        dX = layer_backward(layer, dY.copy(), label, state)
        if dX is None:
            raise LayerError(f"{label}.backward(dY) returned None and set no self.{'/'.join(INPUT_GRAD_ATTRS)}; "
                             f"it must return dL/d{xname} or keep it there")
        return {xname: dX, **state.gradients()}

    try:
        dY = reseeded(first_pass, opts.reseed)()
        names = state.discover()
        unchecked = list(state.unchecked)
        if xname in names:
            raise LayerError(f"the input and a parameter are both named {xname!r}; pass inputs={{'input': X}}")
        state.restore()
        layout = Layout((xname, *names), (X.shape, *[state.originals[n].shape for n in names]))
        theta0 = layout.flatten({xname: X, **{n: state.originals[n] for n in names}},
                                dtype=np.result_type(X, *state.originals.values()))

        def phi(theta):
            blocks = layout.unflatten(theta)
            state.load({n: blocks[n] for n in names})
            out = np.asarray(layer_forward(layer, blocks[xname].copy(), label))
            # in float64, or complex for the complex step (its imaginary part is the derivative)
            return np.vdot(dY, out if np.iscomplexobj(out) else out.astype(np.float64, copy=False)).item()

        grads = reseeded(analytic_pass, opts.reseed)()
        g = layout.flatten_gradients(grads, what=f"{label}'s gradient")
        state.restore()
        result = check_gradient_with(phi, theta0, g, opts.own_layout("check_layer", layout).for_python_cost())
    finally:
        state.restore()
    return warn_unchecked(result, unchecked, f"check_layer({label})")


def _loss_backward(loss, pred, y):
    for a in INPUT_GRAD_ATTRS:
        if _is_float_array(getattr(loss, a, None)):
            setattr(loss, a, None)
    # a loss that keeps its own output (a softmax fused with its cross-entropy) differentiates from it
    kept = getattr(loss, OUTPUT_ATTRS[0], None)
    d = call_fitting(loss.backward, [(), (pred if kept is None else kept, y)], f"{type(loss).__name__}.backward",
                     "() after forward(pred, y), or (pred, y)")
    return _kept_input_grad(loss) if d is None else d


def _loss_value(loss, A, y):
    """The loss's scalar value: ``forward(A, y)``, or ``calculate(A, y)`` when forward gives one loss per sample."""
    for a in OUTPUT_ATTRS:
        if getattr(loss, a, None) is not None:
            setattr(loss, a, None)
    value = loss.forward(A, y)
    if np.ndim(value) > 0 and np.size(value) > 1:
        if not callable(getattr(loss, "calculate", None)):
            raise LayerError(f"{type(loss).__name__}.forward returned {np.size(value)} values, not one loss; give "
                             "the loss a calculate(pred, y) that returns their mean, or return the mean itself")
        value = loss.calculate(A, y)
    return value


def layer_list_problem(net, X, y):
    """``(cost, grad, theta0, layout, restore, unchecked)`` for layer objects ending in a loss (see the module's
    doc); ``unchecked`` names the layers' float arrays that no gradient was found for."""
    layers, loss = _layers_and_loss(net)
    X = np.asarray(X)
    states = [LayerState(l, f"layers[{i}] ({type(l).__name__})") for i, l in enumerate(layers)]
    loss_state = LayerState(loss, type(loss).__name__)

    def run_forward():
        A = X.copy()
        for s in states:
            A = layer_forward(s.layer, A, s.label)
        return A, _loss_value(loss, A, y)

    def run_backward(A):
        d = _loss_backward(loss, A, y)
        for s in reversed(states):
            s.zero_gradients()
        if d is None:
            raise LayerError(f"{type(loss).__name__}.backward returned None and set no "
                             f"self.{'/'.join(INPUT_GRAD_ATTRS)}")
        for i, s in reversed(list(enumerate(states))):
            d = layer_backward(s.layer, d, s.label, s)
            if d is None and i > 0:
                raise LayerError(f"{s.label}.backward returned None and set no self.{'/'.join(INPUT_GRAD_ATTRS)};"
                                 " it must return the gradient of its input or keep it there")

    def restore():
        for s in (*states, loss_state):
            s.restore()

    try:
        A, _ = run_forward()
        run_backward(A)
        blocks = [(i, s, n) for i, s in enumerate(states) for n in s.discover()]
        unchecked = [f"layers[{i}].{n}" for i, s in enumerate(states) for n in s.unchecked]
    finally:
        restore()
    if not blocks:
        left = f" (float arrays with no gradient found: {', '.join(unchecked)})" if unchecked else ""
        raise LayerError(f"no layer holds a parameter with a gradient next to it: nothing to check{left}; keep "
                         "each gradient next to its parameter (self.dW for self.W, or params = [W, b] with grads = "
                         "[dW, db]), or return (dX, dW, db) from backward")
    names = tuple(f"layers[{i}].{n}" for i, _, n in blocks)
    layout = Layout(names, tuple(s.originals[n].shape for _, s, n in blocks))
    theta0 = layout.flatten([s.originals[n] for _, s, n in blocks],
                            dtype=np.result_type(*[s.originals[n] for _, s, n in blocks]))

    def load(theta):
        for (i, s, n), block in zip(blocks, layout.unflatten(theta).values()):
            s.load({n: block})

    def cost(theta):
        load(theta)
        return run_forward()[1]

    def grad(theta):
        load(theta)
        A, _ = run_forward()
        run_backward(A)
        return layout.flatten_gradients([s.gradients()[n] for _, s, n in blocks], what="the layers' gradient")

    return cost, grad, theta0, layout, restore, unchecked
