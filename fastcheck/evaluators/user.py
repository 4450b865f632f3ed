"""Evaluators: how the perturbed costs of a check get computed.

An evaluator turns (θ, coordinates, steps, stencil offsets) into a matrix of
costs.  Every evaluator is an :class:`Evaluator`: the core checker talks to
that protocol only, and reads what an evaluator can do from its capability
attributes, never from its type:

* :class:`JitEvaluator` hands a Numba-jitted cost to the parallel kernels
  of :mod:`fastcheck.kernels.stencil`;
* :class:`LoopEvaluator` runs any Python callable in a plain loop that
  computes the same points, so a user's NumPy network just works;
* :class:`fastcheck.evaluators.pool.ChunkedEvaluator` runs that loop's chunks on
  worker processes or a Dask cluster (bitwise the same numbers);
* :class:`fastcheck.evaluators.sequential.SequentialEvaluator` reruns only the stages
  after the perturbed one;
* :class:`fastcheck.evaluators.structured.LayeredEvaluator`, the structure-aware kernel
  of the built-in networks.
"""
from __future__ import annotations

import time
import types
import warnings

import numba
import numpy as np

from fastcheck import config
from fastcheck.errors import CostError, JitError
from fastcheck.evaluators import compiled
from fastcheck.evaluators.protocol import Evaluator
from fastcheck.kernels import stencil

__all__ = ["Evaluator", "JitEvaluator", "LoopEvaluator", "make_evaluator"]


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


class _UserCost(Evaluator):
    """An evaluator of a user's ``cost(theta, *args)``."""

    has_complex_step = True
    has_directions = True
    calls_user_cost = True

    def __init__(self, cost, args=()):
        self.cost = cost
        self.args = tuple(args)
        self.eval_seconds = float("inf")

    def value(self, theta) -> float:
        work = theta.copy()
        t0 = time.perf_counter()
        v = as_scalar(self.cost(work, *self.args))
        self.eval_seconds = min(self.eval_seconds, time.perf_counter() - t0)
        changed = np.flatnonzero(work != theta)
        if len(changed):
            raise CostError(
                f"the cost modified its theta argument in place (at {len(changed)} coordinate(s), first "
                f"{changed[:5].tolist()}): the checker hands it perturbed copies, so the differences would be "
                "wrong; copy theta inside the cost before changing it"
            )
        return v


class LoopEvaluator(_UserCost):
    """Evaluates a Python callable point by point (one thread)."""

    path = "loop"

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        out = np.empty((len(coords), len(offsets)))
        work = theta.copy()
        cost, args = self.cost, self.args
        offsets = np.asarray(offsets, np.float64).tolist()
        steps = np.asarray(steps, np.float64).tolist()
        # Python floats hold the same doubles as NumPy's scalars and add and
        # multiply them the same way, at a fraction of the overhead per point.
        for j, i in enumerate(np.asarray(coords).tolist()):
            x, h = float(work[i]), steps[j]  # x + c·h in double, then stored in θ's dtype
            row = out[j]
            for k, c in enumerate(offsets):
                work[i] = x + c * h
                v = cost(work, *args)
                row[k] = v if type(v) is float or type(v) is np.float64 else as_scalar(v, where=f"theta[{i}] {c:+g}·h")
            work[i] = x
        return out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        out = np.empty(len(coords))
        work = theta.astype(complex_dtype(theta.dtype))
        for j, i in enumerate(coords):
            x = work[i]
            work[i] = x + 1j * steps[j]
            v = self.cost(work, *self.args)
            _require_complex_value(v, f"at theta[{i}] + i·h")
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


