"""``lossFun``-style code: one function returns the loss and every gradient, the parameters live elsewhere.

The character-level RNN script style::

    Wxh, Whh, Why, bh, by = ...                    # module globals (or attributes of an object, or a dict)
    def lossFun(inputs, targets, hprev):
        ...
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs[-1]

is checked with no glue by ``check_module(module, "lossFun", args=(inputs, targets, hprev))``, or
``check_loss(model.lossFun, model, inputs, targets, hprev)`` for attributes, or
``check_loss(loss_and_grads, params, X, y)`` for a dict.  The function may return
``(loss, *grads)`` in the parameters' order (extra trailing values such as the next hidden state
are ignored), ``(loss, [grads])`` or ``(loss, {"dW": ...})``; it may read the parameters itself
(globals, attributes, a dict it closes over) or take them first: ``fn(params, *data)`` or
``fn(W, b, *data)`` (chosen from its signature).

A function that returns the loss *alone* and leaves the gradients next to the parameters of the
object passed (``self.W`` with ``self.dW``, ``W_grad``, ``W_diff``…, the names
:mod:`fastcheck.inputs.layer_objects` reads; ``+=`` accumulators are zeroed before every call) is
checked the same way: ``check_loss(train_step, net)`` — the training step of an LSTM whose
parameter object collects ``wi_diff`` and friends.

Which arrays are parameters: ``names=`` when given; for a dict, its float-array entries; for a
module or object, the float-array globals or attributes the function's code refers to, paired with
the returned gradients by name where the function's source shows them (``return loss, dWxh, dWhh``:
``dWhh`` is the gradient of ``Whh``; also ``Whh_grad`` and the other names of
:data:`fastcheck.inputs.layer_objects.GRAD_ATTRS`), else in definition order, from the first whose
shape matches the first returned gradient on as long as the shapes keep matching
(``result.layout`` shows what was found).  A returned array left unpaired that has the shape of a
parameter left unpaired is refused with a message naming both (``names=`` settles it).  θ is written into the user's own
arrays, in place, and everything is put back afterwards, also when the function raises.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.gradient import check_gradient_with
from fastcheck.checks.result import CheckResult
from fastcheck.core.callables import pick_call
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.errors import GradientMismatchError
from fastcheck.evaluators.loop import as_scalar
from fastcheck.inputs.layer_objects import GRAD_ATTRS, LayerState, fits_shape

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["check_loss", "check_module"]

_NAMES_DOC = {"names": "the parameters' names, in the order the function returns their gradients (default: "
                       "found, see fastcheck.inputs.lossfun)"}


class _Holder:
    """Where the parameters live: a dict's entries, or an object's (a module's) attributes.

    A module travels to a pool's workers by name, and a worker imports it afresh: globals a script
    sets at run time (``vocab_size`` and the weights that its ``main()`` makes) would read as the
    import leaves them.  So a module's holder carries the plain-data globals the function reads
    (``carried``: numbers, strings, arrays and containers of them) and sets them again in the
    worker's copy of the module when it is unpickled there; the worker still proves it computes
    this process's function before its results count.
    """

    def __init__(self, where):
        self.where = where
        self.is_dict = isinstance(where, Mapping)
        self.carried = ()

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(self.where, types.ModuleType):
            state["values"] = {k: getattr(self.where, k) for k in self.carried if hasattr(self.where, k)}
        return state

    def __setstate__(self, state):
        values = state.pop("values", {})
        self.__dict__.update(state)
        for k, v in values.items():  # in a worker: its freshly imported module, as this process has it
            setattr(self.where, k, v)

    def get(self, name):
        return self.where[name] if self.is_dict else getattr(self.where, name)

    def set(self, name, value):
        if self.is_dict:
            self.where[name] = value
        else:
            setattr(self.where, name, value)

    def items(self):
        return list(self.where.items()) if self.is_dict else list(vars(self.where).items())


def _is_float_array(v) -> bool:
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating) and v.size > 0


_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.generic)


def _plain_data(v, depth: int = 0) -> bool:
    """Numbers, strings, numeric arrays and (shallow) containers of them: state a worker can be given."""
    if isinstance(v, _PLAIN):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype != object
    if depth < 3 and isinstance(v, (list, tuple, set, frozenset)):
        return all(_plain_data(x, depth + 1) for x in v)
    if depth < 3 and isinstance(v, dict):
        return all(_plain_data(k, depth + 1) and _plain_data(x, depth + 1) for k, x in v.items())
    return False


def _referenced(fn) -> set | None:
    """Every global and attribute name ``fn``'s code (and code nested in it) refers to; None if unknown."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return None
    names, todo = set(), [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return names


def _carried(fn, module, bindings: dict) -> tuple:
    """The plain-data globals of ``module`` that ``fn`` or the module's own functions refer to."""
    refs = set(_referenced(fn) or ())
    for f in bindings.values():
        if isinstance(f, types.FunctionType) and f.__globals__ is vars(module):
            refs |= _referenced(f) or set()
    return tuple(k for k, v in bindings.items() if k in refs and _plain_data(v))


def _returned(out, where: str):
    if not (isinstance(out, (tuple, list)) and len(out) >= 2):
        got = f"a {type(out).__name__} of {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        raise GradientMismatchError(f"{where} must return (loss, *grads), (loss, [grads]) or (loss, {{name: grad}}); "
                                    f"it returned {got}")
    rest = out[1:]
    if len(rest) == 1 and isinstance(rest[0], (Mapping, list, tuple)):
        rest = rest[0]
    return out[0], rest


def _own_returns(node):
    """The ``return`` statements of a function's own body (not of functions or classes nested in it)."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(n, ast.Return):
            yield n
        todo.extend(ast.iter_child_nodes(n))


def _returned_names(fn, n_grads: int):
    """The names of what ``fn`` returns after the loss, read from its source (``return loss, dWxh, dWhh, h``
    gives ``["dWxh", "dWhh", "h"]``; an expression such as ``dWhh * scale`` as its text), or None when the source
    cannot be read or no ``return`` gives ``n_grads`` values after the loss."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(fn, "__func__", fn))))
    except (OSError, TypeError, SyntaxError, IndentationError):  # no file (exec, a notebook cell gone), a lambda
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == code.co_name), None)
    if node is None:
        return None
    found = []
    for r in _own_returns(node):
        if not isinstance(r.value, (ast.Tuple, ast.List)) or any(isinstance(e, ast.Starred) for e in r.value.elts):
            continue
        rest = r.value.elts[1:]
        if len(rest) == 1 and isinstance(rest[0], (ast.Tuple, ast.List)):
            rest = rest[0].elts
        if len(rest) == n_grads:
            found.append([ast.unparse(e) for e in rest])  # dW, self.dW, dWhh * BUG
    if not found:
        return None
    return [names[0] if len(set(names)) == 1 else None for names in zip(*found)]  # where every return agrees


