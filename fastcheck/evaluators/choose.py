"""Choosing the evaluator of a user's cost: :func:`make_evaluator`.

The parallel kernels for a Numba-jitted cost (:mod:`fastcheck.evaluators.jit`),
a plain Python cost compiled when that is expected to pay (``jit="auto"``),
else the plain loop (:mod:`fastcheck.evaluators.loop`), on worker processes or
a Dask cluster when asked (:mod:`fastcheck.evaluators.pool`).
"""
from __future__ import annotations

import time
import types
import warnings

import numba

from fastcheck import config
from fastcheck.errors import JitError
from fastcheck.evaluators import compiled, pool
from fastcheck.evaluators.jit import JitEvaluator, compiled_signatures, first_line, is_jitted, try_jit
from fastcheck.evaluators.loop import LoopEvaluator

__all__ = ["jit_or_loop", "make_evaluator"]


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
        return jit_or_loop(cost, args, threads, theta, kind)
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
    before = compiled_signatures(compiled.lookup(cost) or cost)
    t0 = time.perf_counter()
    jitted, why = try_jit(cost, theta, args, want)
    if jitted is None:
        if jit is True:
            raise JitError(f"jit=True, but the cost cannot be compiled: {why}")
        loop.note = f"plain loop: {why}"
        return pool.wrap(loop, workers)
    spent = time.perf_counter() - t0 if compiled_signatures(jitted) != before else 0.0
    ev = jit_or_loop(jitted, args, threads, theta, kind, strict=jit is True)
    if ev.path == "parallel":
        ev.path = "parallel (auto-jit)"
        ev.note = "compiled with numba.njit automatically"
        ev.compile_seconds += spent
        if ev.compile_seconds:
            compiled.record(ev.compile_seconds)
    return ev


def jit_or_loop(cost, args, threads, theta, kind="stencil", strict=False):
    """A :class:`JitEvaluator` of the jitted ``cost``, its ``kind`` kernel compiled at ``theta`` when given;
    the plain loop (with a warning) when that kernel does not compile, or a :class:`JitError` when ``strict``."""
    ev = JitEvaluator(cost, args, threads)
    if theta is not None:
        try:  # compile (or find) the kernel for this cost on a 1-coordinate problem
            ev.prepare(theta, kind)
        except (numba.core.errors.TypingError, numba.core.errors.UnsupportedError) as exc:
            first = first_line(exc)
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
