"""The column path three or more layers below the output (fastcheck/models/layered/deep.py): the hidden
layers between the column and the last one composed as cubics in the column's change, the cut terms bounded.

References: the plain NumPy network of ``tests/naive.py`` at every perturbed point, the composed polynomial
by NumPy's polynomial products, and the output's change by a forward pass in extended precision.
"""
import numpy as np
import pytest

from fastcheck import check_model, numerical_gradient
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import layered
from fastcheck.models.backprop import B_OFF, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.layered import cubics, deep
from tests import naive
from tests.models.test_columns import _build, _column_blocks, _float32_stencil_is_naive, _gid, _naive_cost

DEEP = [
    ((3, 5, 4, 6, 2), "sigmoid", "sse", 0.1, 0.8),
    ((3, 4, 5, 4, 6, 2), ["tanh", "softplus", "sigmoid", "tanh", "sigmoid"], "mse", 0.0, 1.0),
    ((4, 6, 5, 4, 3), ["relu", "relu", "relu", "identity"], "softmax_ce", 0.1, 1.0),
    ((4, 6, 5, 4, 3), ["leaky_relu", "tanh", "relu", "sigmoid"], "bce", 0.0, 0.7),
    ((4, 6, 5, 4, 3), ["sigmoid", "softplus", "tanh", "identity"], "bce", 0.1, 1.0),
    ((3, 5, 4, 6, 2), ["relu", "relu", "relu", "relu"], "sse", 0.0, 1.0),
    ((3, 5, 4, 6, 2), ["sigmoid", "tanh", "sigmoid", "tanh"], "sse", 0.0, 1.0),  # a tanh output: its cubic
]


def _three_above(arch, c):
    return arch.shape[0] - 1 - layered.locate(arch, c)[0] >= 3


