"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.  Every exception and warning a
public function raises or emits is here too (they are defined in
:mod:`fastcheck.errors`).
"""
from fastcheck._version import __version__
from fastcheck.checks.directional import check_directional
from fastcheck.checks.gradient import adaptive_gradient, check_gradient, numerical_gradient
from fastcheck.checks.model import check_model
from fastcheck.checks.result import CheckResult
from fastcheck.checks.sequential import check_sequential
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.steps import SCHEMES
from fastcheck.errors import (
    CostError,
    DirectoryBusyError,
    GradientMismatchError,
    GridError,
    JitError,
    LayerError,
    LongRunWarning,
    NondeterministicCostWarning,
    NonFiniteCostError,
    PrecisionWarning,
    ProblemError,
    ReportError,
    ResourceError,
    ResultsExistError,
    ResumeError,
    ShapeNoteWarning,
    StageError,
    StepTooSmallError,
    SweepFileError,
    TargetError,
    UserFileError,
)
from fastcheck.inputs.adapters import check_functions, check_object
from fastcheck.inputs.layers import check_jacobian, check_layer
from fastcheck.inputs.lossfun import check_loss, check_module
from fastcheck.testing import assert_gradients_match
from fastcheck.verdicts.bands import relative_difference

__all__ = [
    "SCHEMES",
    "CheckOptions",
    "CheckResult",
    "CostError",
    "DirectoryBusyError",
    "GradientMismatchError",
    "GridError",
    "JitError",
    "LayerError",
    "Layout",
    "LongRunWarning",
    "NonFiniteCostError",
    "NondeterministicCostWarning",
    "PrecisionWarning",
    "ProblemError",
    "ReportError",
    "ResourceError",
    "ResultsExistError",
    "ResumeError",
    "ShapeNoteWarning",
    "StageError",
    "StepTooSmallError",
    "SweepFileError",
    "TargetError",
    "UserFileError",
    "__version__",
    "adaptive_gradient",
    "assert_gradients_match",
    "check_directional",
    "check_functions",
    "check_gradient",
    "check_jacobian",
    "check_layer",
    "check_loss",
    "check_module",
    "check_model",
    "check_object",
    "check_sequential",
    "numerical_gradient",
    "relative_difference",
]
