"""A user's test file, run by tests/testing/test_plugin.py in a subprocess with the fastcheck pytest plugin.

test_right_gradient passes; test_wrong_gradient fails (its bias gradient lacks a factor);
test_planted_bug_is_caught passes (expect="wrong"); test_pinned_full always runs every coordinate.
"""
import numpy as np
import pytest

from fastcheck import Layout

LAYOUT = Layout.from_shapes({"W": (3, 2), "b": (2,)})
X = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def cost(theta):
    p = LAYOUT.unflatten(theta)
    return float(np.sum(np.tanh(X @ p["W"] + p["b"]) ** 2))


def grad(theta):
    p = LAYOUT.unflatten(theta)
    a = np.tanh(X @ p["W"] + p["b"])
    d = 2 * a * (1 - a**2)
    return LAYOUT.flatten({"W": X.T @ d, "b": d.sum(axis=0)})


def wrong_grad(theta):
    g = grad(theta)
    g[LAYOUT.block_slice("b")] *= 0.5  # forgot the factor 2 in the bias gradient
    return g


THETA = np.linspace(-0.5, 0.7, LAYOUT.size)


def test_right_gradient(gradcheck):
    result = gradcheck(cost, THETA, grad, layout=LAYOUT, jit=False)
    assert result.passed


def test_wrong_gradient(gradcheck):
    gradcheck(cost, THETA, wrong_grad, layout=LAYOUT, jit=False)


def test_planted_bug_is_caught(gradcheck):
    result = gradcheck(cost, THETA, wrong_grad, layout=LAYOUT, jit=False, expect="wrong")
    assert "b" in result.failing_blocks


@pytest.mark.gradcheck(depth="full")
def test_pinned_full(gradcheck):
    result = gradcheck(cost, THETA, grad, layout=LAYOUT, jit=False)
    assert result.kind == "coordinates" and len(result.coords) == LAYOUT.size


def test_result_comparison_explains_itself(gradcheck):
    result = gradcheck.directional(cost, THETA, wrong_grad, layout=LAYOUT, expect="fail")
    assert result == "passed"   # fails: pytest_assertrepr_compare shows the result's table


def test_no_fixture_no_marker():
    assert True
