"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.
"""
from .adapters import check_functions, check_object
from .check import adaptive_gradient, check_directional, check_gradient, numerical_gradient
from .errors import JitError, NondeterministicCostWarning, NonFiniteCostError, PrecisionWarning
from .layers import check_jacobian, check_layer
from .layout import Layout
from .result import CheckResult, relative_difference
from .sequential import check_sequential
from .steps import SCHEMES
from .structured import check_model
from .testing import assert_gradients_match

from ._version import __version__

__all__ = [
    "SCHEMES",
    "CheckResult",
    "JitError",
    "Layout",
    "NonFiniteCostError",
    "NondeterministicCostWarning",
    "PrecisionWarning",
    "__version__",
    "adaptive_gradient",
    "assert_gradients_match",
    "check_directional",
    "check_functions",
    "check_gradient",
    "check_jacobian",
    "check_layer",
    "check_model",
    "check_object",
    "check_sequential",
    "numerical_gradient",
    "relative_difference",
]
