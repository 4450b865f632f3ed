"""The built-in networks: cost and backprop against plain NumPy references, mutants, API."""
import pickle

import numpy as np
import pytest

import fastcheck
from fastcheck.models import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    MUTANT_DESCRIPTIONS,
    MUTANTS,
    SHOWCASE,
    Mutant,
    backprop,
    tutorial_network,
)
from tests import naive

ACTS = list(ACTIVATIONS)
LOSS_NAMES = list(LOSSES)

# Each activation × each loss at depth 2 (with L2 and dropout), plus depths 1-4.
CONFIGS = [dict(sizes=(3, 4, 2), activations=a, loss=loss, l2=0.1, keep_prob=0.75) for a in ACTS for loss in LOSS_NAMES]
CONFIGS += [
    dict(sizes=(4, 3), activations="tanh", loss="mse"),
    dict(sizes=(4, 3), activations="identity", loss="softmax_ce", l2=0.3),
    dict(sizes=(3, 5, 4, 2), activations=["softplus", "leaky_relu", "sigmoid"], loss="bce", keep_prob=0.6),
    dict(sizes=(2, 4, 3, 3, 2), activations=["tanh", "relu", "sigmoid", "identity"], loss="sse", l2=0.05,
         keep_prob=0.8, dropout_seed=3),
    dict(sizes=(3, 4, 1), activations="sigmoid", loss="sse", bias=False),
]


def _id(cfg):
    acts = cfg["activations"] if isinstance(cfg["activations"], str) else "-".join(cfg["activations"])
    extra = "".join(f"-{k}{v}" for k, v in cfg.items() if k in ("l2", "keep_prob", "bias"))
    return f"{'x'.join(map(str, cfg['sizes']))}-{acts}-{cfg['loss']}{extra}"


@pytest.fixture(scope="module", params=CONFIGS, ids=_id)
def problem(request):
    model = MLP(**request.param)
    theta = model.init(seed=7)
    X, y = model.sample_data(5, seed=11)
    return model, theta, X, y


def _masks(model, batch):
    mask = model.dropout_mask(batch)
    cols = np.cumsum([0] + list(model.sizes))
    return [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]


# -- cost and gradient against the references ------------------------------------------------------
def test_cost_matches_numpy_reference(problem):
    model, theta, X, y = problem
    ref = naive.mlp_cost(theta, X, y, model.sizes, list(model.activation_names), model.loss, model.l2, model.bias,
                         _masks(model, len(X)))
    assert model.cost(theta, X, y) == pytest.approx(ref, rel=1e-12, abs=1e-14)


def test_grad_matches_numpy_finite_differences(problem):
    model, theta, X, y = problem
    num, _ = naive.mlp_numerical_gradient(model, theta, X, y, eps=1e-6)
    g = model.grad(theta, X, y)
    # central differences with eps=1e-6: truncation ~1e-12·J''', round-off ~1e-10·|J|
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    assert fastcheck.relative_difference(g, num) < 1e-7


def test_jit_cost_is_the_cost(problem):
    model, theta, X, y = problem
    args = model.cost_args(X, y)
    assert model.jit_cost(theta, *args) == model.cost(theta, X, y)
    # the row-loop form rounds differently from the BLAS form (whose kernel depends on the CPU)
    n = len(X) + sum(model.sizes)
    assert backprop.mlp_cost(theta, *args) == pytest.approx(model.cost(theta, X, y), rel=naive.roundoff(n))
    # and, to rounding, as the forward pass the backprop keeps (its products are BLAS products)
    g = np.empty(model.n_params)
    assert backprop.mlp_grad(theta, *args, g) == pytest.approx(model.cost(theta, X, y),
                                                                           rel=naive.roundoff(n))