def _gradient_of(text, candidates) -> str | None:
    """The one candidate whose gradient the returned value ``text`` names (``dWhh`` → ``Whh``, also
    ``Whh_grad``, ``self.dWhh``, ``dWhh * scale``…): the names in it are matched against :data:`GRAD_ATTRS`."""
    words = set(re.findall(r"[A-Za-z_]\w*", text))
    hits = [n for n in candidates if any(f.format(n) in words for f in GRAD_ATTRS)]
    return hits[0] if len(hits) == 1 else None


def _discover(candidates, grads, where: str, returned=None):
    """``(names, positions)``: the parameters among ``candidates`` (name → array, in definition order) that the
    returned ``grads`` belong to, and where each one's gradient is among them.

    By name where ``returned`` (the returned values' names, :func:`_returned_names`) shows them: ``dWhh`` is
    the gradient of ``Whh``.  Otherwise by order and shape: from the first candidate whose shape is that of
    the first gradient on, as long as the shapes keep matching.  A returned array that has the shape of a
    candidate left unpaired is refused (it may be that candidate's gradient): ``names=`` says outright.
    """
    if isinstance(grads, Mapping):
        names = [n for n in candidates if n in grads or "d" + n in grads]
        positions = list(range(len(names)))
    else:
        by_name = {}
        for i, gname in enumerate(returned or ()):
            param = None if gname is None else _gradient_of(gname, candidates)
            if param is None:
                continue
            if not fits_shape(grads[i], candidates[param].shape):
                raise GradientMismatchError(f"{where} returns {gname} (value {i + 1} after the loss) with shape "
                                            f"{np.shape(grads[i])}, but {param} has shape {candidates[param].shape}")
            by_name[i] = param
        if by_name:
            positions = sorted(by_name)
            names = [by_name[i] for i in positions]
        else:
            names, shapes = [], [np.shape(g) for g in grads]
            cands = list(candidates.items())
            start = next((i for i, (_, a) in enumerate(cands) if shapes and a.shape == shapes[0]), None)
            if start is not None:
                for (n, a), s in zip(cands[start:], shapes):
                    if a.shape != s:
                        break
                    names.append(n)
            positions = list(range(len(names)))
        unpaired = {n: a for n, a in candidates.items() if n not in names}
        dropped = [(i, [n for n, a in unpaired.items() if fits_shape(g, a.shape)]) for i, g in enumerate(grads)
                   if i not in positions]
        dropped = [(i, fits) for i, fits in dropped if fits]
        if names and dropped:
            def value(i):
                label = returned[i] if returned and returned[i] else f"value {i + 1} after the loss"
                return f"{label} {np.shape(grads[i])}"

            paired = ", ".join(f"{value(i)} -> {n}" for i, n in zip(positions, names))
            left = "; ".join(f"{value(i)} has the shape of {', '.join(fits)}" for i, fits in dropped)
            raise GradientMismatchError(
                f"{where}: cannot tell which parameters all of its returned arrays belong to. Paired "
                f"{'by name' if by_name else 'by definition order and shape'}: {paired}; left over: {left}. Pass "
                f"names=[...] (the parameters in the order it returns their gradients), or name each gradient "
                f"'d' + its parameter's name in the return statement")
    if not names:
        found = ", ".join(f"{n} {a.shape}" for n, a in candidates.items()) or "none"
        raise GradientMismatchError(f"cannot tell which arrays {where}'s gradients belong to (float arrays it refers "
                                    f"to: {found}); pass names=[...] in the order it returns the gradients")
    return names, positions


