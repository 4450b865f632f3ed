"""The exceptions and warnings of fastcheck, in one place.

Every error subclasses the built-in a user would catch anyway (``ValueError``,
``TypeError``, ``FileExistsError``, ``RuntimeError``), and every warning a
built-in warning category, so ``except ValueError`` keeps working.  Those a
public function raises or emits are exported from :mod:`fastcheck` (this
module's ``__all__``); the few in :data:`INTERNAL` never reach a user.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names of annotations only
    from numpy.typing import ArrayLike

__all__ = [
    "CostError", "DirectoryBusyError", "GradientCheckFailed", "GradientMismatchError", "GridError", "JitError", "LayerError",
    "LongRunWarning", "NonFiniteCostError", "NondeterministicCostWarning", "PoolFallbackWarning", "PrecisionWarning", "ProblemError",
    "ReportError", "ResourceError", "ResultsExistError", "ResumeError", "ShapeNoteWarning", "StageError",
    "StepTooSmallError", "SweepFileError", "TargetError", "UncheckedArraysWarning", "UserFileError",
]

#: Classes defined here that no public function lets out: the command line's own usage error (it becomes one
#: line on stderr and exit code 2), its stand-in for the user's ``os._exit``, the process pool's request for a
#: check's state (answered by resending it) and its finding that a worker computes another function (answered
#: by the serial loop).
INTERNAL = ("MissingStateError", "UntrustedWorkerError", "UsageError", "UserExit")


# -- the cost and the check ------------------------------------------------------------------------------------
class NonFiniteCostError(FloatingPointError, ValueError):
    """The cost was NaN or inf at some perturbed points."""

    def __init__(self, message: str, coords: ArrayLike):
        super().__init__(message)
        import numpy as np  # here, not at import: the pytest plugin imports this module in every test run

        self.coords = np.asarray(coords, np.int64)


class NondeterministicCostWarning(RuntimeWarning):
    """Two evaluations of the cost at the same θ differed."""


class PoolFallbackWarning(RuntimeWarning):
    """The cost could not be sent to worker processes, or a worker's copy of it did not compute the user's
    function (module state, views, a module that does not load there); the serial loop ran it."""


class PrecisionWarning(RuntimeWarning):
    """θ is in a precision too low for a reliable check."""


class CostError(ValueError):
    """The cost function returned something that is not a finite scalar."""


class JitError(TypeError):
    """``jit=True`` was asked for, but Numba cannot compile the cost."""


class StepTooSmallError(ValueError):
    """The step asked for does not move θ_i in θ's precision (or underflows for the complex step)."""


# -- what users hand in ----------------------------------------------------------------------------------------
class GradientMismatchError(ValueError):
    """An analytic gradient does not fit the parameters: a block without a gradient, a gradient of the wrong
    shape, a complex or non-numeric gradient (raised by :meth:`fastcheck.Layout.flatten_gradients` for every
    entry point)."""


class ShapeNoteWarning(UserWarning):
    """A gradient was accepted although its shape differs from its block's by singleton axes."""


class LayerError(ValueError):
    """A layer, its inputs, its ``dout`` or its backward pass do not fit together."""


class UncheckedArraysWarning(UserWarning):
    """A layer holds float arrays that no gradient was found for: they were left out of the check
    (``CheckResult.unchecked`` names them)."""


class StageError(ValueError):
    """A stage is malformed, names parameters wrongly, or returned the wrong thing."""


class TargetError(TypeError):
    """What the user handed in is none of the shapes fastcheck can check."""


class UserFileError(ValueError):
    """The user's file or function could not be loaded."""


class ProblemError(ValueError):
    """A problem specification that cannot be turned into a problem."""


# -- resources and files ---------------------------------------------------------------------------------------
class ResourceError(ValueError):
    """The work asked for would need more memory than the machine has."""


class LongRunWarning(UserWarning):
    """A check is estimated to take long; the message gives the estimate and ways to shorten it."""


class DirectoryBusyError(RuntimeError):
    """Another process is writing to the same output directory."""


# -- sweeps and their report -----------------------------------------------------------------------------------
class GridError(ValueError):
    """An axis of a sweep grid is empty or holds a value fastcheck cannot run."""


class ResultsExistError(FileExistsError, ValueError):
    """The output directory holds results and neither resume nor overwrite was asked."""


class ResumeError(ValueError):
    """The finished rows cannot be continued by this sweep (other options, problem or kind)."""


class SweepFileError(ValueError):
    """A file of a sweep directory cannot be read (truncated or not written by fastcheck)."""


class ReportError(ValueError):
    """A directory that holds no sweep results."""


# -- internal (see INTERNAL) -----------------------------------------------------------------------------------
class UsageError(Exception):
    """Internal to the command line: bad input from the command line, one line on stderr, exit code 2."""


class UserExit(BaseException):
    """Internal to the command line: user code called ``os._exit(code)`` while fastcheck ran it (raised in place
    of ending the process, so that nothing checked never reads as exit code 0; a BaseException, so the user's own
    ``except Exception`` does not swallow it)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class MissingStateError(Exception):
    """Internal to the process pool: a worker was asked for a chunk of a check whose cost and θ it has not got."""


class UntrustedWorkerError(Exception):
    """Internal to the process pool: a worker's copy of the cost did not give the user's process's numbers."""


class GradientCheckFailed(AssertionError):
    """A gradient check in a test suite did not pass (:func:`fastcheck.testing.assert_gradients_match`, the
    pytest plugin); ``result`` is its :class:`~fastcheck.CheckResult`."""

    def __init__(self, message: str, result: object):  # a CheckResult (a check's, above this module)
        super().__init__(message)
        self.result = result