def test_grad_matches_numpy_backprop(problem):
    """The Numba backprop (BLAS products) against a plain NumPy backprop written from the
    definitions: the same sums in other orders, so equal to the round-off of the longest one."""
    model, theta, X, y = problem
    ref = naive.mlp_backprop(theta, X, y, model.sizes, list(model.activation_names), model.loss, model.l2,
                             model.bias, _masks(model, len(X)))
    tol = naive.roundoff(len(X) + sum(model.sizes))
    np.testing.assert_allclose(model.grad(theta, X, y), ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_tutorial_network_is_the_seeds():
    model, theta, X, y = tutorial_network()
    ref = naive.SeedNetwork(seed=0)
    X0, y0 = naive.seed_data()
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert y.shape == (3, 1) and X.shape == (3, 2)
    assert model.sizes == (2, 3, 1) and not model.bias and model.loss == "sse"
    assert model.layout.names == ("W1", "W2") and model.layout.shapes == ((2, 3), (3, 1))
    np.testing.assert_array_equal(theta, ref.getParams())
    tol = naive.roundoff(len(X) + sum(model.sizes))  # the same sums in another order
    assert model.cost(theta, X, y) == pytest.approx(ref.costFunction(X, y), rel=tol)
    g = ref.computeGradients(X, y)
    np.testing.assert_allclose(model.grad(theta, X, y), g, rtol=tol, atol=tol * np.abs(g).max())


def test_tutorial_network_checks_great_on_the_parallel_path():
    model, theta, X, y = tutorial_network()
    res = fastcheck.check_gradient(model.jit_cost, theta, model.grad, args=model.cost_args(X, y), layout=model.layout)
    assert res.path == "parallel"
    assert res.verdict == "great" and res.passed
    assert list(res.blocks["block"]) == ["W1", "W2"]


# -- mutants ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def showcase():
    model = MLP(**SHOWCASE)
    theta = model.init(seed=3)
    X, y = model.sample_data(6, seed=4)
    return model, theta, X, y, model.grad(theta, X, y)


def test_mutant_registry():
    assert len(MUTANTS) >= 8
    assert list(MUTANT_DESCRIPTIONS) == list(MUTANTS)
    for name, text in MUTANT_DESCRIPTIONS.items():
        assert isinstance(text, str) and text and "\n" not in text
        assert isinstance(MUTANTS[name], Mutant) and MUTANTS[name].name == name
        assert MUTANTS[name].description == text
    for kind in ("activation", "l2", "bias", "transpose", "multipl", "layer 2", "batch size", "dropout"):
        assert any(kind in t.lower() for t in MUTANT_DESCRIPTIONS.values()), kind


def test_mutant_info_is_the_old_name_of_mutants():
    import fastcheck.models
    import fastcheck.models.mutants

    with pytest.warns(DeprecationWarning, match="MUTANTS"):
        assert fastcheck.models.MUTANT_INFO is MUTANTS
    with pytest.warns(DeprecationWarning, match="MUTANTS"):
        assert fastcheck.models.mutants.MUTANT_INFO is MUTANTS


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_breaks_only_its_blocks(showcase, name):
    model, theta, X, y, g = showcase
    bad = model.mutant(name)
    info = MUTANTS[name]
    assert info.visible(bad)
    assert bad.bug == name and bad.layout == model.layout
    assert bad.cost(theta, X, y) == model.cost(theta, X, y)
    gb = bad.grad(theta, X, y)
    blocks = info.blocks(model)
    assert blocks
    for block in model.layout.names:
        sl = model.layout.block_slice(block)
        if block in blocks:
            assert not np.allclose(gb[sl], g[sl], rtol=1e-3, atol=1e-8), f"{name} left {block} intact"
        else:
            np.testing.assert_array_equal(gb[sl], g[sl], err_msg=f"{name} changed {block}")


INVISIBLE = {
    "activation_derivative": dict(activations=["relu", "tanh", "tanh"]),
    "no_l2_grad": dict(l2=0.0),
    "bias_axis": dict(bias=False),
    "transposed_weight": dict(sizes=(1, 5, 4, 2)),
    "off_by_one_layer": dict(activations=["identity", "tanh", "tanh"]),
    "missing_1_over_m": dict(loss="sse"),
    "dropout_backward": dict(keep_prob=1.0),
    "l2_doubled": dict(l2=0.0),
    "bias_regularized": dict(bias=False),
}


@pytest.mark.parametrize("name", [n for n in MUTANTS if n in INVISIBLE])
def test_mutant_visibility_is_declared_truthfully(name):
    model = MLP(**{**SHOWCASE, **INVISIBLE[name]})
    bad = model.mutant(name)
    assert not MUTANTS[name].visible(bad)
    theta = model.init(seed=5)
    X, y = model.sample_data(4, seed=6)
    np.testing.assert_array_equal(bad.grad(theta, X, y), model.grad(theta, X, y))


def test_unknown_mutant():
    with pytest.raises(ValueError, match="unknown mutant 'nope'"):
        tutorial_network()[0].mutant("nope")


# -- the model object -----------------------------------------------------------------------------------
def test_layout_and_spec_roundtrip():
    model = MLP([4, 6, 3], activations=["relu", "identity"], loss="softmax_ce", l2=0.01, keep_prob=0.9,
                dropout_seed=2)
    assert model.layout.names == ("W1", "b1", "W2", "b2")
    assert model.layout.shapes == ((4, 6), (6,), (6, 3), (3,))
    assert model.n_params == 4 * 6 + 6 + 6 * 3 + 3
    again = MLP(**model.spec)
    assert again == model and again.spec == model.spec
    assert MLP(**model.mutant("bias_axis").spec).bug == "bias_axis"
    assert model.mutant("bias_axis").correct == model


def test_pickle_keeps_cost_and_grad():
    model = MLP([3, 4, 2], activations="tanh", loss="mse", keep_prob=0.5).mutant("dropout_backward")
    theta = model.init(1)
    X, y = model.sample_data(4)
    back = pickle.loads(pickle.dumps(model))
    assert back == model
    assert back.cost(theta, X, y) == model.cost(theta, X, y)
    np.testing.assert_array_equal(back.grad(theta, X, y), model.grad(theta, X, y))


def test_sample_data_targets_suit_the_loss():
    for loss in LOSS_NAMES:
        model = MLP([3, 4], loss=loss)
        X, y = model.sample_data(50, seed=1)
        assert X.shape == (50, 3) and y.shape == (50, 4)
        if loss == "softmax_ce":
            assert set(np.unique(y)) == {0.0, 1.0} and np.all(y.sum(axis=1) == 1)
        elif loss == "bce":
            assert set(np.unique(y)) == {0.0, 1.0}
        else:
            assert np.all((y > 0) & (y < 1)) and len(np.unique(y)) == y.size
        X2, y2 = model.sample_data(50, seed=1)
        np.testing.assert_array_equal(X, X2)
        np.testing.assert_array_equal(y, y2)


def test_dropout_mask_is_fixed_and_inverted():
    model = MLP([3, 40, 30, 2], keep_prob=0.75, dropout_seed=9)
    m = model.dropout_mask(200)
    assert m is model.dropout_mask(200)
    np.testing.assert_array_equal(m, MLP(**model.spec).dropout_mask(200))
    hidden = m[:, 3 : 3 + 40 + 30]
    assert set(np.unique(hidden)) == {0.0, 1 / 0.75}
    assert abs(np.mean(hidden > 0) - 0.75) < 0.02
    np.testing.assert_array_equal(m[:, :3], 1.0)
    np.testing.assert_array_equal(m[:, -2:], 1.0)
    assert not np.array_equal(m, MLP(**{**model.spec, "dropout_seed": 10}).dropout_mask(200))
    np.testing.assert_array_equal(MLP([3, 40, 2]).dropout_mask(5), 1.0)


def test_forward_is_the_network_output():
    model, theta, X, y = tutorial_network()
    z = 1 / (1 + np.exp(-(X @ theta[:6].reshape(2, 3))))
    out = 1 / (1 + np.exp(-(z @ theta[6:].reshape(3, 1))))
    np.testing.assert_allclose(model.forward(theta, X), out, rtol=naive.roundoff(sum(model.sizes)))


def test_inputs_are_not_modified():
    model = MLP([3, 4, 2], keep_prob=0.5, l2=0.1)
    theta = model.init(0)
    X, y = model.sample_data(5)
    copies = theta.copy(), X.copy(), y.copy()
    model.cost(theta, X, y)
    model.grad(theta, X, y)
    for a, b in zip((theta, X, y), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sizes=[3]), ValueError, "at least an input and an output"),
        (dict(sizes=[3, 0]), ValueError, "positive integer"),
        (dict(sizes="34"), TypeError, "sequence of layer widths"),
        (dict(sizes=[3, 2], activations="swish"), ValueError, "unknown activation 'swish'"),
        (dict(sizes=[3, 4, 2], activations=["relu"]), ValueError, "1 entries but the network has 2 layers"),
        (dict(sizes=[3, 2], loss="hinge"), ValueError, "unknown loss 'hinge'"),
        (dict(sizes=[3, 2], l2=-1.0), ValueError, "l2 must be finite >= 0"),
        (dict(sizes=[3, 2], keep_prob=0.0), ValueError, "keep_prob must be finite > 0"),
        (dict(sizes=[3, 2], keep_prob=1.5), ValueError, "keep_prob"),
        (dict(sizes=[3, 2], bias="yes"), TypeError, "bias must be True or False"),
    ],
)
def test_bad_options_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLP(**kwargs)


