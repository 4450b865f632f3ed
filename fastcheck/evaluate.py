"""Evaluators: how the perturbed costs of a check get computed.

An evaluator turns (θ, coordinates, steps, stencil offsets) into a matrix of
costs.  The core checker never cares which one runs:

* :class:`JitEvaluator` hands a Numba-jitted cost to the parallel kernels
  of :mod:`fastcheck.kernels.stencil`;
* :class:`LoopEvaluator` runs any Python callable in a plain loop that
  computes the same points, so a user's NumPy network just works;
* model-specific evaluators (the structure-aware kernel of the built-in
  networks) implement the same methods.
"""
from __future__ import annotations

import types
import warnings

import numba
import numpy as np

from . import config
from .kernels import stencil


class CostError(ValueError):
    """The cost function returned something that is not a finite scalar."""


def as_scalar(value, *, where: str = "at theta", complex_ok: bool = False):
    """The cost's value as a Python scalar; a clear error if it is not one."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise CostError(f"cost must return a scalar, but {where} it returned an array of shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CostError(f"cost must return a number, but {where} it returned {type(value).__name__}")
    if np.iscomplexobj(arr) and not complex_ok:
        raise CostError(f"cost returned a complex value {where}; pass a real cost, or use scheme='complex'")
    return arr.reshape(()).item()


def complex_dtype(dtype):
    """complex64 for float32 θ (the complex step then works in θ's precision), else complex128."""
    return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128


class LoopEvaluator:
    """Evaluates a Python callable point by point (one thread)."""

    path = "loop"
    note = ""

    def __init__(self, cost, args=()):
        self.cost = cost
        self.args = tuple(args)

    @property
    def threads(self) -> int:
        return 1

    def value(self, theta) -> float:
        return as_scalar(self.cost(theta.copy(), *self.args))

    def prepare(self, theta, kind: str) -> None:
        """Compile whatever ``kind`` ("stencil", "complex", "directions") needs,
        so that compilation stays out of a check's timing.  Nothing to do here."""

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        out = np.empty((len(coords), len(offsets)))
        work = theta.copy()
        for j, i in enumerate(coords):
            x = theta[i]
            for k, c in enumerate(offsets):
                work[i] = x + c * steps[j]
                v = self.cost(work, *self.args)
                # a Python or NumPy float needs no checking (and no message built for it)
                out[j, k] = v if isinstance(v, float) else as_scalar(v, where=f"theta[{i}] {c:+g}·h")
            work[i] = x
        return out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        out = np.empty(len(coords))
        work = theta.astype(complex_dtype(theta.dtype))
        for j, i in enumerate(coords):
            x = work[i]
            work[i] = x + 1j * steps[j]
            v = self.cost(work, *self.args)
            out[j] = np.imag(as_scalar(v, where=f"theta[{i}] + i·h", complex_ok=True))
            work[i] = x
        return out

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        """Costs along directions stored ragged (see ``kernels.stencil.direction_costs``)."""
        out = np.empty((len(lo), len(offsets)))
        work = theta.copy()
        for d in range(len(lo)):
            a, u = lo[d], dirvals[start[d] : start[d + 1]]
            for k, c in enumerate(offsets):
                work[a : a + len(u)] = theta[a : a + len(u)] + (c * steps[d]) * u
                out[d, k] = as_scalar(self.cost(work, *self.args), where=f"direction {d}")
            work[a : a + len(u)] = theta[a : a + len(u)]
        return out


class JitEvaluator(LoopEvaluator):
    """Evaluates a Numba-jitted cost on the parallel kernels, all cores.

    BLAS is held to one thread while a kernel runs, so that a cost calling
    ``@``/``np.dot`` does not start a BLAS pool inside every Numba thread.
    """

    path = "parallel"
    #: Checks on this evaluator hold BLAS to one thread throughout (see :func:`fastcheck.check.held_blas`).
    holds_blas = True

    def __init__(self, cost, args=(), threads=None):
        super().__init__(cost, args)
        self._threads = threads

    @property
    def threads(self) -> int:
        return self._threads or config.num_threads()

    def prepare(self, theta, kind: str) -> None:
        # One coordinate / one length-1 direction: compiles the kernel for this
        # cost and signature (a no-op once compiled).
        one, idx = np.ones(1), np.zeros(1, np.int64)
        if kind == "complex":
            self.complex_step(theta, idx, one)
        elif kind == "directions":
            self.directions(theta, idx, np.array([0, 1], np.int64), one, one, one)
        else:
            self.stencil(theta, idx, one, one)

    def _run(self, kernel, *arrays):
        with config.threads(self._threads), config.single_threaded_blas():
            kernel(self.cost, *arrays)

    def stencil(self, theta, coords, steps, offsets):
        out = np.empty((len(coords), len(offsets)))
        self._run(stencil.stencil_costs, theta, coords, steps, np.asarray(offsets, np.float64), self.args, out)
        return out

    def complex_step(self, theta, coords, steps):
        out = np.empty(len(coords))
        self._run(stencil.complex_step_costs, theta.astype(complex_dtype(theta.dtype)), coords, steps, self.args, out)
        return out

    def directions(self, theta, lo, start, dirvals, steps, offsets):
        out = np.empty((len(lo), len(offsets)))
        offsets = np.asarray(offsets, np.float64)
        self._run(stencil.direction_costs, theta, lo, start, dirvals, steps, offsets, self.args, out)
        return out


def is_jitted(cost) -> bool:
    return numba.extending.is_jitted(cost)


#: ``jit="auto"`` compiles a plain Python cost only when at least this many
#: coordinates are checked: below it the loop finishes before Numba would.
AUTO_JIT_MIN_COORDS = 200


def try_jit(cost, theta, args):
    """``numba.njit(cost)`` if it compiles for these arguments and agrees with
    the Python cost at θ (to 1e-12 relative), else ``None`` and the reason."""
    if not isinstance(cost, types.FunctionType):
        return None, "not a plain Python function"
    try:
        jitted = numba.njit(cost)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = as_scalar(jitted(theta.copy(), *args))
    except Exception as exc:  # any failure to compile or run means: use the loop
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, f"Numba cannot compile it ({first[:120]})"
    want = as_scalar(cost(theta.copy(), *args))
    if not np.isclose(got, want, rtol=1e-12, atol=0.0):
        return None, f"its compiled value {got!r} differs from the Python value {want!r}"
    return jitted, ""


def make_evaluator(cost, args=(), *, threads=None, theta=None, jit="auto", n_coords=None, kind="stencil"):
    """The fastest evaluator that can run ``cost``.

    A Numba dispatcher goes to the parallel kernels; if Numba cannot compile
    the kernel for it (say, an argument it cannot type), a warning says so and
    the plain loop runs instead.  A plain Python function is compiled with
    ``numba.njit`` when ``jit`` is True, or when ``jit="auto"`` and at least
    :data:`AUTO_JIT_MIN_COORDS` coordinates are checked; if it does not
    compile (or disagrees with itself once compiled) the loop runs it, and
    the evaluator's ``note`` says why.  ``jit=False`` always loops.
    ``kind`` ("stencil" or "directions") is the kernel compiled up front.
    """
    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    if jit not in ("auto", True, False):
        raise ValueError(f"jit must be 'auto', True or False, got {jit!r}")
    note = ""
    if not is_jitted(cost) and theta is not None:
        wanted = jit is True or (jit == "auto" and (len(theta) if n_coords is None else n_coords) >= AUTO_JIT_MIN_COORDS)
        if wanted:
            jitted, why = try_jit(cost, theta, tuple(args))
            if jitted is None:
                note = f"plain loop: {why}"
            else:
                ev = _jit_evaluator(jitted, args, threads, theta, kind)
                if ev.path == "parallel":
                    ev.path = "parallel (auto-jit)"
                    ev.note = "compiled with numba.njit automatically"
                return ev
    if is_jitted(cost) and jit is not False:
        return _jit_evaluator(cost, args, threads, theta, kind)
    ev = LoopEvaluator(cost, args)
    ev.note = note
    return ev


def _jit_evaluator(cost, args, threads, theta, kind="stencil"):
    ev = JitEvaluator(cost, args, threads)
    if theta is not None:
        try:  # compile (or find) the kernel for this cost on a 1-coordinate problem
            ev.prepare(theta, kind)
        except (numba.core.errors.TypingError, numba.core.errors.UnsupportedError) as exc:
            first = str(exc).strip().splitlines()[0]
            warnings.warn(
                f"the jitted cost could not run in the parallel kernel ({first}); using the plain loop",
                RuntimeWarning,
                stacklevel=4,
            )
            loop = LoopEvaluator(cost, args)
            loop.note = f"plain loop: the parallel kernel did not compile ({first[:120]})"
            return loop
    return ev
