"""Checks of vector-valued functions: a layer's backward pass, and small Jacobians.

A layer ``out = f(x, w, b)`` with a hand-written backward pass returns, for an
upstream gradient ``dout``, the vector–Jacobian products ``dx = Jₓᵀ·dout`` (and
``dw``, ``db``).  They are exactly the gradients of the scalar

    φ(x, w, b) = ⟨dout, f(x, w, b)⟩

so a layer is checked like a cost: :func:`check_layer` flattens the inputs
into θ (one block per input, named as the input), builds φ and hands both to
:func:`fastcheck.check_gradient`, which brings its error bars, kinks,
verdicts and evaluators.  With ``n_douts = k`` the inputs are laid out k
times (block shape ``(k, *shape)``), one copy per drawn ``dout``, and
φ = Σₖ ⟨doutₖ, f(copyₖ)⟩; the unperturbed copies' terms are computed once,
so each perturbed point still costs one forward pass.

:func:`check_jacobian` checks every entry of a small Jacobian the same way:
m copies of x, φ = Σᵢ fᵢ(copyᵢ), so coordinate (i, j) of the one block
``"J"`` is ∂fᵢ/∂xⱼ, and each perturbed x is evaluated once for all outputs.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.gradient import check_gradient_with
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.randomness import reseeded
from fastcheck.errors import LayerError
from fastcheck.inputs.layer_objects import check_layer_object, is_layer_object

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike


# -- inputs, outputs, gradients ---------------------------------------------------------------------------
def _check_inputs(inputs) -> dict:
    """Copies of the inputs, validated: a non-empty dict of finite float arrays."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise LayerError(f"inputs must be a non-empty dict {{name: float array}}, got {type(inputs).__name__}")
    out = {}
    for name, value in inputs.items():
        if not isinstance(name, str):
            raise LayerError(f"input names must be strings, got {name!r}")
        a = np.asarray(value)
        if not np.issubdtype(a.dtype, np.floating):
            raise LayerError(f"input {name!r} must be a float array (float32 or float64), got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise LayerError(f"input {name!r} contains NaN or inf (first at {np.argwhere(~np.isfinite(a))[0].tolist()})")
        out[name] = np.array(a, copy=True)
    return out


def _split_forward(value, n_outputs=None):
    """``(outputs, cache, has_cache)`` from what a forward pass returned.

    An array is one output and no cache; a tuple is ``(out, cache)`` or
    ``(out_1, …, out_m, cache)``: the last element is the cache.
    """
    if isinstance(value, tuple):
        if len(value) < 2:
            raise LayerError(f"forward returned a tuple of {len(value)}; expected (out, cache) or (outs..., cache)")
        outs, cache, has_cache = list(value[:-1]), value[-1], True
    else:
        outs, cache, has_cache = [value], None, False
    for i, o in enumerate(outs):
        a = np.asarray(o) if isinstance(o, (np.ndarray, np.generic, float, int)) else None
        if a is None or not np.issubdtype(a.dtype, np.number):
            what = type(o).__name__ if a is None else f"an array of dtype {a.dtype}"
            raise LayerError(f"forward output {i} is {what}, not a numeric array")
    if n_outputs is not None and len(outs) != n_outputs:
        raise LayerError(f"forward returned {len(outs)} output(s) here but {n_outputs} at the checked point")
    return outs, cache, has_cache


def _inner(douts, outs) -> float:
    """⟨dout, out⟩ summed over the outputs, in float64 (also for complex outputs of the complex step)."""
    total = 0.0
    for d, o in zip(douts, outs):
        o = np.asarray(o)
        total = total + np.sum(d * (o if np.iscomplexobj(o) else o.astype(np.float64, copy=False)))
    return total


def _check_douts(dout, outs, n_douts, seed) -> list:
    """One list of upstream gradients (one per output) per draw."""
    shapes = [np.shape(o) for o in outs]
    if dout is None:
        rng = np.random.default_rng(seed)
        return [[rng.standard_normal(s) for s in shapes] for _ in range(n_douts)]
    given = list(dout) if isinstance(dout, (tuple, list)) else [dout]
    if len(given) != len(outs):
        raise LayerError(f"dout has {len(given)} array(s) but forward returns {len(outs)} output(s)")
    douts = []
    for i, (d, s) in enumerate(zip(given, shapes)):
        d = np.asarray(d)
        if d.shape != s:
            raise LayerError(f"dout for output {i} has shape {d.shape}, the output has shape {s}")
        if not np.issubdtype(d.dtype, np.floating) or not np.all(np.isfinite(d)):
            raise LayerError(f"dout for output {i} must be a finite float array")
        douts.append(np.array(d, dtype=np.float64, copy=True))
    return [douts]


def _grads_by_input(returned, inputs: dict) -> dict:
    """The backward pass's gradients as ``{input name: float64 array}``: one array, a tuple in the order of
    the inputs, or a dict keyed by the input names or by "d" + name (:meth:`Layout.flatten_gradients`)."""
    layout = Layout(tuple(inputs), tuple(x.shape for x in inputs.values()))
    parts = returned if isinstance(returned, (Mapping, tuple, list)) else [returned]
    return layout.unflatten(layout.flatten_gradients(parts, what="backward's gradient"))


# -- the scalar behind a layer check ---------------------------------------------------------------------------
class _ProjectedLayer:
    """φ(θ) = Σₖ ⟨doutₖ, f(copyₖ of the inputs in θ)⟩, with the unperturbed copies' terms reused.

    A plain class (not a closure) so that process pools can pickle it.
    """

    def __init__(self, forward, args, layout, names, douts, base, base_terms, n_outputs):
        self.forward, self.args, self.layout, self.names = forward, tuple(args), layout, names
        self.douts, self.base, self.base_terms, self.n_outputs = douts, base, base_terms, n_outputs

    def copy_k(self, arrays, k):
        return [arrays[n][k] if len(self.douts) > 1 else arrays[n] for n in self.names]

    def __call__(self, theta):
        arrays = self.layout.unflatten(theta)
        total = 0.0
        computed = False
        for k, douts in enumerate(self.douts):
            xs = self.copy_k(arrays, k)
            # An unperturbed copy reuses its term, except that every call runs one forward pass (the first copy's
            # at θ itself): the evaluators time φ(θ) to decide on a process pool, and must see its real cost.
            if (computed or k < len(self.douts) - 1) and all(np.array_equal(x, b) for x, b in zip(xs, self.base)):
                term = self.base_terms[k]
            else:  # the user's forward gets copies: θ stays untouched whatever it does
                outs, _, _ = _split_forward(self.forward(*[x.copy() for x in xs], *self.args), self.n_outputs)
                term = _inner(douts, outs)
                computed = True
            total = total + term
        return total


@takes_options(specific={"dout": None, "n_douts": 1}, extra_docs={
    "dout": "check_layer: the upstream gradient(s), one per output (default: drawn from a standard normal, seeded)",
    "n_douts": "check_layer: check against this many drawn dout at once (blocks get a leading axis of this length)"})
def check_layer(forward: Callable | object, backward: Callable | None = None,
                inputs: Mapping[str, ArrayLike] | None = None, *, opts: CheckOptions) -> CheckResult:
    """Check a layer's backward pass: the VJP of every input against ⟨dout, f⟩'s numerical gradient.

    ``check_layer(layer, X)``: a layer object with ``forward(X)`` and ``backward(dY)`` methods and its
    parameters and gradients in dicts or attributes (``+=`` accumulation handled, state restored; see
    :mod:`fastcheck.inputs.layer_objects`); blocks ``X`` and the parameters' names.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs.values(), *args)`` returning ``out``, ``(out,
        cache)`` or ``(out_1, …, out_m, cache)``.
    backward : callable
        ``backward(dout, cache)`` (``backward(dout_1, …, dout_m, cache)`` for
        several outputs; ``backward(dout)`` when forward returns no cache),
        returning one array (one input), a tuple in the order of ``inputs``,
        or a dict keyed by the input names or by ``"d" + name``.  Gradients
        may differ from their input's shape by singleton axes only (accepted
        with a :class:`ShapeNoteWarning`).
    inputs : dict of float arrays
        The differentiated inputs, ``{"x": x, "w": w, "b": b}``, in the order
        forward takes them; blocks of the result are named after them.

    The options are those of every check; ``args`` are further arguments of
    forward that are not differentiated (``conv_param``, ``bn_param``, a
    mask); ``dout`` (the upstream gradients, one per output; drawn from a
    standard normal with ``seed`` when not given) and ``n_douts`` (check
    against this many drawn ``dout`` at once: blocks get a leading axis of
    this length, coordinate ``[k, …]`` belonging to draw k) are this check's
    own.  The forward passes run on a process pool when that pays
    (``workers="auto"``), or on a Dask cluster with ``client=``.

    Returns
    -------
    CheckResult
        Blocks named after the inputs.

    Nothing passed in is modified: forward and backward get copies of the
    inputs, ``dout`` and ``cache`` (a backward pass that writes into its
    ``dout`` or cache changes only the copies).
    """
    if inputs is None and is_layer_object(forward) and backward is not None:
        return check_layer_object(forward, backward, opts)
    if not callable(forward) or not callable(backward):
        raise LayerError("forward and backward must be callable (or check_layer(layer, X) for a layer object with "
                         "forward and backward methods)")
    if inputs is None:
        raise LayerError("check_layer(forward, backward, inputs): inputs is missing")
    dout, n_douts, seed, args = opts["dout"], opts["n_douts"], opts.seed, opts.args
    if isinstance(n_douts, bool) or not isinstance(n_douts, (int, np.integer)) or n_douts < 1:
        raise LayerError(f"n_douts must be a positive integer, got {n_douts!r}")
    if dout is not None and n_douts != 1:
        raise LayerError("give dout or n_douts > 1, not both")
    xs = _check_inputs(inputs)
    names = list(xs)

    def analytic_pass():
        """forward and backward at the checked point, under the same reseed as every perturbed cost."""
        outs, cache, has_cache = _split_forward(forward(*[x.copy() for x in xs.values()], *args))
        draws = _check_douts(dout, outs, int(n_douts), seed)
        grads = []
        for douts in draws:
            call = [d.copy() for d in douts] + ([copy.deepcopy(cache)] if has_cache else [])
            grads.append(_grads_by_input(backward(*call), xs))
        return outs, draws, grads

    outs, draws, grads = reseeded(analytic_pass, opts.reseed)()
    k = len(draws)
    dtype = np.result_type(*[x.dtype for x in xs.values()])
    shapes = [((k,) if k > 1 else ()) + xs[n].shape for n in names]
    layout = Layout(tuple(names), tuple(shapes))
    theta = layout.flatten({n: (np.stack([xs[n]] * k) if k > 1 else xs[n]) for n in names}, dtype=dtype)
    grad = layout.flatten({n: (np.stack([g[n] for g in grads]) if k > 1 else grads[0][n]) for n in names})
    base = [xs[n] for n in names]
    base_terms = [_inner(douts, outs) for douts in draws]
    phi = _ProjectedLayer(forward, args, layout, names, draws, base, base_terms, len(outs))
    checked = opts.own_layout("check_layer", layout).for_python_cost().replace(args=())
    return check_gradient_with(phi, theta, grad, checked)


# -- Jacobians ----------------------------------------------------------------------------------------------
class _JacobianRows:
    """φ(θ) = Σᵢ fᵢ(copyᵢ of x in θ): its gradient on copy i is row i of the Jacobian.

    Every distinct x is evaluated once (the m copies perturbed at one
    coordinate by one step are the same point), remembered by its bytes.
    """

    def __init__(self, fn, args, shape, m, base, base_out, memo_limit):
        self.fn, self.args, self.shape, self.m = fn, tuple(args), shape, m
        self.base, self.memo = base, {self.key(base): base_out}
        self.memo_limit = memo_limit

    @staticmethod
    def key(x) -> bytes:
        return x.tobytes() + str(x.dtype).encode()

    def outputs(self, x):
        key = self.key(x)
        out = self.memo.get(key)
        if out is None:
            out = np.ravel(np.asarray(self.fn(x.reshape(self.shape).copy(), *self.args)))
            if out.size != self.m:
                raise LayerError(f"fn returned {out.size} values here but {self.m} at the checked point")
            if len(self.memo) < self.memo_limit:
                self.memo[key] = out
        return out

    def __call__(self, theta):
        rows = theta.reshape(self.m, -1)
        if all(np.array_equal(r, self.base) for r in rows):
            # φ(θ) itself: evaluated for real (the evaluators time this call to decide on a process pool)
            out = np.ravel(np.asarray(self.fn(self.base.reshape(self.shape).copy(), *self.args)))
            return sum((out[i] for i in range(1, self.m)), out[0])
        total = 0.0
        for i in range(self.m):
            total = total + self.outputs(rows[i])[i]
        return total


@takes_options()
def check_jacobian(fn: Callable[..., ArrayLike], x: ArrayLike, jac: Callable[..., ArrayLike], *,
                   opts: CheckOptions) -> CheckResult:
    """Check every entry of the Jacobian of a small vector-valued function.

    Parameters
    ----------
    fn : callable
        ``fn(x, *args)`` returning an array of m values (any shape; raveled).
    x : float array
        The point (any shape; raveled in C order); not modified.
    jac : array or callable
        The analytic Jacobian, ``(m, n)`` or ``out.shape + x.shape``, or
        ``jac(x, *args)`` returning one.

    The options are those of every check (``args``: further arguments of
    ``fn``); ``coords`` index the m × n entries in row-major order.

    Returns
    -------
    CheckResult
        One block ``"J"`` of shape (m, n): a coordinate's index is
        (output index, input index), so ``result.worst()`` names the worst
        entries the way ``torch.autograd.gradcheck`` reports a mismatch.
    """
    if not callable(fn):
        raise LayerError("fn must be callable")
    args = opts.args
    x = _check_inputs({"x": x})["x"]
    shape, n = x.shape, x.size
    out = np.asarray(reseeded(fn, opts.reseed)(x.copy(), *args))  # as every perturbed evaluation sees it
    if not np.issubdtype(out.dtype, np.number) or out.size == 0:
        raise LayerError(f"fn must return a non-empty numeric array, got {type(out).__name__} of dtype {out.dtype}")
    m = out.size
    J = np.asarray(reseeded(jac, opts.reseed)(x.copy(), *args) if callable(jac) else jac)
    if J.shape not in ((m, n), out.shape + shape):
        raise LayerError(f"jac has shape {J.shape}; expected ({m}, {n}) or {out.shape + shape}")
    if not np.issubdtype(J.dtype, np.number):
        raise LayerError(f"jac must be a numeric array, got dtype {J.dtype}")
    layout = Layout(("J",), ((m, n),))
    J = layout.flatten_gradients([J.reshape(m, n)], what="jac")  # refuses a complex Jacobian
    theta = np.tile(x.ravel(), m)
    rows = _JacobianRows(fn, args, shape, m, x.ravel().copy(), np.ravel(out).copy(), memo_limit=8 * n + 8)
    checked = opts.own_layout("check_jacobian", layout).for_python_cost().replace(args=())
    return check_gradient_with(rows, theta, J.ravel(), checked)
