"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.  Every exception and warning a
public function raises or emits is here too (they are defined in
:mod:`fastcheck.errors`).

The names are loaded on first use (PEP 562): ``import fastcheck`` costs
next to nothing, and NumPy and Numba are imported when a check function, a
class or a subpackage is first reached (``fastcheck.check_gradient``,
``from fastcheck import Layout``, ``fastcheck.models``).  That keeps the
pytest plugin (loaded by every pytest run where fastcheck is installed) and
the command line's ``--help`` fast.  pandas is imported only where a table
is built (a check's result, a sweep).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fastcheck._version import __version__

#: Where each public name lives.
_EXPORTS = {
    "check_adjoint": "fastcheck.checks.adjoint",
    "check_hessian": "fastcheck.checks.hessian",
    "check_hvp": "fastcheck.checks.hvp",
    "check_jvp": "fastcheck.checks.hvp",
    "EntriesResult": "fastcheck.checks.matrix",
    "TaylorResult": "fastcheck.checks.taylor",
    "taylor_test": "fastcheck.checks.taylor",
    "check_directional": "fastcheck.checks.directional",
    "adaptive_gradient": "fastcheck.checks.gradient",
    "check_gradient": "fastcheck.checks.gradient",
    "numerical_gradient": "fastcheck.checks.gradient",
    "check_model": "fastcheck.checks.model",
    "CheckResult": "fastcheck.checks.result",
    "ScreenResult": "fastcheck.checks.screen_result",
    "check_sequential": "fastcheck.checks.sequential",
    "Layout": "fastcheck.core.layout",
    "CheckOptions": "fastcheck.core.options",
    "start_pool": "fastcheck.evaluators.pool.chunked",
    "SCHEMES": "fastcheck.core.steps",
    "CostError": "fastcheck.errors",
    "DirectoryBusyError": "fastcheck.errors",
    "GradientCheckFailed": "fastcheck.errors",
    "GradientMismatchError": "fastcheck.errors",
    "GridError": "fastcheck.errors",
    "JitError": "fastcheck.errors",
    "LayerError": "fastcheck.errors",
    "LongRunWarning": "fastcheck.errors",
    "NondeterministicCostWarning": "fastcheck.errors",
    "NonFiniteCostError": "fastcheck.errors",
    "PoolFallbackWarning": "fastcheck.errors",
    "PrecisionWarning": "fastcheck.errors",
    "ProblemError": "fastcheck.errors",
    "ReportError": "fastcheck.errors",
    "ResourceError": "fastcheck.errors",
    "ResultsExistError": "fastcheck.errors",
    "ResumeError": "fastcheck.errors",
    "ShapeNoteWarning": "fastcheck.errors",
    "StageError": "fastcheck.errors",
    "StepTooSmallError": "fastcheck.errors",
    "SweepFileError": "fastcheck.errors",
    "TargetError": "fastcheck.errors",
    "UncheckedArraysWarning": "fastcheck.errors",
    "UserFileError": "fastcheck.errors",
    "check_functions": "fastcheck.inputs.adapters",
    "check_object": "fastcheck.inputs.adapters",
    "check_jacobian": "fastcheck.inputs.layers",
    "check_jax": "fastcheck.inputs.jax_ops",
    "check_torch": "fastcheck.inputs.torch_ops",
    "check_loss": "fastcheck.inputs.lossfun",
    "check_module": "fastcheck.inputs.lossfun",
    "check_layer": "fastcheck.inputs.layers",
    "assert_gradients_match": "fastcheck.testing",
    "relative_difference": "fastcheck.verdicts.bands",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names come from __getattr__
    from fastcheck.checks.adjoint import check_adjoint
    from fastcheck.checks.directional import check_directional
    from fastcheck.checks.gradient import adaptive_gradient, check_gradient, numerical_gradient
    from fastcheck.checks.hessian import check_hessian
    from fastcheck.checks.hvp import check_hvp, check_jvp
    from fastcheck.checks.matrix import EntriesResult
    from fastcheck.checks.model import check_model
    from fastcheck.checks.result import CheckResult
    from fastcheck.checks.screen_result import ScreenResult
    from fastcheck.checks.sequential import check_sequential
    from fastcheck.checks.taylor import TaylorResult, taylor_test
    from fastcheck.core.layout import Layout
    from fastcheck.core.options import CheckOptions
    from fastcheck.core.steps import SCHEMES
    from fastcheck.errors import (
        CostError,
        DirectoryBusyError,
        GradientCheckFailed,
        GradientMismatchError,
        GridError,
        JitError,
        LayerError,
        LongRunWarning,
        NondeterministicCostWarning,
        NonFiniteCostError,
        PoolFallbackWarning,
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
        UncheckedArraysWarning,
        UserFileError,
    )
    from fastcheck.evaluators.pool.chunked import start_pool
    from fastcheck.inputs.adapters import check_functions, check_object
    from fastcheck.inputs.jax_ops import check_jax
    from fastcheck.inputs.layers import check_jacobian, check_layer
    from fastcheck.inputs.lossfun import check_loss, check_module
    from fastcheck.inputs.torch_ops import check_torch
    from fastcheck.testing import assert_gradients_match
    from fastcheck.verdicts.bands import relative_difference


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_"):
        try:  # a subpackage or module: fastcheck.models, fastcheck.sweep, fastcheck.config, ...
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
