"""Check a JAX function's derivative rules: :func:`check_jax`.

``check_jax(f, x, w)`` checks, for a function with ``jax.custom_vjp`` or
``jax.custom_jvp`` rules (or any differentiable JAX function), the VJP that
``jax.vjp`` computes for every floating array argument (or those in
``argnums=``; blocks ``input0``, ``input1``, … by position) against the
numerical gradient of ⟨dout, f(…)⟩ (:mod:`fastcheck.inputs.frameworks`).
``jax.vjp`` of a ``custom_jvp`` function transposes the JVP rule, so a wrong
JVP rule shows there too.

The function runs in the dtype JAX gives the arguments (float32 unless
``jax_enable_x64`` is on, whatever NumPy dtype was passed): float32 makes a
float32 θ with float32's steps and error bars; float16 and bfloat16
arguments make a θ of that format, with steps and bars from its epsilon
(2^-10 and 2^-7: a central step of about 0.1 and 0.2 of max(1, |x|), where
a fixed step of 1e-4 would not move x at all).  The forward passes of the
check run ``jax.jit(f)`` (compiled once per process, each pool worker
compiling its own).  jax is imported only when :func:`check_jax` is called.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.result import CheckResult
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.validate import is_low_precision
from fastcheck.errors import LayerError
from fastcheck.inputs.frameworks import check_op

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

__all__ = ["JaxForward", "check_jax", "import_jax"]


def import_jax():
    try:
        import jax
    except ImportError:
        raise ImportError("check_jax needs JAX: pip install 'fastcheck[jax]' (or jax itself)") from None
    return jax


def _floating(dtype) -> bool:
    """A NumPy floating dtype, or bfloat16 (ml_dtypes' type, which NumPy does not count as floating)."""
    return np.issubdtype(np.dtype(dtype), np.floating) or is_low_precision(dtype)


def _outputs(value) -> list:
    """The function's outputs as a list of floating arrays (one array, or a tuple/list of them)."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    outs = []
    for i, v in enumerate(items):
        dtype = getattr(v, "dtype", None)
        if dtype is None or not _floating(dtype):
            raise LayerError(f"output {i} is {type(v).__name__}{'' if dtype is None else f' of dtype {dtype}'}; "
                             "check_jax takes functions returning a floating array or a tuple of them")
        outs.append(v)
    return outs


class JaxForward:
    """``f`` at NumPy values of its checked arguments, compiled with ``jax.jit``: ``forward(arrays) -> outputs``.

    ``args``: the function's arguments (the checked ones replaced at every call, at positions ``argnums``);
    ``single``: the function returns one array rather than a tuple.  Pickled without the compiled function
    (a worker compiles its own).
    """

    def __init__(self, fn, args, argnums, dtypes, single):
        self.fn, self.args, self.argnums, self.dtypes, self.single = fn, list(args), list(argnums), dtypes, single
        self.jitted = None

    def __getstate__(self):
        return {**self.__dict__, "jitted": None}

    def full_args(self, values):
        args = list(self.args)
        for i, v in zip(self.argnums, values):
            args[i] = v
        return args

    def __call__(self, arrays) -> list:
        jax = import_jax()
        if self.jitted is None:
            self.jitted = jax.jit(self.fn)
        values = [jax.numpy.asarray(a, dtype=t) for a, t in zip(arrays, self.dtypes)]
        return [np.asarray(o) for o in _outputs(self.jitted(*self.full_args(values)))]

    def vjp(self, arrays, douts) -> list:
        """The VJPs of every checked argument by ``jax.vjp`` (the function's derivative rules)."""
        jax = import_jax()
        values = [jax.numpy.asarray(a, dtype=t) for a, t in zip(arrays, self.dtypes)]
        out, pullback = jax.vjp(lambda *vs: self.fn(*self.full_args(vs)), *values)
        outs = _outputs(out)
        cot = [jax.numpy.asarray(d, dtype=o.dtype) for d, o in zip(douts, outs)]
        grads = pullback(cot[0] if self.single else type(out)(cot))
        return [np.asarray(g, dtype=np.float64) for g in grads]


@takes_options(specific={"dout": None, "n_douts": 1, "argnums": None}, extra_docs={
    "argnums": "check_jax: the positions of the arguments to check (default: every floating array)"})
def check_jax(fn: Callable, *inputs: object, opts: CheckOptions) -> CheckResult:
    """Check a JAX function's VJP (its ``custom_vjp``/``custom_jvp`` rules) on its floating array arguments.

    Parameters
    ----------
    fn : callable
        ``fn(*args)`` returning a floating array or a tuple of them, built
        from JAX operations (``jax.jit``-able).
    *inputs
        Its arguments: arrays (NumPy or JAX) are differentiated, blocks
        ``input0``, ``input1``, … by position (``argnums=`` picks some);
        anything else is passed as it is.

    The options are those of every check (``args`` does not apply: the
    arguments are given positionally); ``dout``/``n_douts`` as in
    :func:`fastcheck.check_layer`; ``argnums`` an int or a sequence of
    positions to check.

    Returns
    -------
    CheckResult
        Blocks named ``input<position>``.
    """
    jax = import_jax()
    if not callable(fn):
        raise LayerError(f"fn must be callable, got {type(fn).__name__}")
    if opts.args:
        raise LayerError("check_jax passes the arguments to fn as given: put every argument in *inputs "
                         "(args= does not apply)")
    args = list(inputs)
    arrayish = [i for i, a in enumerate(args) if isinstance(a, (np.ndarray, jax.Array)) and _floating(a.dtype)]
    argnums = opts["argnums"]
    if argnums is None:
        argnums = arrayish
    else:
        argnums = [argnums] if isinstance(argnums, (int, np.integer)) else list(argnums)
        for i in argnums:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(args):
                raise LayerError(f"argnums: {i!r} is not the position of an argument (0 to {len(args) - 1})")
            if i not in arrayish:
                raise LayerError(f"argnums: argument {i} is not a floating array")
    if not argnums:
        raise LayerError("check_jax: no floating array argument to check")
    blocks, dtypes = {}, []
    for i in argnums:
        value = jax.numpy.asarray(args[i])  # the dtype JAX computes in (float32 unless x64 is enabled)
        if value.dtype not in (np.float32, np.float64) and not is_low_precision(value.dtype):
            raise LayerError(f"input {i} is {value.dtype}: float64, float32, float16 and bfloat16 functions can "
                             "be checked")
        blocks[f"input{i}"] = np.array(value, copy=True)
        dtypes.append(value.dtype)
    single = not isinstance(fn(*args), (tuple, list))
    forward = JaxForward(fn, args, argnums, dtypes, single)
    base = [blocks[n] for n in blocks]
    names = list(blocks)

    def vjp(douts):
        return dict(zip(names, forward.vjp(base, douts)))

    return check_op(forward, vjp, blocks, opts, "check_jax")
