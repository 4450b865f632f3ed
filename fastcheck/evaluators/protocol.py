"""The evaluator protocol: what the core check asks of whatever computes the perturbed costs.

The implementations live with what they evaluate (:mod:`fastcheck.evaluators.loop`
and :mod:`fastcheck.evaluators.jit` for a user's cost, :mod:`fastcheck.evaluators.pool`
for processes and Dask, :mod:`fastcheck.evaluators.sequential` for stages,
:mod:`fastcheck.evaluators.structured` for the built-in networks); they all derive
from :class:`Evaluator`, and the core reads their capabilities from its attributes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Evaluator"]


class Evaluator:
    """The protocol of every evaluator, with the defaults of the capabilities.

    Methods: :meth:`value` (J at θ), :meth:`prepare` (compile outside the
    timing), :meth:`stencil` (J at θ + c·h·e_i for every coordinate and
    offset), :meth:`complex_step` (Im J(θ + i·h·e_i)), :meth:`directions`
    (J along ragged directions), :meth:`kinks` (which perturbed points crossed
    a kink).  A capability an evaluator lacks raises ``NotImplementedError``
    and its flag below says so beforehand.
    """

    #: Name of the evaluation path shown in results ("loop", "parallel", "structured", ...).
    path = "?"
    #: A remark for the result's summary (such as why a faster path was not taken).
    note = ""
    #: Seconds spent compiling for this check.
    compile_seconds = 0.0
    #: The fastest evaluation of the cost seen so far (what the pool and the
    #: auto-jit decisions estimate the serial time from).
    eval_seconds = float("inf")
    #: Checks on it hold BLAS to one thread throughout (its kernels run BLAS inside parallel regions).
    holds_blas = False
    #: J(θ) is the same on every call (no determinism probe needed).
    deterministic = False
    #: It computes in θ's own dtype by construction (no precision probe needed).
    native_precision = False
    #: :meth:`kinks` reports real kink crossings (otherwise it returns all False).
    finds_kinks = False
    #: :meth:`complex_step` exists (the cost may still refuse complex input).
    has_complex_step = False
    #: :meth:`directions` exists.
    has_directions = False
    #: It calls the user's own cost (``self.cost``), which can be asked directly, e.g. at complex θ.
    calls_user_cost = False

    @property
    def threads(self) -> int:
        return 1

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
