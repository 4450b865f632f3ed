"""A user's cost compiled with Numba, on the parallel kernels: :class:`JitEvaluator`, :func:`try_jit`.

:class:`JitEvaluator` hands a Numba-jitted cost to the parallel kernels of
:mod:`fastcheck.kernels.stencil`; when the cost raises inside a kernel, the
flagged points are replayed in :class:`~fastcheck.evaluators.loop.LoopEvaluator`'s
loop, where the user's exception comes out with its type and message.
:func:`try_jit` compiles a plain Python cost (once per process, see
:mod:`fastcheck.evaluators.compiled`) and checks the compiled cost agrees.
"""
from __future__ import annotations

import time
import types
import warnings

import numba
import numpy as np

from fastcheck import config
from fastcheck.errors import CostError
from fastcheck.evaluators import compiled
from fastcheck.evaluators.loop import LoopEvaluator, UserCost, as_scalar, complex_dtype, require_complex_value
from fastcheck.evaluators.protocol import Capabilities
from fastcheck.kernels import stencil

__all__ = ["JitEvaluator", "compiled_signatures", "first_line", "is_jitted", "try_jit"]


class JitEvaluator(UserCost):
    """Evaluates a Numba-jitted cost on the parallel kernels, all cores.

    BLAS is held to one thread while a kernel runs, so that a cost calling
    ``@``/``np.dot`` does not start a BLAS pool inside every Numba thread.
    """

    path = "parallel"
    #: Checks on this evaluator hold BLAS to one thread throughout (see :func:`fastcheck.checks.gradient.held_blas`).
    caps = Capabilities(holds_blas=True, complex_step=True, directions=True, calls_user_cost=True)

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
        before = compiled_signatures(self.cost)
        t0 = time.perf_counter()
        one, zero, idx = np.ones(1), np.zeros(1), np.zeros(1, np.int64)
        if kind == "complex":
            self.complex_step(theta, idx, zero)
        elif kind == "directions":
            self.directions(theta, idx, np.array([0, 1], np.int64), one, zero, one)
        else:
            self.stencil(theta, idx, zero, one)
        if compiled_signatures(self.cost) != before:
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
        require_complex_value(v, "at complex theta")
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


def is_jitted(cost) -> bool:
    return numba.extending.is_jitted(cost)


def compiled_signatures(cost) -> int:
    """How many specialisations the parallel kernels (and a jitted cost) hold:
    it changes exactly when something was compiled."""
    kernels = (stencil.stencil_costs, stencil.complex_step_costs, stencil.direction_costs)
    n = sum(config.compiled_count(k) for k in kernels)
    return n + (config.compiled_count(cost) if is_jitted(cost) else 0)


def first_line(exc) -> str:
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
        why = f"Numba cannot compile it ({first_line(exc)})"
        compiled.store_failure(cost, key, why)
        return None, why
    compiled.store(cost, jitted)
    if want is None:
        want = as_scalar(cost(theta.copy(), *args))
    if not np.isclose(got, want, rtol=1e-12, atol=0.0):
        return None, f"its compiled value {got!r} differs from the Python value {want!r}"
    return jitted, ""