def test_bad_data_is_named():
    model = MLP([3, 4, 2])
    theta = model.init(0)
    X, y = model.sample_data(5)
    with pytest.raises(ValueError, match=r"theta must be 1-D of length 26"):
        model.cost(theta[:-1], X, y)
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 3\)"):
        model.cost(theta, X[:, :2], y)
    with pytest.raises(ValueError, match=r"y must have shape \(5, 2\)"):
        model.grad(theta, X, y[:4])
    with pytest.raises(ValueError, match="X contains NaN"):
        model.cost(theta, np.full((5, 3), np.nan), y)
    one = MLP([3, 1])
    X1, y1 = one.sample_data(4)
    assert one.cost(one.init(0), X1, y1.ravel()) == one.cost(one.init(0), X1, y1)


def test_the_mutant_copy_of_backprop_without_a_bug_is_the_reference():
    """The planted bugs live beside the reference backprop (models/mutant_backprop.py), not in it;
    with bug 0 the copy must give the reference's gradient bit for bit, or the two have drifted."""
    from fastcheck.models import backprop, mutant_backprop

    model = MLP([5, 4, 3], activations=["tanh", "sigmoid"], loss="bce", l2=0.1, keep_prob=0.8)
    theta = model.init(3)
    X, y = model.sample_data(6, seed=3)
    args = model.cost_args(X, y)
    ref, copy = np.empty(model.n_params), np.empty(model.n_params)
    backprop.mlp_grad(theta, *args[:4], float(args[4]), args[5], ref)  # with BLAS's threads, as model.grad runs it
    mutant_backprop.mlp_grad(theta, *args[:4], float(args[4]), args[5], np.int64(0), copy)
    np.testing.assert_array_equal(ref, copy)
    np.testing.assert_array_equal(model.grad(theta, X, y), ref)
