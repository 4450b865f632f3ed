"""check_model and the structure-aware kernel: exact perturbed costs, verdicts, mutants, kinks, threads."""
import numpy as np
import pytest

import fastcheck
from fastcheck import check_model
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    MUTANTS,
    SHOWCASE,
    backprop,
    layered,
    tutorial_network,
)
from fastcheck.verdicts.bands import band
from tests import naive

ACTS = list(ACTIVATIONS)
LOSS_NAMES = list(LOSSES)
MACH = np.finfo(np.float64).eps

# Every activation × every loss × (L2 on/off) × (dropout on/off) at depth 2, and every
# activation × loss at depths 1, 3 and 4 with L2 and dropout.  Codes are run-time values,
# so all of them share one compiled kernel.
GRID = [((4, 5, 3), a, loss, l2, kp) for a in ACTS for loss in LOSS_NAMES for l2 in (0.0, 0.1) for kp in (1.0, 0.7)]
GRID += [(sizes, a, loss, 0.1, 0.7) for sizes in ((4, 3), (3, 5, 4, 3), (3, 4, 5, 4, 3)) for a in ACTS
         for loss in LOSS_NAMES]


def _build(sizes, act, loss, l2, kp, batch=6, seed=0):
    model = MLP(sizes, activations=act, loss=loss, l2=l2, keep_prob=kp, dropout_seed=seed + 1)
    theta = model.init(seed=seed + 2)
    X, y = model.sample_data(batch, seed=seed + 3)
    return model, theta, X, y


def _gid(p):
    sizes, a, loss, l2, kp = p
    return f"{'x'.join(map(str, sizes))}-{a}-{loss}-l2{l2}-keep{kp}"


@pytest.mark.parametrize("params", GRID, ids=[_gid(p) for p in GRID])
def test_every_correct_configuration_is_great(params):
    model, theta, X, y = _build(*params)
    res = check_model(model, theta, X, y)
    assert res.path == "structured"
    assert res.verdict == "great", str(res)
    assert res.passed, str(res)
    assert len(res.coords) == model.n_params
    assert set(res.blocks["verdict"]) == {"great"}
    if not set(model.activation_names) & {"relu", "leaky_relu"}:
        assert len(res.kinks) == 0


# -- the numbers themselves -----------------------------------------------------------------------
AGREE = [GRID[i] for i in range(0, len(GRID), 7)] + [
    ((6, 8, 3), "sigmoid", "sse", 0.0, 1.0),  # the sigmoid fast paths (column and output)
    ((6, 8, 3), "sigmoid", "mse", 0.2, 0.6),
    ((5, 4, 4, 3), "sigmoid", "sse", 0.1, 0.8),
]


@pytest.mark.parametrize("params", AGREE, ids=[_gid(p) for p in AGREE])
def test_structured_and_blackbox_numerical_gradients_agree(params):
    model, theta, X, y = _build(*params, batch=7)
    # Same eps, same points: the two kernels differ only by rounding.  At eps=1e-4 the
    # round-off of J(θ±h)/2h is ~1e-12 relative, so they must agree to 1e-10.
    s = check_model(model, theta, X, y, eps=1e-4)
    b = check_model(model, theta, X, y, eps=1e-4, mode="blackbox")
    assert b.path == "parallel"
    np.testing.assert_array_equal(s.steps, b.steps)
    assert fastcheck.relative_difference(s.numerical, b.numerical) < 1e-10
    # At the default eps both carry the round-off eps_mach·|J|/h of any central difference;
    # every entry must agree within it.
    s = check_model(model, theta, X, y)
    b = check_model(model, theta, X, y, mode="blackbox")
    J = model.cost(theta, X, y)
    np.testing.assert_array_less(np.abs(s.numerical - b.numerical), 8 * MACH * abs(J) / s.steps)
    np.testing.assert_array_equal(s.kinks["coord"].to_numpy(), b.kinks["coord"].to_numpy())


