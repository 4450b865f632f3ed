"""The exceptions and warnings of a gradient check, in one place.

Every one subclasses the built-in a user would catch anyway (``ValueError``,
``TypeError``, ``RuntimeWarning``), so ``except ValueError`` keeps working;
the internal ones at the end never reach a user.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CostError", "JitError", "NonFiniteCostError", "NondeterministicCostWarning", "PoolFallbackWarning",
           "PrecisionWarning", "StepTooSmallError"]


class NonFiniteCostError(FloatingPointError, ValueError):
    """The cost was NaN or inf at some perturbed points."""

    def __init__(self, message, coords):
        super().__init__(message)
        self.coords = np.asarray(coords, np.int64)


class NondeterministicCostWarning(RuntimeWarning):
    """Two evaluations of the cost at the same θ differed."""


class PoolFallbackWarning(RuntimeWarning):
    """The cost could not be sent to worker processes; the serial loop ran it."""


class PrecisionWarning(RuntimeWarning):
    """θ is in a precision too low for a reliable check."""


class CostError(ValueError):
    """The cost function returned something that is not a finite scalar."""


class JitError(TypeError):
    """``jit=True`` was asked for, but Numba cannot compile the cost."""


class StepTooSmallError(ValueError):
    """The step asked for does not move θ_i in θ's precision (or underflows for the complex step)."""


# -- internal: never reaches a user ----------------------------------------------------------------------------
class MissingStateError(Exception):
    """Internal to the process pool: a worker was asked for a chunk of a check whose cost and θ it has not got
    (the runner sends that chunk again, with them)."""