@pytest.mark.parametrize("eps", [3e-5, 1e-7])
@pytest.mark.parametrize("params", DEEP, ids=_gid)
def test_deep_column_blocks_are_taken_and_exact(params, eps):
    """The columns three or more layers below the output take the column path (at the smaller step, every
    column of the smooth networks and at least half in the relu ones) and give
    J(θ + s·e_i) − J(θ) of the plain NumPy network to the rounding of J; the kernel's stencil gives the
    NumPy costs at every coordinate, and the relu networks' kink flags are NumPy's."""
    model, theta, X, Y = _build(*params, batch=7)
    rng = np.random.default_rng(5)
    coords = rng.permutation(model.n_params)
    offsets = np.array([-2.0, -1.0, 1.0])
    S = (theta[coords, None] + offsets * eps) - theta[coords, None]
    direct = _column_blocks(model, theta, X, Y, coords, S)
    arch = model.cost_args(X, Y)[2]
    low = [c for c in coords if _three_above(arch, c)]
    assert low and all(c in direct for c in low)
    taken = [c for c in low if direct[c][0] > 0]
    piecewise = any(a in ("relu", "leaky_relu") for a in model.activation_names)
    if eps < 1e-6:  # (at the larger step, moves beyond an activation's limit take the general path)
        assert len(taken) >= (len(low) // 2 if piecewise else len(low)), (len(taken), len(low))
    cost = _naive_cost(model, X, Y)
    J0 = cost(theta)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    for c in taken:
        t = list(coords).index(c)
        for k, o in enumerate(offsets):
            p = theta.copy()
            p[c] = theta[c] + S[t, k]
            assert direct[c][1][k] == pytest.approx(cost(p) - J0, abs=tol * abs(J0) + 1e-15), model.layout.locate(c)
    out = LayeredEvaluator(model, X, Y).stencil(theta, coords, np.full(len(coords), eps), offsets)
    for t, c in enumerate(coords):
        for k, o in enumerate(offsets):
            p = theta.copy()
            p[c] = theta[c] + o * eps
            assert out[t, k] == pytest.approx(cost(p), rel=tol, abs=1e-15), (model.layout.locate(c), o)
    if piecewise:
        flags = LayeredEvaluator(model, X, Y).kinks(theta, coords, np.full(len(coords), eps))
        np.testing.assert_array_equal(flags, naive.mlp_kinks(model, theta, X, coords, np.full(len(coords), eps)))


def test_every_route_is_taken_by_deep_columns():
    """Deep columns take both output routes (cubic and quadratic) and their rows both from the series in the
    move and one by one, so that the exactness test above covers each with the chain in front."""
    routes, series = set(), set()
    for params in DEEP:
        model, theta, X, Y = _build(*params, batch=7)
        arch = model.cost_args(X, Y)[2]
        coords = np.array([c for c in range(model.n_params) if _three_above(arch, c)])
        for eps in (3e-5, 1e-7):
            S = (theta[coords, None] + np.array([-1.0, 1.0]) * eps) - theta[coords, None]
            for ok, _, _ in _column_blocks(model, theta, X, Y, coords, S).values():
                if ok > 0:
                    routes.add(ok & 3)
                    series.add(bool(ok & layered.columns.SERIES_TAKEN))
    assert routes == {1, 2} and series == {True, False}, (routes, series)


def test_the_cut_bound_is_the_cut_terms_majorant():
    """The terms of degree ≥ 4 in D of a unit's cubic composed with a cubic move, by NumPy's polynomial
    products: at most :func:`deep.cut_bound` for every |D| ≤ dmax, and equal to it at D = dmax when every
    coefficient is positive (so a term left out of the bound fails this test)."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        p = rng.standard_normal(3) * 10.0 ** rng.uniform(-2, 2, 3)
        g = rng.standard_normal(3)
        dmax = 10.0 ** rng.uniform(-6, -1)
        if trial % 4 == 0:
            p, g = np.abs(p), np.abs(g)
        move = np.polynomial.Polynomial([0.0, *p])
        full = g[0] * move + g[1] * move**2 + g[2] * move**3
        cut = np.polynomial.Polynomial(np.concatenate([np.zeros(4), full.coef[4:]]))
        kept = (full - cut).coef
        c1, c2, c3 = kept[1], kept[2], kept[3]
        # the kept terms are hidden_chain's coefficients
        assert c1 == pytest.approx(g[0] * p[0])
        assert c2 == pytest.approx(g[0] * p[1] + g[1] * p[0] ** 2)
        assert c3 == pytest.approx(g[0] * p[2] + 2 * g[1] * p[0] * p[1] + g[2] * p[0] ** 3)
        a = np.abs(p) * dmax ** np.arange(1, 4)
        bound = deep.cut_bound(a[0], a[1], a[2], g[1], g[2])
        D = np.concatenate([np.linspace(-dmax, dmax, 41), [dmax]])
        assert np.all(np.abs(cut(D)) <= bound * (1 + 1e-12) + 1e-300)
        if trial % 4 == 0:
            assert cut(dmax) == pytest.approx(bound, rel=1e-9)


def _cubic_network_change(theta, arch, G, MT, l, j, D):
    """The output's pre-activation change, in extended precision, of the network whose every unit above
    layer l changes by its cubic ``g₁δ + g₂δ² + g₃δ³`` exactly (no remainder), when the activation of unit j
    of layer l moves by D on every sample: what :func:`deep.hidden_chain` expands, without its cut."""
    ld = np.longdouble
    L = arch.shape[0]
    B = MT.shape[1]
    change = np.zeros((B, arch[l, N_OUT]), ld)
    change[:, j] = ld(D)
    for q in range(l + 1, L):
        n, nq, w0, o0 = arch[q - 1, N_OUT], arch[q, N_OUT], arch[q, W_OFF], arch[q, OUT_OFF]
        delta = change @ theta[w0 : w0 + n * nq].reshape(n, nq).astype(ld)
        if q == L - 1:
            return delta
        g = G[:, o0 : o0 + nq, :].astype(ld)  # (3, units, samples)
        change = MT[o0 : o0 + nq].T.astype(ld) * (g[0].T * delta + g[1].T * delta**2 + g[2].T * delta**3)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision long double")
@pytest.mark.parametrize("params", [DEEP[0], DEEP[1], DEEP[4]], ids=_gid)
def test_the_chain_is_the_composed_cubics_within_its_bound(params):
    """:func:`deep.hidden_chain`'s ``Σ_n Dⁿ·P_n`` against the composed cubics evaluated in extended
    precision, for moves D up to 1e-2 so that the cut terms stand far above double rounding: within the
    chain's bound of them (plus the rounding of its products), at every sample and output."""
    model, theta, X, Y = _build(*params, batch=7)
    args = model.cost_args(X, Y)
    arch = args[2]
    cache = layered.forward_cache(theta, *args)
    ZT, HT, ET, MT = cache[5], cache[6], cache[8], cache[9]
    G = cubics.unit_coefficients(arch, HT, ET, ZT)
    B, K = len(X), model.sizes[-1]
    l = 0
    chain = np.zeros(deep.chain_entries(B, deep.chain_width(arch, l)))
    P = np.zeros((3 * B, K))
    tight = 0
    for j in range(model.sizes[1]):
        for D in (1e-2, -1e-2, 3e-3, -1e-3, 1e-4):
            # the units' limits do not matter here (no activation is evaluated): unchecked
            assert deep.hidden_chain(theta, arch, l + 1, j, G, MT, ZT, P, chain, abs(D), 1.0, False)
            e = deep.output_error(chain, B)
            ref = _cubic_network_change(theta, arch, G, MT, l, j, D)
            pred = D * P[:B] + D**2 * P[B : 2 * B] + D**3 * P[2 * B :]
            scale = abs(D) * np.abs(P[:B]) + D**2 * np.abs(P[B : 2 * B]) + abs(D) ** 3 * np.abs(P[2 * B :])
            err = np.abs(np.asarray(ref - pred.astype(np.longdouble), np.float64))
            assert np.all(err <= e[:, None] + 64 * np.finfo(float).eps * scale), (j, D, err.max(), e.max())
            tight += np.any(err > 1e-3 * e[:, None]) and e.max() > 1e3 * np.finfo(float).eps * np.abs(pred).max()
    assert tight > 0  # the cut terms were far above rounding and the bound within 1000× of them somewhere


@pytest.mark.parametrize("acts", [["sigmoid", "tanh", "relu", "sigmoid"], ["tanh", "sigmoid", "leaky_relu", "identity"]])
def test_a_kink_in_a_middle_layer_sends_the_columns_below_it_to_the_general_path(acts):
    """A relu (leaky relu) unit two or more layers above a column, 1e-9 from its kink on one sample: the
    chain's sign check sends the columns that reach it through a hidden layer to the general path, and the
    stencil still gives the NumPy costs, with NumPy's kink flags."""
    model, theta, X, Y = _build((4, 6, 5, 4, 3), acts, "sse", 0.0, 1.0, batch=7)
    arch = model.cost_args(X, Y)[2]
    cache = layered.forward_cache(theta, *model.cost_args(X, Y))
    pl = max(q for q, a in enumerate(acts) if a in ("relu", "leaky_relu"))
    b0, o0 = arch[pl, B_OFF], arch[pl, OUT_OFF]
    theta = theta.copy()
    theta[b0] -= cache[5][o0, 2] - 1e-9
    eps = 1e-5
    coords = np.arange(model.n_params)
    offsets = np.array([-1.0, 1.0])
    S = (theta[coords, None] + offsets * eps) - theta[coords, None]
    direct = _column_blocks(model, theta, X, Y, coords, S)
    below = [c for c in coords if layered.locate(arch, c)[0] < pl - 1 and c in direct]
    assert below and sum(direct[c][0] == 0 for c in below) >= len(below) // 2
    cost = _naive_cost(model, X, Y)
    out = LayeredEvaluator(model, X, Y).stencil(theta, coords, np.full(len(coords), eps), offsets)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    for t, c in enumerate(coords):
        for k, o in enumerate(offsets):
            p = theta.copy()
            p[c] = theta[c] + o * eps
            assert out[t, k] == pytest.approx(cost(p), rel=tol, abs=1e-15)
    flags = LayeredEvaluator(model, X, Y).kinks(theta, coords, np.full(len(coords), eps))
    np.testing.assert_array_equal(flags, naive.mlp_kinks(model, theta, X, coords, np.full(len(coords), eps)))
    assert flags.any()


@pytest.mark.parametrize("params", [DEEP[0], DEEP[1]], ids=_gid)
def test_deep_columns_complex_step_and_float32(params):
    model, theta, X, Y = _build(*params, batch=9)
    cost = _naive_cost(model, X, Y)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    ref = numerical_gradient(cost, theta, scheme="complex")
    s = check_model(model, theta, X, Y, scheme="complex")
    np.testing.assert_allclose(s.numerical, ref, rtol=tol, atol=tol * np.abs(ref).max())
    assert check_model(model, theta, X, Y).verdict == "great"
    _float32_stencil_is_naive(model, theta, X, Y)


def test_deep_columns_catch_a_planted_bug_in_the_first_layer():
    """A network with three hidden layers: a transposed first-layer gradient is caught and named."""
    from fastcheck.models import MLP

    model = MLP([30, 12, 8, 6, 3], activations="tanh", loss="mse")
    theta = model.init(seed=3)
    X, y = model.sample_data(16, seed=3)
    good = check_model(model, theta, X, y)
    assert good.passed and good.verdict == "great", str(good)
    bad = check_model(model.mutant("transposed_weight"), theta, X, y)
    assert not bad.passed and "W1" in bad.failing_blocks, str(bad)
