"""fastcheck: fast, parallel gradient checking for hand-written backprop."""
from .check import (
    NondeterministicCostWarning,
    NonFiniteCostError,
    PrecisionWarning,
    check_directional,
    check_gradient,
    numerical_gradient,
)
from .adapters import check_functions, check_object
from .layout import Layout
from .result import CheckResult, relative_difference
from .steps import SCHEMES

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "Layout",
    "NonFiniteCostError",
    "NondeterministicCostWarning",
    "PrecisionWarning",
    "SCHEMES",
    "check_directional",
    "check_functions",
    "check_object",
    "check_gradient",
    "numerical_gradient",
    "relative_difference",
    "__version__",
]
