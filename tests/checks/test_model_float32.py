"""The built-in networks in float32 and by the complex step (structure-aware and black-box kernels).

References: the plain NumPy network of ``tests/naive.py`` run in the same precision (NumPy
keeps float32 as float32, and takes complex θ), and the model's float64 backprop.
"""
import numpy as np
import pytest

import fastcheck
from fastcheck import check_model
from fastcheck.evaluators.structured import BlackBoxModelEvaluator, LayeredEvaluator
from fastcheck.models import ACTIVATIONS, LOSSES, MLP, MUTANTS, SHOWCASE, backprop
from tests import naive

pytestmark = pytest.mark.filterwarnings("ignore::fastcheck.PrecisionWarning")

F32 = np.float32
# every activation × every loss, with L2 and dropout, depth 2; and two deeper networks
CONFIGS = [((4, 5, 3), a, loss, 0.1, 0.7) for a in ACTIVATIONS for loss in LOSSES]
CONFIGS += [((3, 4, 5, 2), ["tanh", "relu", "sigmoid"], "softmax_ce", 0.1, 0.8),
            ((5, 6, 4, 3), ["sigmoid", "softplus", "identity"], "sse", 0.0, 1.0)]


def _build(sizes, act, loss, l2, kp, batch=6, seed=0):
    model = MLP(sizes, activations=act, loss=loss, l2=l2, keep_prob=kp, dropout_seed=seed + 1)
    return model, model.init(seed=seed + 2), *model.sample_data(batch, seed=seed + 3)


def _gid(p):
    sizes, a, loss, l2, kp = p
    return f"{'x'.join(map(str, sizes))}-{a if isinstance(a, str) else '/'.join(a)}-{loss}"


def _naive_cost(model, X, y):
    """The NumPy cost of ``model`` on this batch, in θ's precision."""
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]

    def cost(theta):
        return naive.mlp_cost(theta, X, y, model.sizes, list(model.activation_names), model.loss,
                              model.l2, model.bias, masks)

    return cost


# -- float32 ---------------------------------------------------------------------------------------------
def test_float32_costs_are_computed_in_float32():
    """The float32 cost is a float32 value, agrees with NumPy float32 to float32 rounding, and
    is off the exact (float64) cost at the same rounded point by float32 rounding, not less:
    a network that promoted to float64 inside would agree with float64 to ~1e-15."""
    rel64 = []
    for params in CONFIGS:
        model, theta, X, y = _build(*params)
        t32 = theta.astype(F32)
        X32, y32 = X.astype(F32), y.astype(F32)
        J32 = backprop.mlp_cost(t32, *model.cost_args(X32, y32, "float32"))
        assert float(F32(J32)) == J32
        tol = naive.roundoff(len(X) + sum(model.sizes), F32)  # float32 sums in other orders
        assert model.cost(theta, X, y, dtype="float32") == pytest.approx(J32, rel=tol)
        assert J32 == pytest.approx(float(_naive_cost(model, X32, y32)(t32)), rel=tol, abs=1e-6)
        exact = float(_naive_cost(model, X32.astype(np.float64), y32.astype(np.float64))(t32.astype(np.float64)))
        assert J32 == pytest.approx(exact, rel=tol, abs=1e-6)
        rel64.append(abs(J32 - exact) / abs(exact))
    assert np.median(rel64) > 1e-10, rel64


@pytest.mark.parametrize("params", CONFIGS[::5] + CONFIGS[-2:], ids=_gid)
@pytest.mark.parametrize("eps", [1e-3, 0.3])
def test_float32_perturbed_costs_are_the_float32_costs(params, eps):
    model, theta, X, y = _build(*params, batch=5)
    t32 = theta.astype(F32)
    coords = np.arange(model.n_params)
    steps = np.full(len(coords), eps)
    offsets = np.array([-2.0, -1.0, 1.0])
    out = LayeredEvaluator(model, X, y, dtype="float32").stencil(t32, coords, steps, offsets)
    blackbox = BlackBoxModelEvaluator(model, X, y, dtype="float32").stencil(t32, coords, steps, offsets)
    cost = _naive_cost(model, X.astype(F32), y.astype(F32))
    ref = np.empty_like(out)
    for j, c in enumerate(coords):
        for k, o in enumerate(offsets):
            t = t32.copy()
            t[c] = t32[c] + o * eps  # rounded to float32 on the store, as the kernels do
            ref[j, k] = cost(t)
    tol = naive.roundoff(len(X) + sum(model.sizes), F32)  # float32 sums in the kernels' orders
    np.testing.assert_allclose(out, ref, rtol=tol, atol=1e-6)
    np.testing.assert_allclose(blackbox, ref, rtol=tol, atol=1e-6)
    # they are float32 values
    np.testing.assert_array_equal(out.astype(F32), out)


