"""What a check of a framework's operator shares, whatever the framework: :func:`check_op`.

A custom operator (a ``torch.autograd.Function``, a ``jax.custom_vjp``
function) is a layer: for an upstream gradient ``dout`` its backward rule
returns the vector–Jacobian products, exactly the gradients of

    φ(x₁, …, x_m) = Σ_outputs ⟨dout, op(x₁, …, x_m)⟩

so it is checked like :func:`fastcheck.check_layer` checks a NumPy layer:
the differentiated inputs are flattened into θ (one block each), φ is the
cost, and :func:`fastcheck.check_gradient` brings its error bars, kinks,
verdicts and evaluators.  The framework modules
(:mod:`fastcheck.inputs.torch_ops`, :mod:`fastcheck.inputs.jax_ops`) give
two things: a picklable ``forward(arrays) -> list of NumPy outputs`` that
evaluates the op at NumPy values of the blocks (no gradient tracking), and a
``vjp(douts) -> {block: NumPy gradient}`` at the checked point.

Everything stays in the op's dtype: θ is float32 when every block is, so
the steps and error bars are float32's; float16 (bfloat16) blocks make a
θ in that format, so every perturbed point is one the op computes at and
the steps, bars and bands come from its epsilon (2^-10, 2^-7), not from a
fixed step below its resolution; each ``dout`` is drawn in float64
and rounded to its output's dtype before the backward rule sees it, and φ
uses the very same rounded values, so the analytic side and the numerical
side differentiate the same function.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np

from fastcheck.checks.gradient import check_gradient_with
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.validate import is_low_precision
from fastcheck.errors import CostError, LayerError, PoolFallbackWarning

__all__ = ["ProjectedOp", "check_op", "draw_douts", "inner", "validate_n_douts"]

#: The dtypes a block may have besides the low-precision formats (θ is float32 or float64 then).
BLOCK_DTYPES = (np.float32, np.float64)


def block_dtype_ok(dtype) -> bool:
    """float32, float64, float16 or bfloat16 (ml_dtypes' NumPy type)."""
    return np.dtype(dtype) in BLOCK_DTYPES or is_low_precision(dtype)


def theta_dtype(blocks: dict, where: str):
    """θ's dtype: the blocks' common format.  float16 and bfloat16 blocks make a θ of that format (its steps,
    error bars and bands); they do not mix with other formats (the steps of one block would be rounded
    again by the op), and float32 with float64 makes float64."""
    dtypes = {n: np.dtype(b.dtype) for n, b in blocks.items()}
    low = sorted({t.name for t in dtypes.values() if is_low_precision(t)})
    if low and len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {t.name}" for n, t in dtypes.items())
        raise LayerError(f"{where}: the checked inputs are {listed}; a {low[0]} input is checked with inputs of "
                         f"its own format only (cast the others to {low[0]}, or leave them out of the check)")
    return next(iter(dtypes.values())) if low else np.result_type(*dtypes.values())


def inner(douts, outs) -> float:
    """Σ ⟨dout, out⟩ over the outputs, accumulated in float64.

    A product and NumPy's pairwise sum, not ``np.dot``: BLAS would start its own threads for a large output
    (beside the framework's threads, in the user's process), which on a busy machine costs far more than
    the sum.
    """
    total = 0.0
    for d, o in zip(douts, outs):
        total = total + float(np.sum(d * np.asarray(o, dtype=np.float64)))
    return total


def validate_n_douts(n_douts, dout) -> int:
    if isinstance(n_douts, bool) or not isinstance(n_douts, (int, np.integer)) or n_douts < 1:
        raise LayerError(f"n_douts must be a positive integer, got {n_douts!r}")
    if dout is not None and n_douts != 1:
        raise LayerError("give dout or n_douts > 1, not both")
    return int(n_douts)


def draw_douts(outs, dout, n_douts: int, seed) -> list:
    """One list of upstream gradients (one per output, float64 holding values of the output's dtype) per draw.

    ``dout``: the user's (one array per output, NumPy arrays here), else drawn from a standard normal
    seeded by ``seed``.
    """
    dtypes = [np.asarray(o).dtype for o in outs]
    if dout is None:
        rng = np.random.default_rng(seed)
        return [[rng.standard_normal(np.shape(o)).astype(t).astype(np.float64) for o, t in zip(outs, dtypes)]
                for _ in range(n_douts)]
    given = list(dout) if isinstance(dout, (tuple, list)) else [dout]
    if len(given) != len(outs):
        raise LayerError(f"dout has {len(given)} array(s) but the op returns {len(outs)} floating output(s)")
    douts = []
    for i, (d, o, t) in enumerate(zip(given, outs, dtypes)):
        d = np.asarray(d)
        if d.shape != np.shape(o):
            raise LayerError(f"dout for output {i} has shape {d.shape}, the output has shape {np.shape(o)}")
        if not np.issubdtype(d.dtype, np.floating) or not np.all(np.isfinite(d)):
            raise LayerError(f"dout for output {i} must be a finite float array")
        douts.append(d.astype(t).astype(np.float64))
    return [douts]


class ProjectedOp:
    """φ(θ) = Σₖ ⟨doutₖ, op(copyₖ of the blocks in θ)⟩, the unperturbed copies' terms reused.

    ``forward(arrays)`` gets one NumPy array per block (views of θ, in the blocks' dtypes) and returns the
    op's floating outputs as NumPy arrays; it must not keep or write to the arrays it is given.  A plain
    class, so that the process pool can pickle it (with the framework's forward).
    """

    def __init__(self, forward, layout, names, dtypes, draws, base, base_terms):
        self.forward, self.layout, self.names, self.dtypes = forward, layout, list(names), list(dtypes)
        self.draws, self.base, self.base_terms = draws, base, base_terms

    def blocks_k(self, arrays, k):
        many = len(self.draws) > 1
        return [np.asarray(arrays[n][k] if many else arrays[n], dtype=t) for n, t in zip(self.names, self.dtypes)]

    def __call__(self, theta):
        if np.iscomplexobj(theta):  # the framework's op takes real tensors: the complex step does not apply
            raise CostError("a framework op is evaluated on real tensors; the complex step does not apply")
        arrays = self.layout.unflatten(theta)
        total, computed = 0.0, False
        last = len(self.draws) - 1
        for k, douts in enumerate(self.draws):
            xs = self.blocks_k(arrays, k)
            # Every call runs one forward pass at least (the evaluators time φ(θ) to decide on a pool).
            if (computed or k < last) and all(np.array_equal(x, b) for x, b in zip(xs, self.base)):
                term = self.base_terms[k]
            else:
                outs = self.forward(xs)
                if len(outs) != len(douts):
                    raise LayerError(f"the op returned {len(outs)} floating output(s) here but {len(douts)} at the "
                                     "checked point")
                term = inner(douts, outs)
                computed = True
            total = total + term
        return total


def _travels(forward) -> bool:
    """True when ``forward`` survives the trip to a worker process (pickled by cloudpickle, unpickled);
    else a :class:`PoolFallbackWarning` says why the check runs serially.

    Some framework objects pickle but do not unpickle (a ``jax.custom_vjp`` function defined in a closure):
    the pool would fail in its workers, so the round trip is tried here first.
    """
    import cloudpickle

    try:
        pickle.loads(cloudpickle.dumps(forward))
    except Exception as exc:  # noqa: BLE001 - whatever stops the op travelling
        line = (str(exc).strip().splitlines() or [""])[0][:160]
        warnings.warn(f"serial loop: the op cannot be sent to worker processes ({type(exc).__name__}: {line})",
                      PoolFallbackWarning, stacklevel=4)
        return False
    return True


def check_op(forward, vjp, blocks: dict, opts: CheckOptions, where: str) -> CheckResult:
    """Check an op's VJP on every block of ``blocks`` ({name: NumPy array in the op's dtype}).

    ``forward(list of arrays) -> list of NumPy outputs``; ``vjp(douts) -> {name: gradient}`` at the
    blocks' values, ``douts`` one array per output in that output's dtype.
    """
    names = list(blocks)
    for n in names:
        if not block_dtype_ok(blocks[n].dtype):
            raise LayerError(f"{where}: block {n!r} is {blocks[n].dtype}; float64, float32, float16 and bfloat16 "
                             "can be checked")
        if blocks[n].size == 0:
            raise LayerError(f"{where}: block {n!r} is empty")
        if not np.all(np.isfinite(blocks[n].astype(np.float64))):
            raise LayerError(f"{where}: block {n!r} contains NaN or inf")
    dtypes = [blocks[n].dtype for n in names]
    base = [blocks[n] for n in names]
    outs = forward([b.copy() for b in base])
    if not outs:
        raise LayerError(f"{where}: the op returned no floating output")
    dout, seed = opts["dout"], opts.seed
    draws = draw_douts(outs, dout, validate_n_douts(opts["n_douts"], dout), seed)
    k = len(draws)
    grads = []
    for douts in draws:
        got = vjp([d.astype(np.asarray(o).dtype) for d, o in zip(douts, outs)])
        grads.append({n: np.asarray(got[n], dtype=np.float64).reshape(blocks[n].shape) for n in names})
    layout = Layout(tuple(names), tuple(((k,) if k > 1 else ()) + blocks[n].shape for n in names))
    dtype = theta_dtype(blocks, where)
    theta = layout.flatten({n: (np.stack([blocks[n]] * k) if k > 1 else blocks[n]) for n in names}, dtype=dtype)
    grad = layout.flatten({n: (np.stack([g[n] for g in grads]) if k > 1 else grads[0][n]) for n in names})
    base_terms = [inner(douts, outs) for douts in draws]
    phi = ProjectedOp(forward, layout, names, dtypes, draws, base, base_terms)
    checked = opts.own_layout(where, layout).for_python_cost()
    if checked.client is None and checked.workers != 1 and not _travels(forward):
        checked = checked.replace(workers=1)
    with warnings.catch_warnings():
        # float32 (float16, bfloat16) is the op's own precision here, not a choice to advise against: its
        # error bars apply
        warnings.filterwarnings("ignore", message="theta is (float32|float16|bfloat16)")
        return check_gradient_with(phi, theta, grad, checked)