# depths 2 and 1, then depths 3 and 4, whose first layers go through the blocks' matrix products
EXACT = [GRID[3], GRID[50], GRID[101], ((6, 8, 3), "sigmoid", "sse", 0.1, 0.7), GRID[130], GRID[159],
         ((3, 5, 4, 3), ["relu", "sigmoid", "softplus"], "softmax_ce", 0.1, 0.7),
         ((5, 6, 4, 3), "sigmoid", "sse", 0.1, 0.7),  # the blocks' sigmoid output under squared losses
         ((3, 5, 4, 3), ["tanh", "sigmoid", "sigmoid"], "mse", 0.0, 1.0)]
assert [len(p[0]) for p in EXACT] == [3, 3, 2, 3, 4, 5, 4, 4, 4]


@pytest.mark.parametrize("params", EXACT, ids=_gid)
@pytest.mark.parametrize("eps", [1e-5, 0.05, 0.7])
def test_perturbed_costs_are_the_exact_costs(params, eps):
    """Every J(θ + s·e_i) of the kernel is the plain NumPy cost at the perturbed point, even
    for steps far too large for any linearisation to hold."""
    model, theta, X, y = _build(*params, batch=5)
    X, Y = model.validate_data(X, y)
    coords = np.arange(model.n_params)
    steps = np.full(len(coords), eps)
    offsets = np.array([-2.0, -1.0, 1.0])
    out = LayeredEvaluator(model, X, Y).stencil(theta, coords, steps, offsets)
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]
    for j, c in enumerate(coords):
        for k, o in enumerate(offsets):
            t = theta.copy()
            t[c] = theta[c] + o * eps
            ref = naive.mlp_cost(t, X, Y, model.sizes, list(model.activation_names), model.loss, model.l2, True, masks)
            tol = naive.roundoff(len(X) + sum(model.sizes))  # the kernel's order of summation is not NumPy's
            assert out[j, k] == pytest.approx(ref, rel=tol, abs=1e-15), (model.layout.locate(c), o)


def test_base_cost_is_the_cost():
    for params in GRID[::13]:
        model, theta, X, y = _build(*params)
        args = model.cost_args(X, y)
        # bit for bit the row-loop cost; the BLAS black-box cost to rounding
        cached = layered.forward_cache(theta, *args)[-1]  # J(θ) of the kernel's cached pass
        assert cached == backprop.mlp_cost(theta, *args)
        tol = naive.roundoff(len(X) + sum(model.sizes))
        assert cached == pytest.approx(model.jit_cost(theta, *args), rel=tol)


def test_chunking_does_not_change_a_bit():
    model, theta, X, y = _build((4, 6, 5, 3), "tanh", "softmax_ce", 0.1, 0.7, batch=9)
    args = model.cost_args(X, y)
    coords = np.arange(model.n_params)
    steps = np.full(model.n_params, 1e-5)
    offsets = np.array([-1.0, 1.0])
    outs = []
    for n_chunks in (1, 2, 3, 7):
        out = np.empty((len(coords), 2))
        flags = np.zeros(len(coords), np.bool_)
        with fastcheck.config.single_threaded_blas():  # the blocks' products run inside the parallel region
            layered.layered_costs(theta, *args, coords, steps, offsets, n_chunks, out, flags)
        outs.append(out)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("params", [GRID[0], GRID[60], ((20, 30, 10), "sigmoid", "sse", 0.0, 1.0),
                                    ((20, 16, 12, 10), ["tanh", "relu", "sigmoid"], "softmax_ce", 0.1, 0.7)],
                         ids=_gid)
def test_one_and_two_threads_give_identical_results(params, two_threads):
    model, theta, X, y = _build(*params, batch=16)
    r1 = check_model(model, theta, X, y, threads=1)
    r2 = check_model(model, theta, X, y, threads=two_threads)
    assert (r1.threads, r2.threads) == (1, 2)
    np.testing.assert_array_equal(r1.numerical, r2.numerical)
    np.testing.assert_array_equal(r1.kinks["coord"].to_numpy(), r2.kinks["coord"].to_numpy())
    assert r1.difference == r2.difference


