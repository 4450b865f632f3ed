"""The evaluator protocol: what the core check asks of whatever computes the perturbed costs.

The implementations live with what they evaluate (:mod:`fastcheck.evaluators.loop`
and :mod:`fastcheck.evaluators.jit` for a user's cost, :mod:`fastcheck.evaluators.pool`
for processes and Dask, :mod:`fastcheck.evaluators.sequential` for stages,
:mod:`fastcheck.evaluators.structured` for the built-in networks); they all derive
from :class:`Evaluator`, and the core reads what each can do from its
:class:`Capabilities` (``ev.caps``), never from its type.

An evaluator that changes another one a little (runs it on worker processes,
permutes its coordinates, shares its stencils) derives from :class:`Wrapper`,
which forwards the whole protocol to ``self.base`` in one place, and overrides
only what it changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Capabilities", "Evaluator", "Wrapper"]


@dataclass(frozen=True)
class Capabilities:
    """What an evaluator can do and guarantees, read by the core before it asks.

    Each flag defaults to the cautious answer: a new evaluator that declares
    nothing is probed for determinism and precision and asked for nothing it
    may lack.
    """

    #: Checks on it hold BLAS to one thread throughout (its kernels run BLAS inside parallel regions).
    holds_blas: bool = False
    #: J(θ) is the same on every call (no determinism probe needed).
    deterministic: bool = False
    #: It computes in θ's own dtype by construction (no precision probe needed).
    native_precision: bool = False
    #: :meth:`Evaluator.kinks` reports real kink crossings (otherwise it returns all False).
    finds_kinks: bool = False
    #: :meth:`Evaluator.complex_step` exists (the cost may still refuse complex input).
    complex_step: bool = False
    #: :meth:`Evaluator.directions` exists.
    directions: bool = False
    #: It calls the user's own cost (:attr:`Evaluator.cost`), which can be asked directly, e.g. at complex θ.
    calls_user_cost: bool = False


class Evaluator:
    """The protocol of every evaluator, with its defaults.

    Methods: :meth:`value` (J at θ), :meth:`prepare` (compile outside the
    timing), :meth:`stencil` (J at θ + c·h·e_i for every coordinate and
    offset), :meth:`complex_step` (Im J(θ + i·h·e_i)), :meth:`directions`
    (J along ragged directions), :meth:`kinks` (which perturbed points crossed
    a kink).  A capability an evaluator lacks raises ``NotImplementedError``
    and its :attr:`caps` say so beforehand.
    """

    #: What it can do (see :class:`Capabilities`); a property where it depends on the instance.
    caps = Capabilities()
    #: Name of the evaluation path shown in results ("loop", "parallel", "structured", ...).
    path = "?"
    #: A remark for the result's summary (such as why a faster path was not taken).
    note = ""
    #: Seconds spent compiling for this check (or loading compiled code from the cache).
    compile_seconds = 0.0
    #: What was compiled is in the cache for the next process.
    compile_cached = False
    #: All of :attr:`compile_seconds` went to loading compiled code from the cache.
    compile_loaded = False
    #: The fastest evaluation of the cost seen so far (what the pool and the
    #: auto-jit decisions, and the time estimate before a long check, start from).
    eval_seconds = float("inf")
    #: The user's cost, ``cost(θ, *args)`` in this evaluator's order of θ: what
    #: may be asked directly when ``caps.calls_user_cost`` (None for an
    #: evaluator that calls no cost of the user's).
    cost = None
    #: The extra arguments :attr:`cost` is called with, ``cost(θ, *args)``.
    args = ()

    @property
    def threads(self) -> int:
        """Threads (or processes) the last evaluations ran on, as the result reports them."""
        return 1

    @property
    def parallel_workers(self) -> int:
        """How many evaluations this evaluator can run at once: what a time
        estimate divides the serial time by (a pool counts its workers whether
        or not a given check ends up using them)."""
        return self.threads

    def value(self, theta) -> float:
        raise NotImplementedError

    def prepare(self, theta, kind: str) -> None:
        """Compile whatever ``kind`` ("stencil", "complex", "directions") needs,
        so that compilation stays out of a check's timing (default: nothing)."""

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        raise NotImplementedError

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        raise NotImplementedError(f"the {self.path} evaluator has no complex step")

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        raise NotImplementedError(f"the {self.path} evaluator has no directional check")

    def kinks(self, theta, coords, steps) -> np.ndarray:
        """Per coordinate: did some perturbed point cross a kink?  (Default: no evaluator-level knowledge.)"""
        return np.zeros(len(coords), np.bool_)


class Wrapper(Evaluator):
    """An evaluator built on another one, ``base``: every member of the protocol is forwarded here.

    A subclass overrides only what it changes (a pool its stencils, a
    permutation its coordinates); everything else is the base's, read at the
    moment it is asked for (the base's timings and notes change as it runs).
    ``tests/test_protocol.py`` checks that every public member of
    :class:`Evaluator` is forwarded, so a new one cannot be forgotten.
    """

    def __init__(self, base: Evaluator):
        self.base = base

    # what it is
    @property
    def caps(self) -> Capabilities:
        return self.base.caps

    @property
    def path(self) -> str:
        return self.base.path

    @property
    def note(self) -> str:
        return self.base.note

    @property
    def compile_seconds(self) -> float:
        return self.base.compile_seconds

    @property
    def compile_cached(self) -> bool:
        return self.base.compile_cached

    @property
    def compile_loaded(self) -> bool:
        return self.base.compile_loaded

    @property
    def eval_seconds(self) -> float:
        return self.base.eval_seconds

    @property
    def cost(self):
        return self.base.cost

    @property
    def args(self) -> tuple:
        return self.base.args

    @property
    def threads(self) -> int:
        return self.base.threads

    @property
    def parallel_workers(self) -> int:
        return self.base.parallel_workers

    # what it computes
    def value(self, theta) -> float:
        return self.base.value(theta)

    def prepare(self, theta, kind: str) -> None:
        self.base.prepare(theta, kind)

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        return self.base.stencil(theta, coords, steps, offsets)

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        return self.base.complex_step(theta, coords, steps)

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        return self.base.directions(theta, lo, start, dirvals, steps, offsets)

    def kinks(self, theta, coords, steps) -> np.ndarray:
        return self.base.kinks(theta, coords, steps)