@pytest.mark.parametrize("params", CONFIGS[::3], ids=_gid)
def test_float32_check_of_a_correct_network(params):
    model, theta, X, y = _build(*params)
    r32 = check_model(model, theta.astype(F32), X, y)
    r64 = check_model(model, theta, X, y)
    assert r32.passed and r32.verdict in ("great", "ok"), str(r32)
    assert (r32.dtype, r64.dtype) == ("float32", "float64") and "central in float32" in str(r32)
    # float32 round-off shows (about sqrt(eps32) ~ 3e-4 of relative step noise at the default eps) ...
    assert 1e-8 < r32.difference < 1e-3
    assert r32.difference > 100 * r64.difference
    # ... and the two kernels agree within it
    b32 = check_model(model, theta.astype(F32), X, y, mode="blackbox")
    assert b32.passed
    assert fastcheck.relative_difference(r32.numerical, b32.numerical) < 1e-3


def test_float32_catches_the_showcase_mutants():
    model = MLP(**SHOWCASE)
    theta = model.init(seed=5).astype(F32)
    X, y = model.sample_data(8, seed=6)
    for name in MUTANTS:
        if not MUTANTS[name].visible(model):
            continue
        res = check_model(model.mutant(name), theta, X, y)
        assert not res.passed, name
        assert set(res.failing_blocks) <= set(MUTANTS[name].blocks(model)), (name, str(res))


