"""Helpers for users' own test suites."""
from __future__ import annotations

from fastcheck.checks.gradient import check_gradient

__all__ = ["assert_gradients_match"]


def assert_gradients_match(cost_or_model, theta, grad=None, *, args=(), **options):
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
    """
    if hasattr(cost_or_model, "layout") and hasattr(cost_or_model, "grad") and grad is None:
        from fastcheck.checks.model import check_model

        result = check_model(cost_or_model, theta, *args, **options)
    else:
        if grad is None:
            raise TypeError("assert_gradients_match needs grad= for a cost function")
        result = check_gradient(cost_or_model, theta, grad, args=args, **options)
    if not result.passed:
        raise AssertionError("gradients do not match\n" + str(result))
    return result
