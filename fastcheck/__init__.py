"""fastcheck: fast, parallel gradient checking for hand-written backprop.

The public API, re-exported; sweeps live in :mod:`fastcheck.sweep`, the
built-in networks in :mod:`fastcheck.models`.

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
    "SCHEMES": "fastcheck.core.steps",
    "CheckResult": "fastcheck.checks.result",
    "JitError": "fastcheck.errors",
    "Layout": "fastcheck.core.layout",
    "NonFiniteCostError": "fastcheck.errors",
    "NondeterministicCostWarning": "fastcheck.errors",
    "PrecisionWarning": "fastcheck.errors",
    "adaptive_gradient": "fastcheck.checks.gradient",
    "assert_gradients_match": "fastcheck.testing",
    "check_directional": "fastcheck.checks.gradient",
    "check_functions": "fastcheck.inputs.adapters",
    "check_gradient": "fastcheck.checks.gradient",
    "check_jacobian": "fastcheck.inputs.layers",
    "check_layer": "fastcheck.inputs.layers",
    "check_model": "fastcheck.checks.model",
    "check_object": "fastcheck.inputs.adapters",
    "check_sequential": "fastcheck.checks.sequential",
    "numerical_gradient": "fastcheck.checks.gradient",
    "relative_difference": "fastcheck.verdicts.bands",
}

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

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names come from __getattr__
    from fastcheck.checks.gradient import adaptive_gradient, check_directional, check_gradient, numerical_gradient
    from fastcheck.checks.model import check_model
    from fastcheck.checks.result import CheckResult
    from fastcheck.checks.sequential import check_sequential
    from fastcheck.core.layout import Layout
    from fastcheck.core.steps import SCHEMES
    from fastcheck.errors import JitError, NondeterministicCostWarning, NonFiniteCostError, PrecisionWarning
    from fastcheck.inputs.adapters import check_functions, check_object
    from fastcheck.inputs.layers import check_jacobian, check_layer
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
