"""Evaluators of a vector-valued function at perturbed points: the rows of a second-order check.

A Hessian column is the difference of the *gradient* along e_j, a
Hessian-vector product the difference of the gradient along v, a
Jacobian-vector product the difference of a function's outputs along u.  So
these checks difference a vector ``F(θ)`` (a user's ``grad`` or ``fn``, or the
numerical gradient of a cost), one component per *row*, where a gradient
check differences a scalar.

:class:`RowsEvaluator` speaks the evaluator protocol of
:mod:`fastcheck.evaluators.protocol` with one convention on top: the stencil
offsets come in runs of ``n_rows`` equal values (:func:`pack_offsets`), and
the cost "at offset k, row i" is ``F_i`` at the point of that offset.  ``F`` is
evaluated once per run, so a stencil over ``K`` offsets costs ``K`` evaluations
of ``F`` per coordinate (or direction).  That is all the process pool and the
Dask runner of :mod:`fastcheck.evaluators.pool` need to run these checks on
every core: they hand each chunk of coordinates, with the offsets unchanged,
to this very evaluator in a worker (:func:`rows_evaluator` wraps it).

``eval_seconds`` is one evaluation of ``F`` divided by ``n_rows``: the time of
one packed offset, which is what the pool's planning multiplies by the number
of offsets.  A Numba-jitted ``F`` runs on the threads instead, in
:func:`_rows_kernel` (one copy of θ per chunk of coordinates).
"""
from __future__ import annotations

import time

import numba
import numpy as np
from numba import prange

from fastcheck import config
from fastcheck.errors import CostError
from fastcheck.evaluators.loop import refuse_in_place
from fastcheck.evaluators.protocol import Capabilities, Evaluator

__all__ = ["NumericalGradient", "RowsEvaluator", "SummedRows", "pack_offsets", "rows_evaluator", "summed_evaluator", "unpack_rows"]


def pack_offsets(offsets, n_rows: int) -> np.ndarray:
    """Each stencil offset repeated ``n_rows`` times: the offsets a :class:`RowsEvaluator` takes."""
    return np.repeat(np.asarray(offsets, np.float64), int(n_rows))


def unpack_rows(costs, n_rows: int) -> np.ndarray:
    """``(m, K·n_rows)`` packed costs as ``(m, K, n_rows)``: F at every point, by offset."""
    costs = np.asarray(costs)
    return costs.reshape(costs.shape[0], -1, int(n_rows))