def _check(fn, holder: _Holder, data: tuple, names, opts: CheckOptions, where: str) -> CheckResult:
    n_data = len(data)
    forms = ("(params, *data), (*params, *data) or (*data)" if holder.is_dict else
             "(*data), (holder, *data) or (*params, *data)")
    saved_bindings = dict(holder.items())
    if names is None:
        candidates = {k: v for k, v in holder.items() if _is_float_array(v)}
    else:
        names = [names] if isinstance(names, str) else list(names)
        missing = [n for n in names if not _is_float_array(saved_bindings.get(n))]
        if missing:
            raise TypeError(f"{where}: names {missing} are not float arrays of {type(holder.where).__name__}")
        candidates = {n: saved_bindings[n] for n in names}
    n_params = len(candidates) if holder.is_dict or names is not None else None
    modes = ["holder", "values", "data"] if holder.is_dict else ["data", "holder", "values"]
    counts = {"holder": 1 + n_data, "values": None if n_params is None else n_params + n_data, "data": n_data}
    modes = [m for m in modes if counts[m] is not None]
    n = pick_call(fn, [counts[m] for m in modes], where, forms)
    mode = modes[0] if n is None else next(m for m in modes if counts[m] == n)
    # a dict handed to the function (or spread into it) is all parameters; otherwise (globals, attributes,
    # a dict such as globals() that the function reads) the parameters are found among what its code names
    discover = names is None and not (holder.is_dict and mode != "data")
    if discover:
        refs = _referenced(fn)
        candidates = {k: v for k, v in candidates.items() if refs is None or k in refs} or candidates  # (a closure)
    originals = dict(candidates)
    contents = {k: np.array(v, copy=True) for k, v in originals.items()}
    if isinstance(holder.where, types.ModuleType):
        holder.carried = _carried(fn, holder.where, saved_bindings)

    def call(param_names):
        if mode == "data":
            return fn(*data)
        if mode == "holder":
            return fn(holder.where, *data)
        return fn(*[holder.get(k) for k in param_names], *data)

    positions = None  # where each parameter's gradient is among the returned values (None: the first ones)
    try:
        if discover:
            _, grads = _returned(call(list(candidates)), where)
            returned = None if isinstance(grads, Mapping) else _returned_names(fn, len(grads))
            names, positions = _discover(candidates, grads, where, returned)
            for k, v in contents.items():  # the discovery call may have changed state
                originals[k][...] = v
        elif names is None:
            names = list(candidates)
        layout = Layout(tuple(names), tuple(originals[n].shape for n in names))
        dtype = np.result_type(*[originals[n] for n in names])
        theta0 = layout.flatten({n: originals[n] for n in names}, dtype=dtype)

        def load(theta):
            for n, block in layout.unflatten(theta).items():
                held = originals[n]
                if held.flags.writeable and np.can_cast(block.dtype, held.dtype, "same_kind"):
                    held[...] = block
                    if holder.get(n) is not held:
                        holder.set(n, held)
                else:
                    holder.set(n, block.copy())

        def cost(theta):
            load(theta)
            return _returned(call(names), where)[0]

        def grad(theta):
            load(theta)
            _, grads = _returned(call(names), where)
            if not isinstance(grads, Mapping):
                if positions is not None and len(grads) > positions[-1]:
                    grads = [grads[i] for i in positions]  # paired by name: other values are not gradients
                elif len(grads) > len(names):
                    grads = list(grads[: len(names)])  # extra values (the next hidden state) are not gradients
            return layout.flatten_gradients(grads, ("d", ""), what=f"{where}'s gradient")

        return check_gradient_with(cost, theta0, grad, opts.replace(layout=layout, args=()).for_python_cost())
    finally:
        for k, v in contents.items():
            if originals[k].flags.writeable:
                originals[k][...] = v
        for k, v in saved_bindings.items():
            if not holder.is_dict or k in candidates:
                holder.set(k, v)
        if holder.is_dict:
            for k in [k for k in holder.where if k not in saved_bindings]:
                del holder.where[k]