# -- the complex step ------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", CONFIGS, ids=_gid)
def test_complex_step_of_every_activation_and_loss(params):
    """Structure-aware, black-box and plain NumPy complex steps agree to rounding, and all
    match the backprop to ~1e-15: no subtraction, so no round-off floor."""
    model, theta, X, y = _build(*params)
    s = check_model(model, theta, X, y, scheme="complex")
    b = check_model(model, theta, X, y, scheme="complex", mode="blackbox")
    ref = fastcheck.numerical_gradient(_naive_cost(model, X, y), theta, scheme="complex")
    scale = np.abs(ref).max()
    tol = naive.roundoff(len(X) + sum(model.sizes))  # no subtraction: the sums' rounding only
    np.testing.assert_allclose(s.numerical, ref, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(b.numerical, ref, rtol=tol, atol=tol * scale)
    assert s.path == "structured" and b.path == "parallel"
    assert s.verdict == "great" and s.passed and s.difference < 1e-13, str(s)
    assert len(s.kinks) == 0


@pytest.mark.parametrize("params", CONFIGS[1::4], ids=_gid)
def test_complex64_step(params):
    model, theta, X, y = _build(*params)
    t32 = theta.astype(F32)
    r = check_model(model, t32, X, y, scheme="complex")
    assert r.passed, str(r)
    assert 1e-10 < r.difference < 1e-5  # complex64 rounding, not complex128's
    ref = fastcheck.numerical_gradient(_naive_cost(model, X.astype(F32), y.astype(F32)), t32, scheme="complex")
    scale = np.abs(ref).max()
    np.testing.assert_allclose(r.numerical, ref, rtol=1e-4, atol=1e-5 * scale)


def test_complex_step_at_a_relu_kink_takes_backprops_branch():
    """z = 0 exactly on a ReLU unit: the central difference sees half the slope (a kink), the
    complex step sees the branch of Re z = 0, as backprop's relu'(0) = 0 does."""
    model = MLP([3, 5, 2], activations=["relu", "identity"], loss="mse")
    blocks = model.layout.unflatten(model.init(seed=1))
    blocks["W1"][:, 2] = 0.0
    blocks["b1"][2] = 0.0
    theta = model.layout.flatten(blocks)
    X, y = model.sample_data(10, seed=2)
    assert len(check_model(model, theta, X, y).kinks) == 4
    res = check_model(model, theta, X, y, scheme="complex")
    assert len(res.kinks) == 0 and res.passed and res.difference < 1e-13, str(res)


MUTANT_CASES = [name for name in MUTANTS if MUTANTS[name].visible(MLP(**SHOWCASE))]


@pytest.mark.parametrize("name", MUTANT_CASES)
def test_complex_step_catches_every_mutant_in_its_block(name):
    model = MLP(**SHOWCASE)
    theta = model.init(seed=5)
    X, y = model.sample_data(8, seed=6)
    res = check_model(model.mutant(name), theta, X, y, scheme="complex")
    assert not res.passed
    assert set(res.failing_blocks) <= set(MUTANTS[name].blocks(model)), str(res)


# deep networks whose first layer goes through the blocks' products, ending in the
# sigmoid output under a squared loss that the blocks take in one pass
DEEP = [((4, 6, 5, 3), "sigmoid", "mse", 0.1, 0.7), ((5, 4, 6, 2), ["tanh", "relu", "sigmoid"], "sse", 0.0, 1.0)]


@pytest.mark.parametrize("params", DEEP, ids=_gid)
def test_blocks_in_float32_and_by_the_complex_step(params):
    model, theta, X, y = _build(*params, batch=5)
    ref = fastcheck.numerical_gradient(_naive_cost(model, X, y), theta, scheme="complex")
    s = check_model(model, theta, X, y, scheme="complex")
    tol = naive.roundoff(len(X) + sum(model.sizes))
    np.testing.assert_allclose(s.numerical, ref, rtol=tol, atol=tol * np.abs(ref).max())
    t32 = theta.astype(F32)
    coords = np.arange(model.n_params)
    offsets = np.array([-1.0, 1.0])
    cost = _naive_cost(model, X.astype(F32), y.astype(F32))
    for eps in (1e-3, 0.3):  # the polynomial route, then moves too large for it
        out = LayeredEvaluator(model, X, y, dtype="float32").stencil(t32, coords, np.full(len(coords), eps), offsets)
        ref32 = np.empty_like(out)
        for j, c in enumerate(coords):
            for k, o in enumerate(offsets):
                t = t32.copy()
                t[c] = t32[c] + o * eps
                ref32[j, k] = cost(t)
        np.testing.assert_allclose(out, ref32, rtol=naive.roundoff(len(X) + sum(model.sizes), F32), atol=1e-6)


# -- threads and chunks ----------------------------------------------------------------------------------
def test_float32_and_complex_do_not_depend_on_threads(two_threads):
    model, theta, X, y = _build((6, 8, 5, 3), ["tanh", "relu", "sigmoid"], "softmax_ce", 0.1, 0.7, batch=11)
    for t, scheme in ((theta.astype(F32), "central"), (theta, "complex"), (theta.astype(F32), "complex")):
        r1 = check_model(model, t, X, y, scheme=scheme, threads=1)
        r2 = check_model(model, t, X, y, scheme=scheme, threads=two_threads)
        np.testing.assert_array_equal(r1.numerical, r2.numerical)


def test_inputs_are_not_modified():
    model, theta, X, y = _build((4, 5, 3), "relu", "bce", 0.1, 0.7)
    t32 = theta.astype(F32)
    before = t32.copy(), theta.copy(), X.copy(), y.copy()
    check_model(model, t32, X, y)
    check_model(model, theta, X, y, scheme="complex", mode="blackbox")
    check_model(model, t32, X, y, scheme="complex")
    for a, b in zip((t32, theta, X, y), before):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_float32_reference_gradient_is_the_derivative_of_the_float32_cost():
    """With dropout 1/0.7 and l2 = 0.1 (neither representable in float32), the float32 cost is a
    slightly different function; grad(precision="float32") is its exact derivative, checked
    against a complex step (complex128) of the NumPy cost with the float32-rounded factors."""
    model, theta, X, y = _build((4, 5, 3), "tanh", "mse", 0.1, 0.7)
    t32, X32, y32 = theta.astype(F32), X.astype(F32), y.astype(F32)
    mask = model.dropout_mask(len(X), F32).astype(np.float64)
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]
    l2 = float(F32(model.l2))

    def cost32(t):  # the float32 cost's definition, evaluated exactly enough (complex128)
        return naive.mlp_cost(t, X32.astype(np.float64), y32.astype(np.float64), model.sizes,
                              list(model.activation_names), model.loss, l2, model.bias, masks)

    ref = fastcheck.numerical_gradient(cost32, t32.astype(np.float64), scheme="complex")
    g32 = model.grad(t32, X, y, precision="float32")
    g64 = model.grad(t32, X32, y32)  # float64 factors: the float64 cost's derivative
    assert fastcheck.relative_difference(g32, ref) < 1e-14
    assert fastcheck.relative_difference(g64, ref) > 1e-10
    with pytest.raises(TypeError, match="not 'float16'"):
        model.grad(theta, X, y, precision="float16")
