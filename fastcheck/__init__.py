"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.
"""
from .evaluate import JitError
from .check import (
    NondeterministicCostWarning,
    NonFiniteCostError,
    PrecisionWarning,
    adaptive_gradient,
    check_directional,
    check_gradient,
    numerical_gradient,
)
from .adapters import check_functions, check_object
from .layers import check_jacobian, check_layer
from .layout import Layout
from .result import CheckResult, relative_difference
from .steps import SCHEMES
from .sequential import check_sequential
from .structured import check_model
from .testing import assert_gradients_match

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "JitError",
    "Layout",
    "NonFiniteCostError",
    "NondeterministicCostWarning",
    "PrecisionWarning",
    "SCHEMES",
    "adaptive_gradient",
    "check_directional",
    "check_functions",
    "check_object",
    "check_gradient",
    "check_jacobian",
    "check_layer",
    "check_model",
    "check_sequential",
    "assert_gradients_match",
    "numerical_gradient",
    "relative_difference",
    "__version__",
]
