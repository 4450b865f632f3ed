"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.
"""
from fastcheck._version import __version__
from fastcheck.checks.adjoint import check_adjoint
from fastcheck.checks.directional import check_directional
from fastcheck.checks.gradient import adaptive_gradient, check_gradient, numerical_gradient
from fastcheck.checks.hessian import check_hessian
from fastcheck.checks.hvp import check_hvp, check_jvp
from fastcheck.checks.matrix import EntriesResult
from fastcheck.checks.model import check_model
from fastcheck.checks.result import CheckResult
from fastcheck.checks.sequential import check_sequential
from fastcheck.checks.taylor import TaylorResult, taylor_test
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.steps import SCHEMES
from fastcheck.errors import JitError, NondeterministicCostWarning, NonFiniteCostError, PrecisionWarning
from fastcheck.inputs.adapters import check_functions, check_object
from fastcheck.inputs.layers import check_jacobian, check_layer
from fastcheck.testing import assert_gradients_match
from fastcheck.verdicts.bands import relative_difference

__all__ = [
    "SCHEMES",
    "CheckOptions",
    "CheckResult",
    "EntriesResult",
    "JitError",
    "Layout",
    "NonFiniteCostError",
    "NondeterministicCostWarning",
    "PrecisionWarning",
    "TaylorResult",
    "__version__",
    "adaptive_gradient",
    "assert_gradients_match",
    "check_adjoint",
    "check_directional",
    "check_functions",
    "check_gradient",
    "check_hessian",
    "check_hvp",
    "check_jacobian",
    "check_jvp",
    "check_layer",
    "check_model",
    "check_object",
    "check_sequential",
    "numerical_gradient",
    "relative_difference",
    "taylor_test",
]
