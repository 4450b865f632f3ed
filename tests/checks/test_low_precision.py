"""check_gradient with θ in float16 or bfloat16: steps, error bars and bands from the format's own epsilon.

The costs compute in θ's format (NumPy's float16 arithmetic, ml_dtypes' bfloat16); the references are their
analytic derivatives.  A right gradient passes or is inconclusive, never wrong; in float16 a factor of 2 or a
missing term, far beyond the format's resolution, is wrong and named; in bfloat16 this cost's bars are wider
than its gradient, and a bug is inconclusive (never passed).
"""
import warnings

import numpy as np
import pytest

import fastcheck
from fastcheck.core.steps import absolute_steps, get_scheme
from fastcheck.core.validate import as_theta
from fastcheck.errors import PrecisionWarning

W = np.array([0.7, -1.3, 0.4, 2.1, -0.6, 1.1, 0.9, -1.7])


def _formats():
    out = [np.float16]
    try:
        import ml_dtypes
    except ImportError:
        return out
    return out + [ml_dtypes.bfloat16]


FORMATS = _formats()


def cost_in(dtype):
    w = W.astype(dtype)

    def cost(t):  # every operation in θ's format: sin, products, and a format-rounded sum
        terms = (np.sin(t) * w + t * t).astype(dtype)
        return float(np.sum(terms.astype(np.float64)))

    return cost


def grad_of(t, factor=1.0, square=True):
    x = np.asarray(t, np.float64)
    return factor * np.cos(x) * W + (2 * x if square else 0.0)


def _theta(dtype):
    return np.linspace(-1.5, 2.0, len(W)).astype(dtype)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="theta is (float16|bfloat16)", category=PrecisionWarning)
        yield


@pytest.mark.parametrize("dtype", FORMATS, ids=lambda t: np.dtype(t).name)
def test_a_right_gradient_is_never_wrong(dtype):
    theta = _theta(dtype)
    result = fastcheck.check_gradient(cost_in(dtype), theta, grad_of(theta), layout={"a": 3, "b": 5}, workers=1)
    assert result.verdict != "wrong" and not result.wrong_blocks, result.to_string()
    assert result.dtype == np.dtype(dtype).name and result.precision == np.dtype(dtype).name
    assert result.passed or result.reason, result.to_string()


@pytest.mark.parametrize("dtype", FORMATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("bug", ["factor-2", "missing-term"])
def test_a_bug_resolvable_at_the_format_is_wrong_and_named(dtype, bug):
    theta = _theta(dtype)
    g = grad_of(theta)
    if bug == "factor-2":
        g[:3] *= 2  # in block a only
    else:
        g[3:] = grad_of(theta, square=False)[3:]  # block b forgets the t² term
    result = fastcheck.check_gradient(cost_in(dtype), theta, g, layout={"a": 3, "b": 5}, workers=1)
    want = ["a"] if bug == "factor-2" else ["b"]
    if np.dtype(dtype).name == "float16":
        assert result.wrong_blocks == want, result.to_string()
    else:  # bfloat16's bars are wider than this gradient (|J| ≈ 11, ε = 2^-7): never passed, never misnamed
        assert not result.passed and set(result.wrong_blocks) <= set(want), result.to_string()
        assert result.resolution > 0.5


@pytest.mark.parametrize("dtype", FORMATS, ids=lambda t: np.dtype(t).name)
def test_steps_come_from_the_formats_epsilon_and_always_move_theta(dtype):
    """jax #7742: a fixed step of 1e-4 is below float16's resolution at |x| ≥ 1/4 (θ + h rounds back to θ).
    The default step here is ε^(1/3)·max(1, |θ_i|) of the format, and the step taken is the one the rounded
    point really moved by."""
    theta = _theta(dtype)
    eps = float(np.finfo(dtype).eps)
    fixed = (theta + np.asarray(1e-4, dtype)).astype(np.float64) - theta.astype(np.float64)
    big = np.abs(theta.astype(np.float64)) >= 0.25
    assert big.sum() >= 6 and np.all(fixed[big] == 0)  # the fixed step does not move θ
    h = absolute_steps(theta, np.arange(len(theta)), get_scheme("central"), None)
    x = theta.astype(np.float64)
    moved = (x + h).astype(dtype).astype(np.float64)
    np.testing.assert_array_equal(moved - x, h)  # θ_i + h is a number of the format: what the cost sees
    assert np.all(h > 0)
    # within the rounding of θ_i + h (half an ulp of it) of the nominal ε^(1/3)·max(1, |θ_i|)
    nominal = eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
    assert np.all(np.abs(h - nominal) <= eps * (np.abs(x) + nominal))
    result = fastcheck.check_gradient(cost_in(dtype), theta, grad_of(theta), workers=1)
    np.testing.assert_array_equal(result.steps, h)


def test_only_the_per_coordinate_check_takes_low_precision():
    theta = _theta(np.float16)
    with pytest.raises(TypeError, match="float64, or float32"):
        as_theta(theta)
    assert as_theta(np.zeros(2, np.float32), low_precision=True).dtype == np.float32
    with pytest.warns(PrecisionWarning, match="theta is float16"):
        as_theta(theta, low_precision=True)
    with pytest.raises(ValueError, match="complex"):
        fastcheck.check_gradient(cost_in(np.float16), theta, grad_of(theta), scheme="complex")
    with pytest.raises(ValueError, match="Numba does not compile float16"):
        fastcheck.check_gradient(cost_in(np.float16), theta, grad_of(theta), jit=True)
    with pytest.raises(TypeError, match="float64, or float32"):
        fastcheck.check_directional(cost_in(np.float16), theta, grad_of(theta))