class JitEvaluator(_UserCost):
    """Evaluates a Numba-jitted cost on the parallel kernels, all cores.

    BLAS is held to one thread while a kernel runs, so that a cost calling
    ``@``/``np.dot`` does not start a BLAS pool inside every Numba thread.
    """

    path = "parallel"
    #: Checks on this evaluator hold BLAS to one thread throughout (see :func:`fastcheck.checks.gradient.held_blas`).
    holds_blas = True

    def __init__(self, cost, args=(), threads=None):
        super().__init__(cost, args)
        self._threads = threads

    @property
    def threads(self) -> int:
        return self._threads or config.num_threads()

    def prepare(self, theta, kind: str) -> None:
        # One coordinate / one length-1 direction: compiles the kernel for this
        # cost and signature (a no-op once compiled).  The step is 0: the cost
        # is evaluated at θ itself, never at a point the check would not visit.
        # The time goes to ``compile_seconds`` when something was compiled.
        before = _n_signatures(self.cost)
        t0 = time.perf_counter()
        one, zero, idx = np.ones(1), np.zeros(1), np.zeros(1, np.int64)
        if kind == "complex":
            self.complex_step(theta, idx, zero)
        elif kind == "directions":
            self.directions(theta, idx, np.array([0, 1], np.int64), one, zero, one)
        else:
            self.stencil(theta, idx, zero, one)
        if _n_signatures(self.cost) != before:
            self.compile_seconds += time.perf_counter() - t0

    def _run(self, kernel, *arrays, replay=None):
        """Run ``kernel(cost, *arrays, failed)``; if the cost raised anywhere, raise the user's exception.

        ``replay(rows)`` re-computes the flagged rows from Python (the plain
        loop), where the jitted cost's own exception comes out with its type
        and message (see :mod:`fastcheck.kernels.stencil`).
        """
        failed = np.zeros(arrays[-1].shape[0], np.bool_)
        with config.threads(self._threads), config.single_threaded_blas():
            kernel(self.cost, *arrays, failed)
        if failed.any():
            rows = np.flatnonzero(failed)
            if replay is not None:
                replay(rows)
            raise CostError(
                f"the jitted cost raised an exception inside the parallel kernel at {len(rows)} point(s)"
                + (" but not when the same points were evaluated again from Python (is it deterministic?)"
                   if replay is not None else "; run with jit=False to see it")
            )

    def stencil(self, theta, coords, steps, offsets):
        out = np.empty((len(coords), len(offsets)))
        offsets = np.asarray(offsets, np.float64)
        self._run(stencil.stencil_costs, theta, coords, steps, offsets, self.args, out,
                  replay=lambda r: LoopEvaluator.stencil(self, theta, coords[r], steps[r], offsets))
        return out

    def complex_step(self, theta, coords, steps):
        self._require_complex(theta)
        out = np.empty(len(coords))
        self._run(stencil.complex_step_costs, theta.astype(complex_dtype(theta.dtype)), coords, steps, self.args, out,
                  replay=lambda r: LoopEvaluator.complex_step(self, theta, coords[r], steps[r]))
        return out

    def _require_complex(self, theta) -> None:
        """One evaluation at complex θ from Python: a cost Numba cannot type for
        complex input, or one that returns a real value, gets a one-line error."""
        if getattr(self, "_complex_ok", False):
            return
        try:
            v = self.cost(theta.astype(complex_dtype(theta.dtype)), *self.args)
        except numba.core.errors.TypingError as exc:
            first = _typing_reason(exc)
            raise CostError(
                "scheme='complex' needs a cost that accepts complex theta, but the jitted cost does not compile for "
                f"{np.dtype(complex_dtype(theta.dtype)).name} input ({first[:160]}); "
                "use a real scheme such as 'central'"
            ) from None
        _require_complex_value(v, "at complex theta")
        self._complex_ok = True

    def directions(self, theta, lo, start, dirvals, steps, offsets):
        out = np.empty((len(lo), len(offsets)))
        offsets = np.asarray(offsets, np.float64)

        def replay(rows):
            for d in rows:  # one direction at a time, each in its own ragged slice
                LoopEvaluator.directions(self, theta, lo[d : d + 1], start[d : d + 2] - start[d],
                                         dirvals[start[d] : start[d + 1]], steps[d : d + 1], offsets)

        self._run(stencil.direction_costs, theta, lo, start, dirvals, steps, offsets, self.args, out, replay=replay)
        return out


