"""Helpers for users' own test suites.

* :func:`assert_gradients_match`: one assertion, any test runner.
* :mod:`fastcheck.testing.plugin`: the pytest plugin (installed with fastcheck, loaded by pytest itself):
  the ``gradcheck`` fixture, the ``@pytest.mark.gradcheck`` marker, ``--gradcheck=full|screen|off``.
* :mod:`fastcheck.testing.strategies`: Hypothesis strategies that draw θ for a :class:`~fastcheck.Layout`.

This package imports nothing heavy at import time (pytest loads the plugin in every run where fastcheck
is installed): NumPy, Numba and pandas come in with the first check.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastcheck.errors import GradientCheckFailed

if TYPE_CHECKING:
    from fastcheck.checks.result import CheckResult

__all__ = ["GradientCheckFailed", "assert_gradients_match", "failure_message"]


def failure_message(result: CheckResult, what: str = "gradients do not match") -> str:
    """What a failed check says in a test report: the headline, the per-block table, the worst coordinates."""
    return f"{what}\n{result.to_string()}"


def assert_gradients_match(cost_or_model: Any, theta: Any, grad: Any = None, *, args: tuple = (),
                           **options: Any) -> CheckResult:
    """Raise ``AssertionError`` unless the gradient check passes.

    Parameters
    ----------
    cost_or_model : callable or built-in model
        A cost ``cost(theta, *args)`` (then ``grad`` is the analytic gradient:
        array, dict or callable), or a :mod:`fastcheck.models` network (then
        ``args=(X, y)`` and ``grad`` is left out: its own backprop is checked
        with the structure-aware kernel).
    **options
        As for :func:`fastcheck.check_gradient`.

    Returns
    -------
    CheckResult
        The passing result, for further assertions.

    Raises
    ------
    GradientCheckFailed
        (an ``AssertionError``) carrying the per-block table and the worst coordinates, and the result
        as ``.result``.
    """
    if hasattr(cost_or_model, "layout") and hasattr(cost_or_model, "grad") and grad is None:
        from fastcheck.checks.model import check_model

        result = check_model(cost_or_model, theta, *args, **options)
    else:
        if grad is None:
            raise TypeError("assert_gradients_match needs grad= for a cost function")
        from fastcheck.checks.gradient import check_gradient

        result = check_gradient(cost_or_model, theta, grad, args=args, **options)
    if not result.passed:
        raise GradientCheckFailed(failure_message(result), result)
    return result
