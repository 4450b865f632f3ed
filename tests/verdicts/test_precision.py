"""The precision a cost computes in (verdicts.precision): float32 costs under float64 θ, the user's dtype kept."""
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck import check_model
from fastcheck.models import MLP, SHOWCASE


# -- precision ----------------------------------------------------------------------------------------
def test_a_float32_cost_under_float64_theta_is_named_and_passes():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 20)).astype(np.float32)
    theta = rng.standard_normal(20)

    def cost(t):
        t32 = t.astype(np.float32)
        return float(np.float32(0.5) * t32 @ (A @ t32) + np.sum(np.sin(t32)))

    grad = 0.5 * (A + A.T).astype(np.float64) @ theta + np.cos(theta)
    with pytest.warns(fc.PrecisionWarning, match="computes in float32"):
        r = fc.check_gradient(cost, theta, grad, jit=False)
    assert r.passed and r.precision == "float32", str(r)
    bad = grad.copy()
    bad[3] *= 1.01
    with pytest.warns(fc.PrecisionWarning):
        rb = fc.check_gradient(cost, theta, bad, jit=False)
    assert rb.verdict == "wrong" and rb.worst(1)["index"].iloc[0] == "[3]", str(rb)


@pytest.mark.filterwarnings("ignore::fastcheck.PrecisionWarning")
def test_float32_theta_still_fails_a_small_error_in_one_block():
    model = MLP(**SHOWCASE)
    theta = model.init(seed=5).astype(np.float32)
    X, y = model.sample_data(8, seed=6)
    good = check_model(model, theta, X, y)
    assert good.passed, str(good)
    # a 0.3 % error in one block of the float32 model's gradient
    from fastcheck.checks.gradient import run_check
    from fastcheck.core.options import CheckOptions
    from fastcheck.evaluators.structured import LayeredEvaluator as LE

    Xc, Yc = model.validate_data(X, y, "float32")
    g = model.grad(theta, X, y, precision="float32")
    block = model.layout.names[-2]
    a, b = model.layout.offsets[-3], model.layout.offsets[-2]
    bad = g.copy()
    bad[a:b] *= 1.003
    r = run_check(LE(model, Xc, Yc, dtype="float32"), theta, bad, CheckOptions(layout=model.layout))
    assert not r.passed and r.wrong_blocks == [block], str(r)


def test_adapters_keep_the_users_dtype():
    X = np.ones((2, 3), np.float32)
    Y = np.ones((2, 1), np.float32)
    params = {"W": np.full((3, 1), 0.5, np.float32)}
    seen = []

    def forward(X, Y, p):
        seen.append(p["W"].dtype)
        out = X @ p["W"]
        return float(np.sum((out - Y) ** 2)), (X, Y, out)

    def backward(X, Y, cache):
        X, Y, out = cache
        return {"dW": X.T @ (2 * (out - Y))}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fc.PrecisionWarning)
        r = fc.check_functions(forward, backward, params, X, Y)
    assert r.dtype == "float32" and set(seen) == {np.dtype(np.float32)}
    assert r.passed, str(r)


def test_a_float16_cost_near_zero_by_cancellation_shows_more_noise_than_its_epsilon():
    """J = Σ wᵢ·sin(θᵢ) rounded term by term to float16 and summed to ≈ 0: each value carries the rounding of
    terms ~1, far more than ε·|J|.  The probe on θ's own grid reads it (and a J of the terms' size does not)."""
    from fastcheck.evaluators.loop import LoopEvaluator
    from fastcheck.verdicts import precision

    theta = np.array([0.5, 1.25, -0.75, 2.0, -1.5, 0.25], np.float16)
    x = theta.astype(np.float64)
    w = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])

    def terms(t, shift):
        return float(np.sum((np.sin(t) * w.astype(np.float16)).astype(np.float64))) + shift

    shift = -terms(theta, 0.0) + 1e-3  # J(θ) = 1e-3, terms of size 1
    grad = np.cos(x) * w
    small = precision.detect_low(LoopEvaluator(lambda t: terms(t, shift)), theta, np.arange(6), grad,
                                 terms(theta, shift))
    assert small.name == "float16" and not small.lower
    assert small.mach > 50 * 2.0**-10  # rounding of terms ~1, relative to |J| = 1e-3
    big = precision.detect_low(LoopEvaluator(lambda t: terms(t, 10.0)), theta, np.arange(6), grad,
                               terms(theta, 10.0))
    assert big.mach == 2.0**-10  # relative to |J| ≈ 10 the terms' rounding is below ε