def _typing_reason(exc) -> str:
    """The informative line of a Numba typing error (what could not be typed, and for which types)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Failed in", "During:", "There are", "- ", "File "))]
    if not useful:
        return "TypingError"
    reason = useful[0]
    if len(useful) > 1 and useful[1].startswith(">>>"):
        reason += " " + useful[1]
    return reason


def _require_complex_value(v, where: str) -> None:
    """The complex step reads Im J: a cost that returned a real value dropped it."""
    if not np.iscomplexobj(v):
        raise CostError(
            f"scheme='complex' needs a complex-safe cost, but {where} the cost returned a real "
            f"{type(v).__name__}: something in it (np.abs, np.real, float(), a real buffer) drops the imaginary "
            "part; use a real scheme such as 'central'"
        )


def is_jitted(cost) -> bool:
    return numba.extending.is_jitted(cost)


def _n_signatures(cost) -> int:
    """How many specialisations the parallel kernels (and a jitted cost) hold:
    it changes exactly when something was compiled."""
    n = sum(len(k.signatures) for k in (stencil.stencil_costs, stencil.complex_step_costs, stencil.direction_costs))
    return n + (len(cost.signatures) if is_jitted(cost) else 0)


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def try_jit(cost, theta, args, want=None):
    """``config.compile_cost(cost)`` (Numba) if it compiles for these arguments and agrees with
    the Python cost at θ (to 1e-12 relative), else ``None`` and the reason.

    The dispatcher is kept (:mod:`fastcheck.evaluators.compiled`), so a cost is compiled
    once per process and argument types; a failure is remembered too.
    """
    if not isinstance(cost, types.FunctionType):
        return None, "not a plain Python function"
    key = compiled.type_key((theta, *args))
    why = compiled.failure(cost, key)
    if why is not None:
        return None, why
    jitted = compiled.lookup(cost) or config.compile_cost(cost)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = as_scalar(jitted(theta.copy(), *args))
    except Exception as exc:
        why = f"Numba cannot compile it ({_first_line(exc)})"
        compiled.store_failure(cost, key, why)
        return None, why
    compiled.store(cost, jitted)
    if want is None:
        want = as_scalar(cost(theta.copy(), *args))
    if not np.isclose(got, want, rtol=1e-12, atol=0.0):
        return None, f"its compiled value {got!r} differs from the Python value {want!r}"
    return jitted, ""


def make_evaluator(cost, args=(), *, threads=None, theta=None, jit="auto", n_coords=None, kind="stencil",
                   workers=1, client=None):
    """The fastest evaluator that can run ``cost``.

    * A Numba dispatcher goes to the parallel kernels (if Numba cannot
      compile the kernel for it, a warning says so and the loop runs).
    * A plain Python function is compiled with ``numba.njit`` when ``jit``
      is True (a :class:`JitError` with Numba's reason if it cannot be), or
      when ``jit="auto"`` and the estimated saving beats the compilation:
      the loop's time (one timed evaluation × the evaluations of the check)
      against the compile time measured so far plus the time on all threads;
      a cost compiled before costs nothing to compile again.
    * Anything else runs in the plain loop, on a pool of worker processes
      when ``workers`` says so (see :func:`fastcheck.evaluators.pool.wrap`), or on a
      Dask cluster when a ``client`` is given.

    ``kind`` ("stencil" or "directions") is the kernel compiled up front;
    ``n_coords`` the number of coordinates the check will difference.
    ``workers`` defaults to 1 here (callers inside sweeps, which may already
    run on worker processes, keep their serial loop); the public checks
    default to "auto".
    """
    from fastcheck.evaluators import pool

    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    if jit not in ("auto", True, False):
        raise ValueError(f"jit must be 'auto', True or False, got {jit!r}")
    workers = pool.check_workers(workers)
    pool.check_client(client)
    args = tuple(args)
    loop = LoopEvaluator(cost, args)
    if client is not None:  # the cluster runs the cost as given
        return pool.wrap(loop, client=client)
    if is_jitted(cost) and jit is not False:
        return _jit_evaluator(cost, args, threads, theta, kind)
    if jit is True and not isinstance(cost, types.FunctionType):
        raise JitError(f"jit=True, but the cost cannot be compiled: it is a {type(cost).__name__}, "
                       "not a plain Python function (Numba compiles functions, not methods or callables)")
    if theta is None or jit is False or not isinstance(cost, types.FunctionType):
        return pool.wrap(loop, workers)
    n = len(theta) if n_coords is None else n_coords
    if jit == "auto" and n == 0:
        return pool.wrap(loop, workers)
    want = loop.value(theta)  # timed: the loop's cost per evaluation
    if jit == "auto":
        cached = compiled.lookup(cost) is not None
        compile_est = 0.0 if cached else compiled.estimate()
        n_evals = 2 * n  # the central scheme's two points per coordinate
        serial = n_evals * loop.eval_seconds
        otherwise = min(serial, pool.estimate_seconds(n_evals, loop.eval_seconds, workers))
        on_threads = serial / (threads or config.num_threads())
        if not (compile_est + on_threads < otherwise or (cached and on_threads <= otherwise)):
            # (no measured figures in the note: it must read the same on every run)
            loop.note = "not compiled: compiling was estimated to cost more time than it saves (jit=True forces it)"
            return pool.wrap(loop, workers)
    before = _n_signatures(compiled.lookup(cost) or cost)
    t0 = time.perf_counter()
    jitted, why = try_jit(cost, theta, args, want)
    if jitted is None:
        if jit is True:
            raise JitError(f"jit=True, but the cost cannot be compiled: {why}")
        loop.note = f"plain loop: {why}"
        return pool.wrap(loop, workers)
    spent = time.perf_counter() - t0 if _n_signatures(jitted) != before else 0.0
    ev = _jit_evaluator(jitted, args, threads, theta, kind, strict=jit is True)
    if ev.path == "parallel":
        ev.path = "parallel (auto-jit)"
        ev.note = "compiled with numba.njit automatically"
        ev.compile_seconds += spent
        if ev.compile_seconds:
            compiled.record(ev.compile_seconds)
    return ev


def _jit_evaluator(cost, args, threads, theta, kind="stencil", strict=False):
    ev = JitEvaluator(cost, args, threads)
    if theta is not None:
        try:  # compile (or find) the kernel for this cost on a 1-coordinate problem
            ev.prepare(theta, kind)
        except (numba.core.errors.TypingError, numba.core.errors.UnsupportedError) as exc:
            first = _first_line(exc)
            if strict:
                raise JitError(f"jit=True, but the parallel kernel does not compile for this cost: {first}") from exc
            warnings.warn(
                f"the jitted cost could not run in the parallel kernel ({first}); using the plain loop",
                RuntimeWarning,
                stacklevel=4,
            )
            loop = LoopEvaluator(cost, args)
            loop.note = f"plain loop: the parallel kernel did not compile ({first[:120]})"
            return loop
    return ev