# -- mutants -----------------------------------------------------------------------------------------------
MUTANT_CONFIGS = [
    SHOWCASE,
    dict(sizes=(4, 6, 3), activations="sigmoid", loss="softmax_ce", l2=0.1, keep_prob=0.7, bias=True),
    dict(sizes=(3, 4, 5, 4, 2), activations=["softplus", "relu", "tanh", "sigmoid"], loss="bce", l2=0.2,
         keep_prob=0.75),
    dict(sizes=(2, 3, 1), activations="sigmoid", loss="sse", bias=False),  # the seeds' network
]
MUTANT_CASES = [(name, i) for i, cfg in enumerate(MUTANT_CONFIGS) for name in MUTANTS
                if MUTANTS[name].visible(MLP(**cfg))]


@pytest.mark.parametrize("name, config", MUTANT_CASES, ids=[f"{n}-cfg{i}" for n, i in MUTANT_CASES])
def test_every_mutant_fails_in_its_own_block(name, config):
    model = MLP(**MUTANT_CONFIGS[config])
    theta = model.init(seed=5)
    X, y = model.sample_data(8, seed=6)
    res = check_model(model.mutant(name), theta, X, y)
    assert not res.passed
    worst = res.blocks.loc[res.blocks["difference"].idxmax()]
    assert worst["block"] in MUTANTS[name].blocks(model), str(res)
    assert worst["verdict"] in ("suspect", "wrong"), str(res)
    assert set(res.failing_blocks) <= set(MUTANTS[name].blocks(model)), str(res)
    if config != 2:
        assert res.verdict in ("suspect", "wrong"), str(res)
    # In the depth-4 network (config 2) the gradient of layer 1 is small next to the later
    # layers', so a bug confined to W1/b1 moves the overall difference only to "ok"
    # (~1e-5); the per-block verdict is what catches it, and the check does not pass.


def test_tutorial_network_and_its_mutants():
    model, theta, X, y = tutorial_network()
    res = check_model(model, theta, X, y)
    assert res.verdict == "great" and res.passed and res.n_params == 9
    bad = check_model(model.mutant("scaled_grad"), theta, X, y)
    assert not bad.passed and bad.failing_blocks == ["W2"]


# -- kinks ---------------------------------------------------------------------------------------------
def test_relu_network_at_a_kink_says_so():
    """Unit 2 of a ReLU layer has W1[:, 2] = 0 and b1[2] = 0: z = 0 exactly on every sample.
    Backprop takes relu'(0) = 0, the central difference sees half the slope: a kink, not a bug."""
    model = MLP([3, 5, 2], activations=["relu", "identity"], loss="mse")
    theta = model.init(seed=1)
    blocks = model.layout.unflatten(theta.copy())
    blocks["W1"][:, 2] = 0.0
    blocks["b1"][2] = 0.0
    theta = model.layout.flatten(blocks)
    X, y = model.sample_data(10, seed=2)
    res = check_model(model, theta, X, y)
    at_kink = {("W1", f"[{i},2]") for i in range(3)} | {("b1", "[2]")}
    assert set(zip(res.kinks["block"], res.kinks["index"])) == at_kink
    # they really disagree there (so counting them would have failed the check) ...
    assert np.all(np.abs(res.kinks["analytic"] - res.kinks["numerical"]) > 1e-3)
    assert fastcheck.relative_difference(res.kinks["analytic"], res.kinks["numerical"]) > 1e-2
    # ... and everything else is great
    assert res.passed and res.verdict == "great"
    assert "kink" in str(res)
    assert len(check_model(model, theta, X, y, mode="blackbox").kinks) == len(at_kink)


