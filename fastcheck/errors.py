"""The exceptions and warnings of a gradient check, in one place.

Every one subclasses the built-in a user would catch anyway (``ValueError``,
``TypeError``, ``RuntimeWarning``), so ``except ValueError`` keeps working.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CostError", "JitError", "NonFiniteCostError", "NondeterministicCostWarning", "PrecisionWarning",
           "StepTooSmallError"]


class NonFiniteCostError(FloatingPointError, ValueError):
    """The cost was NaN or inf at some perturbed points."""

    def __init__(self, message, coords):
        super().__init__(message)
        self.coords = np.asarray(coords, np.int64)


class NondeterministicCostWarning(RuntimeWarning):
    """Two evaluations of the cost at the same θ differed."""


class PrecisionWarning(RuntimeWarning):
    """θ is in a precision too low for a reliable check."""


class CostError(ValueError):
    """The cost function returned something that is not a finite scalar."""


class JitError(TypeError):
    """``jit=True`` was asked for, but Numba cannot compile the cost."""


class StepTooSmallError(ValueError):
    """The step asked for does not move θ_i in θ's precision (or underflows for the complex step)."""