def _returns_loss_alone(fn, obj, data) -> bool:
    """Whether ``fn(*data)`` returns a bare number (its gradients, if any, left in ``obj``); obj is put back."""
    if isinstance(obj, (Mapping, types.ModuleType)) or not hasattr(obj, "__dict__"):
        return False
    state = LayerState(obj, type(obj).__name__)
    try:
        out = fn(*data)
    except TypeError:
        return False                       # another calling convention: the usual path says what fits
    finally:
        state.restore()
    return not isinstance(out, (tuple, list, Mapping)) and np.ndim(out) == 0


def _check_kept(fn, obj, data: tuple, names, opts: CheckOptions, where: str) -> CheckResult:
    """``fn(*data) -> loss`` with the gradients left next to ``obj``'s parameters (see the module's doc)."""
    state = LayerState(obj, type(obj).__name__)
    try:
        fn(*data)
        found = state.discover()
        state.restore()
        if names is not None:
            names = [names] if isinstance(names, str) else list(names)
            missing = [n for n in names if n not in found]
            if missing:
                raise GradientMismatchError(f"{where}: {missing} have no gradient next to them in "
                                            f"{type(obj).__name__} (found: {found})")
            state.names = names
        elif not found:
            raise GradientMismatchError(
                f"{where} returned the loss alone, and {type(obj).__name__} holds no gradient next to a parameter "
                "(W with dW, d_W, W_grad, grad_W or W_diff): return (loss, *grads), or keep them there")
        names = state.names
        layout = Layout(tuple(names), tuple(state.originals[n].shape for n in names))
        theta0 = layout.flatten({n: state.originals[n] for n in names},
                                dtype=np.result_type(*[state.originals[n] for n in names]))

        def cost(theta):
            state.load(layout.unflatten(theta))
            return as_scalar(fn(*data), where=where, complex_ok=np.iscomplexobj(theta))

        def grad(theta):
            state.load(layout.unflatten(theta))
            state.zero_gradients()
            fn(*data)
            return layout.flatten_gradients(state.gradients(), what=f"{where}'s gradient")

        return check_gradient_with(cost, theta0, grad, opts.replace(layout=layout, args=()).for_python_cost())
    finally:
        state.restore()


@takes_options(specific={"names": None}, extra_docs=_NAMES_DOC)
def check_loss(fn: Callable, params: Mapping[str, ArrayLike] | object, *data: object,
               opts: CheckOptions) -> CheckResult:
    """Check ``fn(*data) -> (loss, *grads)`` whose parameters live in ``params``.

    Parameters
    ----------
    fn : callable
        Returns ``(loss, *grads)`` in the parameters' order (extra trailing values ignored),
        ``(loss, [grads])`` or ``(loss, {"d" + name: grad})``.  It reads the parameters from
        ``params`` itself, or takes them first: ``fn(params, *data)`` or ``fn(*arrays, *data)``.
    params : dict, object or module
        Holds the parameters (entries, attributes or globals); written in place during the check and
        restored afterwards, also on error.  When ``fn`` returns the loss alone, the gradients are read
        from ``params`` next to the parameters (``dW``, ``W_grad``, ``W_diff``…).
    *data
        The function's other arguments (or ``args=``), never modified.

    See :mod:`fastcheck.inputs.lossfun` for how the parameters are found (``names=`` to say).
    """
    if data and opts.args:
        raise ValueError("check_loss: give the data positionally or as args=, not both")
    where = getattr(fn, "__name__", type(fn).__name__)
    data = tuple(data) or opts.args
    if _returns_loss_alone(fn, params, data):
        return _check_kept(fn, params, data, opts["names"], opts, where)
    return _check(fn, _Holder(params), data, opts["names"], opts, where)


@takes_options(specific={"names": None}, extra_docs=_NAMES_DOC)
def check_module(module: types.ModuleType | str, name: str, *, opts: CheckOptions) -> CheckResult:
    """Check ``module.<name>(*args)`` (``lossFun``) whose parameters are globals of ``module``.

    ``check_module(rnn, "lossFun", args=(inputs, targets, hprev))``: the globals the function refers
    to whose shapes line up with the returned gradients are the parameters (or ``names=``); they
    are written in place and restored afterwards.
    """
    if not isinstance(name, str):
        raise TypeError(f"check_module takes the function's name, got {type(name).__name__}")
    fn = getattr(module, name, None)
    if not callable(fn):
        raise TypeError(f"{getattr(module, '__name__', module)!r} has no function {name!r}")
    return _check(fn, _Holder(module), opts.args, opts["names"], opts, name)