@pytest.mark.parametrize("acts", [("relu", "relu", "identity"), ("tanh", "leaky_relu", "relu")])
@pytest.mark.parametrize("eps", [1e-6, 0.05, 0.4])
def test_kink_flags_match_brute_force(acts, eps):
    model = MLP([3, 6, 5, 2], activations=list(acts), loss="sse", keep_prob=0.8)
    theta = model.init(seed=8)
    X, y = model.sample_data(7, seed=9)
    X, Y = model.validate_data(X, y)
    coords = np.arange(model.n_params)
    steps = np.full(len(coords), eps)
    ev = LayeredEvaluator(model, X, Y)
    flags = ev.kinks(theta, coords, steps)
    ref = naive.mlp_kinks(model, theta, X, coords, steps)
    np.testing.assert_array_equal(flags, ref)
    if eps > 0.01:
        assert ref.any() and not ref.all()


# -- options and input -------------------------------------------------------------------------------
def test_options_pass_through():
    model, theta, X, y = _build((4, 5, 3), "tanh", "mse", 0.1, 0.7)
    r = check_model(model, theta, X, y, sample=2, seed=3)
    assert len(r.coords) == 2 * 4 and r.passed
    r = check_model(model, theta, X, y, coords=[0, 7, 30])
    np.testing.assert_array_equal(r.coords, [0, 7, 30])
    r4 = check_model(model, theta, X, y, scheme="central4")
    assert r4.scheme == "central4" and r4.verdict == "great"
    rf = check_model(model, theta, X, y, scheme="forward")
    assert rf.passed and rf.difference > r4.difference
    coarse = check_model(model, theta, X, y, eps=0.05)
    assert 1e-8 < coarse.difference < 1e-2  # O(h²) truncation, far above round-off
    strict = check_model(model, theta, X, y, eps=0.05, thresholds={"great": 1e-10, "ok": 2e-10, "suspect": 4e-10})
    # the bands read it "wrong", but every coordinate agrees within its error bar (truncation
    # measured from a second step): numerics alone never fail a check
    assert band(strict.difference, strict.thresholds) == "wrong"
    assert strict.passed and strict.verdict == "ok" and "reads wrong by the bands" in str(strict)
    r = check_model(model, theta, X, y, eps=1e-5)
    np.testing.assert_allclose(r.steps, 1e-5, rtol=1e-9)


def test_bad_input_is_named():
    model, theta, X, y = _build((4, 5, 3), "tanh", "mse", 0.0, 1.0)
    with pytest.raises(TypeError, match="takes a fastcheck.models.MLP"):
        check_model(lambda t: 0.0, theta, X, y)
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        check_model(model, theta, X, y, mode="fast")
    with pytest.raises(TypeError, match=r"float64, or float32\), got dtype float16"):
        check_model(model, theta.astype(np.float16), X, y)
    with pytest.raises(TypeError, match="compute in float64 or float32, not 'float16'"):
        model.cost(theta, X, y, dtype="float16")
    with pytest.raises(TypeError, match="computes in float32; theta has dtype float64"):
        LayeredEvaluator(model, X, y, dtype="float32").stencil(theta, [0], [1e-3], [1.0])
    with pytest.raises(ValueError, match="theta must be 1-D of length"):
        check_model(model, theta[:-2], X, y)
    with pytest.raises(ValueError, match=r"y must have shape \(6, 3\)"):
        check_model(model, theta, X, y[:, :2])
    with pytest.raises(IndexError, match="outside theta"):
        check_model(model, theta, X, y, coords=[model.n_params])


def test_inputs_are_not_modified():
    model, theta, X, y = _build((4, 5, 3), "relu", "bce", 0.1, 0.7)
    before = theta.copy(), X.copy(), y.copy()
    check_model(model, theta, X, y)
    check_model(model, theta, X, y, mode="blackbox")
    for a, b in zip((theta, X, y), before):
        np.testing.assert_array_equal(a, b)