def as_rows(value, n_rows, where: str) -> np.ndarray:
    """``F``'s value as a float64 vector of ``n_rows``; a clear error if it is not one."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise CostError(f"the function must return a float array, but {where} it returned dtype {arr.dtype}")
    arr = arr.reshape(-1).astype(np.float64, copy=False)
    if n_rows is not None and arr.size != n_rows:
        raise CostError(f"the function returned {arr.size} values {where}, but {n_rows} at theta")
    return arr


@config.jit(config.CALL)
def _call_rows(fn, work, args):
    return fn(work, *args)


@config.jit(config.PARALLEL)
def _rows_kernel(fn, theta, coords, steps, offsets, args, out):
    """``out[j, k, :] = fn(θ + offsets[k]·steps[j]·e_{coords[j]}, *args)`` in parallel over coordinates."""
    nc = coords.shape[0]
    n_chunks = min(nc, numba.get_num_threads())
    for c in prange(n_chunks):
        lo = c * nc // n_chunks
        hi = (c + 1) * nc // n_chunks
        work = theta.copy()
        for j in range(lo, hi):
            i = coords[j]
            x = theta[i]
            for k in range(offsets.shape[0]):
                work[i] = x + offsets[k] * steps[j]
                out[j, k, :] = _call_rows(fn, work, args)
            work[i] = x


class RowsEvaluator(Evaluator):
    """``F(θ, *args)`` (a vector of ``n_rows``) at the perturbed points of a stencil or of directions.

    The offsets handed to :meth:`stencil` and :meth:`directions` come in runs
    of ``n_rows`` equal values (:func:`pack_offsets`); the result has one
    column per packed offset, ``F_i`` at that offset's point in column
    ``k·n_rows + i``.
    """

    path = "loop"
    caps = Capabilities(directions=True)  # not deterministic by construction: the check probes J(θ) twice

    def __init__(self, fn, args=(), n_rows=None, *, jitted=False, threads=None):
        self.fn = fn
        self.args = tuple(args)
        self.n_rows = n_rows
        self.jitted = bool(jitted)
        self._threads = threads
        self.eval_seconds = float("inf")
        if self.jitted:
            self.path = "parallel"

    @property
    def threads(self) -> int:
        return (self._threads or config.num_threads()) if self.jitted else 1

    def rows(self, theta) -> np.ndarray:
        """``F(θ)``, timed (``eval_seconds``), its length fixed as ``n_rows`` on the first call."""
        work = theta.copy()
        t0 = time.perf_counter()
        v = as_rows(self.fn(work, *self.args), self.n_rows, "at theta")
        seconds = time.perf_counter() - t0
        if self.n_rows is None:
            self.n_rows = v.size
        self.eval_seconds = min(self.eval_seconds, seconds / max(self.n_rows, 1))
        refuse_in_place(work, theta, "the function", "its theta argument", "copy theta inside it before changing it")
        return v

    def value(self, theta) -> float:  # pragma: no cover - the protocol's scalar J has no meaning here
        raise NotImplementedError("a RowsEvaluator evaluates a vector: call rows(theta)")

    def _runs(self, offsets):
        offsets = np.asarray(offsets, np.float64)
        n = self.n_rows
        if n is None or len(offsets) % n:
            raise ValueError("RowsEvaluator offsets must come in runs of n_rows (see pack_offsets); call rows() first")
        return offsets[::n]

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        runs = self._runs(offsets)
        n = self.n_rows
        coords = np.asarray(coords, np.int64)
        steps = np.asarray(steps, np.float64)
        out = np.empty((len(coords), len(runs), n))
        if self.jitted and len(coords):
            with config.threads(self._threads), config.single_threaded_blas():
                _rows_kernel(self.fn, theta, coords, steps, runs, self.args, out)
            return out.reshape(len(coords), -1)
        work = theta.copy()
        for j, i in enumerate(coords.tolist()):
            x, h = float(work[i]), float(steps[j])
            for k, c in enumerate(runs.tolist()):
                work[i] = x + c * h  # x + c·h in double, stored in θ's dtype (as the kernels do)
                out[j, k] = as_rows(self.fn(work, *self.args), n, f"at theta[{i}] {c:+g}·h")
            work[i] = x
        return out.reshape(len(coords), -1)

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        runs = self._runs(offsets)
        n = self.n_rows
        out = np.empty((len(lo), len(runs), n))
        work = theta.copy()
        for d in range(len(lo)):
            a, u = int(lo[d]), dirvals[start[d] : start[d + 1]]
            for k, c in enumerate(runs.tolist()):
                work[a : a + len(u)] = theta[a : a + len(u)] + (c * steps[d]) * u
                out[d, k] = as_rows(self.fn(work, *self.args), n, f"along direction {d}")
            work[a : a + len(u)] = theta[a : a + len(u)]
        return out.reshape(len(lo), -1)


class SummedRows(RowsEvaluator):
    """A scheme's weighted sums of ``F``: at a packed offset c, ``Σ_k w_k·F(θ + c·o_k·h·(column))``.

    The offsets ``o_k`` and weights ``w_k`` are the scheme's (the terms at
    ``o_k = 0``, F(θ) itself, are left to the caller, who has it).  A pass of a
    second-order check needs only these sums, one number per entry, where the
    plain :class:`RowsEvaluator` returns F at every offset: on worker processes
    that halves what comes back for the central scheme.  The sum runs in the
    scheme's order, as :func:`fastcheck.verdicts.entries.judge_entries` sums
    the plain costs, so both give the same numbers.
    """

    def __init__(self, fn, args=(), n_rows=None, *, offsets, weights, jitted=False, threads=None):
        super().__init__(fn, args, n_rows, jitted=jitted, threads=threads)
        offsets = np.asarray(offsets, np.float64)
        weights = np.asarray(weights, np.float64)
        self.moved = offsets[offsets != 0]
        self.moved_weights = weights[offsets != 0]

    def _summed(self, raw_of, runs):
        """Σ_k w_k·F at each packed multiplier, from ``raw_of(offsets)`` (m, K·n) costs."""
        offs = (runs[:, None] * self.moved[None, :]).reshape(-1)
        raw = unpack_rows(raw_of(pack_offsets(offs, self.n_rows)), self.n_rows)
        m, n = raw.shape[0], self.n_rows
        raw = raw.reshape(m, len(runs), len(self.moved), n)
        out = np.zeros((m, len(runs), n))
        for k, w in enumerate(self.moved_weights):
            out += w * raw[:, :, k, :]
        return out.reshape(m, -1)

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        runs = self._runs(offsets)
        if self.jitted:
            return self._summed(lambda o: RowsEvaluator.stencil(self, theta, coords, steps, o), runs)
        n = self.n_rows
        coords = np.asarray(coords, np.int64)
        out = np.zeros((len(coords), len(runs), n))
        work = theta.copy()
        moved, weights = self.moved.tolist(), self.moved_weights.tolist()
        for j, i in enumerate(coords.tolist()):
            x, h = float(work[i]), float(steps[j])
            for r, c in enumerate(runs.tolist()):
                acc = out[j, r]
                for o, w in zip(moved, weights):
                    work[i] = x + (c * o) * h
                    acc += w * as_rows(self.fn(work, *self.args), n, f"at theta[{i}] {c * o:+g}·h")
            work[i] = x
        return out.reshape(len(coords), -1)

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        runs = self._runs(offsets)
        return self._summed(lambda o: RowsEvaluator.directions(self, theta, lo, start, dirvals, steps, o), runs)


class NumericalGradient:
    """The central-difference gradient of a scalar cost, as a function of θ (picklable).

    ``steps`` are absolute, one per coordinate; the gradient is
    ``(J(θ + h_i e_i) − J(θ − h_i e_i)) / 2h_i`` with the effective steps of
    θ (``steps`` should already be effective, see
    :func:`fastcheck.core.steps.absolute_steps`).  ``ev`` is a scalar
    evaluator of the cost (the loop, or the parallel kernels for a jitted
    cost); ``rounding(θ)`` is the absolute round-off of each entry.
    """

    def __init__(self, ev, steps):
        self.ev = ev
        self.steps = np.asarray(steps, np.float64)
        self.coords = np.arange(len(self.steps), dtype=np.int64)

    def __call__(self, theta):
        costs = self.ev.stencil(theta, self.coords, self.steps, np.array([-1.0, 1.0]))
        return (0.5 * costs[:, 1] - 0.5 * costs[:, 0]) / self.steps

    def rounding(self, theta, mach) -> np.ndarray:
        """Round-off bound of each entry at θ: 2·ε·|J(θ)| over the span 2h."""
        return 2.0 * mach * abs(float(self.ev.value(theta))) / self.steps


def rows_evaluator(fn, args=(), *, theta=None, jit="auto", threads=None, workers="auto", client=None):
    """The evaluator of ``F = fn(θ, *args)``: the threads for a Numba dispatcher, else the loop on the pool.

    ``jit=True`` compiles a plain function with Numba (a
    :class:`~fastcheck.errors.JitError` when it cannot be); ``"auto"`` takes
    a jitted ``fn`` as it is and leaves a plain one in Python, on worker
    processes when ``workers`` says so (:func:`fastcheck.evaluators.pool.wrap`,
    ``client=`` for a Dask cluster).  Returns ``(evaluator, base)``: ``base``
    is the :class:`RowsEvaluator` itself (call its :meth:`~RowsEvaluator.rows`),
    ``evaluator`` what runs the stencils.
    """
    from fastcheck.errors import JitError
    from fastcheck.evaluators import pool

    if not callable(fn):
        raise TypeError(f"the function must be callable, got {type(fn).__name__}")
    if jit not in ("auto", True, False):
        raise ValueError(f"jit must be 'auto', True or False, got {jit!r}")
    jitted = numba.extending.is_jitted(fn) and jit is not False and client is None
    if jit is True and not jitted:
        try:
            fn = config.compile_cost(fn)
            if theta is not None:
                fn(theta.copy(), *args)
        except Exception as exc:  # noqa: BLE001 - whatever Numba refuses, said in one line
            raise JitError(f"jit=True, but the function cannot be compiled: {str(exc).splitlines()[0][:200]}") from None
        jitted = True
    base = RowsEvaluator(fn, args, jitted=jitted, threads=threads)
    if jitted:
        return base, base
    return pool.wrap(base, workers, client), base


def summed_evaluator(base: RowsEvaluator, scheme, *, workers="auto", client=None):
    """The :class:`SummedRows` of ``base``'s function for ``scheme``, run where ``base`` runs (call after
    ``base.rows(θ)``: it takes ``base``'s length and timing)."""
    from fastcheck.evaluators import pool

    summed = SummedRows(base.fn, base.args, base.n_rows, offsets=scheme.offsets, weights=scheme.weights,
                        jitted=base.jitted, threads=base._threads)
    summed.eval_seconds = base.eval_seconds * (len(scheme.offsets) - list(scheme.offsets).count(0.0))
    if base.jitted:
        return summed
    return pool.wrap(summed, workers, client)
