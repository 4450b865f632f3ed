"""Kinks (verdicts.kinks): a ReLU network nobody here wrote, corners and smooth stationary points."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck import check_model
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import MLP
from fastcheck.verdicts import errorbars, ladder
from tests import smooth
from tests.verdicts.shared import check_quietly


# -- a ReLU network nobody here wrote: plain NumPy, its own backprop --------------------------------
def relu_forward(X, Y, p):
    Z1 = X @ p["W1"] + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ p["W2"] + p["b2"]
    Z2 = Z2 - Z2.max(axis=1, keepdims=True)
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    cost = -np.sum(Y * np.log(P)) / len(X)
    return cost, (X, Z1, A1, P, p)


def relu_backward(X, Y, cache, bug=None):
    X, Z1, A1, P, p = cache
    dZ2 = (P - Y) / len(X)
    dW2 = A1.T @ dZ2
    if bug == "W2":
        dW2 = dW2 * 1.02
    db2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ p["W2"].T) * (Z1 > 0)
    return {"dW1": X.T @ dZ1, "db1": dZ1.sum(axis=0), "dW2": dW2, "db2": db2}


@pytest.fixture(scope="module")
def relu_net_near_a_kink():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 4))
    Y = np.eye(3)[rng.integers(0, 3, 8)]
    p = {"W1": rng.standard_normal((4, 6)) * 0.5, "b1": rng.standard_normal(6) * 0.1,
         "W2": rng.standard_normal((6, 3)) * 0.5, "b2": np.zeros(3)}
    # hidden unit 2 of sample 0 sits 1e-7 below its corner: a step of ~6e-6 in b1[2] crosses it
    z = X[0] @ p["W1"][:, 2] + p["b1"][2]
    p["b1"][2] -= z + 1e-7
    return X, Y, p


def test_correct_relu_network_near_a_kink_passes_with_the_kink_listed(relu_net_near_a_kink):
    X, Y, p = relu_net_near_a_kink
    r = fc.check_functions(relu_forward, relu_backward, p, X, Y)
    assert r.passed, str(r)
    assert ("b1", "[2]") in set(zip(r.kinks["block"], r.kinks["index"])), str(r)
    assert np.all(np.isfinite(r.kinks[["left", "right"]].to_numpy()))
    assert "kink" in str(r)


def test_a_bug_in_the_relu_network_names_only_its_block(relu_net_near_a_kink):
    X, Y, p = relu_net_near_a_kink
    r = fc.check_functions(relu_forward, lambda X, Y, c: relu_backward(X, Y, c, bug="W2"), p, X, Y)
    assert not r.passed and r.verdict == "wrong"
    assert r.failing_blocks == ["W2"], str(r)
    assert "wrong in W2" in r.headline()


def _kink_flags(f, x):
    from fastcheck.verdicts import kinks

    ev = LoopEvaluator(f)
    mach = np.finfo(np.float64).eps
    coords = np.arange(len(x))
    lad, _ = ladder.evaluate(ev, x, coords, errorbars.ladder_base(x, coords, mach), ev.value(x), mach)
    kink, at_theta, left, right = kinks.find(lad, ladder.REFINE_RUNGS.index(1))
    return kink, at_theta, left, right


def test_smooth_stationary_points_are_not_kinks():
    """Where J'' vanishes (x⁴, x⁶ at 0) the one-sided mismatch shrinks like t³ or t⁵, not like t:
    smooth all the same, so no kink; Ackley's stationary point at 100·x0 (every cosine at a
    crest) neither.  ReLU corners at θ and within the step still are kinks."""
    for f, x in [(lambda t: 1e6 * np.sum(t**4), np.zeros(3)), (lambda t: np.sum(t**4) + 1e-3 * np.sum(t**2), np.zeros(2)),
                 (lambda t: 1e12 * np.sum(t**6), np.zeros(2)),
                 (smooth.ackley, 100 * (np.linspace(-2.0, 3.0, 10) + 0.3))]:
        kink, _, _, _ = _kink_flags(f, x)
        assert not kink.any()
    kink, at_theta, left, right = _kink_flags(lambda t: np.sum(np.maximum(t, 0.0)), np.array([0.0, 1e-7, -3e-6, 1.0]))
    assert kink.tolist() == [True, True, True, False] and at_theta.tolist() == [True, False, False, False]
    np.testing.assert_allclose([left[0], right[0]], [0.0, 1.0], atol=1e-12)


def test_ackley_origin_is_a_corner_not_a_precision_problem():
    """At 0 Ackley is a cone (√(Σx²)): one-sided slopes ∓4/√n along each axis, so a kink at θ,
    where any slope between them is a valid subgradient and one outside is wrong.  J(0) is
    4.4e-16, pure cancellation: the precision probe must not read that as a lower precision
    (it once read ε ≈ 674 there, took steps of 8.8 and passed any gradient)."""
    n = 2
    slope = 4 / np.sqrt(n)  # d/dt of −20·exp(−0.2·|t|/√n) at 0⁺
    r = check_quietly(smooth.ackley, np.zeros(n), np.array([1e-2, 0.0]))
    assert r.passed and r.precision == "float64" and np.all(r.steps < 1e-4), str(r)
    assert r.kinks["coord"].tolist() == [0]
    np.testing.assert_allclose(r.kinks[["left", "right"]].to_numpy()[0], [-slope, slope], rtol=1e-4)
    r = check_quietly(smooth.ackley, np.zeros(n), np.array([1.5 * slope, 0.0]))
    assert r.verdict == "wrong" and r.precision == "float64", str(r)


def test_cancelled_float64_values_are_not_read_as_float32():
    from fastcheck.verdicts.precision import _significant_bits

    assert _significant_bits(np.array([0.0, 1.0, 0.75, np.float32(0.1), 0.1])).tolist() == [0, 1, 2, 24, 52]
    # J = 20 − 20·exp(−|t|/5) + t: near 0 a few-bit multiple of ulp(20), float32-representable
    f = lambda t: 20 - 20 * np.exp(-np.sqrt(np.sum(t * t)) / 5) + 1e-14 * np.sum(t)  # noqa: E731
    r = check_quietly(f, np.zeros(2), np.array([1e-14, 1e-14]))
    assert r.precision == "float64", str(r)


def test_generic_kinks_agree_with_the_built_in_exact_flags():
    """The built-in ReLU network's cost run as a black box (no exact flags): every kink the
    ladder finds is one the structure-aware kernel flags exactly, and the check still passes."""
    model = MLP([3, 5, 2], activations=["relu", "identity"], loss="mse")
    theta = model.init(seed=1)
    blocks = model.layout.unflatten(theta.copy())
    blocks["W1"][:, 2] = 0.0
    blocks["b1"][2] = 0.0
    theta = model.layout.flatten(blocks)
    X, y = model.sample_data(10, seed=2)
    Xc, Yc = model.validate_data(X, y)
    exact = check_model(model, theta, X, y)
    generic = fc.check_gradient(model.jit_cost, theta, model.grad(theta, X, y), args=model.cost_args(Xc, Yc),
                                layout=model.layout)
    assert generic.passed and exact.passed, str(generic)
    found = set(generic.kinks["coord"])
    assert found, str(generic)
    # exact flags for the ladder's steps: any pre-activation changes side over the ladder's range
    coords = np.array(sorted(found), np.int64)
    base = errorbars.ladder_base(theta, coords, np.finfo(float).eps)
    flags = LayeredEvaluator(model, Xc, Yc).kinks(theta, coords, base * 2.0 ** max(ladder.REFINE_RUNGS))
    assert flags.all(), (found, flags)
    assert set(exact.kinks["coord"]) == found  # here every exactly-flagged coordinate disagrees enough to be laddered


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_relu_tie_is_a_kink_in_float32_too(dtype):
    """At a tie (x exactly 0) the slope jump hides under round-off at the smallest rungs of a float32 ladder:
    the corner is still at θ (its mismatch stays the jump down to where round-off would hide it), and an
    analytic slope between the one-sided ones is a kink; one outside them stays wrong."""
    d = np.array([0.3, -0.5, 0.7, 0.2])
    x = np.array([0.0, 1.0, -1.0, 0.0], dtype=dtype)

    def cost(t):
        return float(np.sum(d * 2 * np.maximum(t, 0).astype(dtype)))

    right = 2 * d * (x > 0)
    ok = fc.check_gradient(cost, x, right, jit=False, workers=1)
    assert ok.passed and list(ok.status) == ["kink", "agree", "zero", "kink"]
    outside = right.copy()
    outside[0] = 1.5 * 2 * d[0]  # beyond the right-hand slope 2·d₀
    bad = fc.check_gradient(cost, x, outside, jit=False, workers=1)
    assert list(bad.status) == ["wrong", "agree", "zero", "kink"]
