"""The column path of the structure-aware kernel (fastcheck/models/layered/columns.py, the
series in cubics.py): the layers above a moved column as cubics in its change, for every activation.

References: σ in extended precision (np.longdouble) for the cubic itself, the plain NumPy
network of ``tests/naive.py`` at every perturbed point for the kernel, and the other paths of
the same kernel (taken when the moves are too large for the cubics).
"""
import numpy as np
import pytest

from fastcheck import check_model
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import LOSSES, MLP, layered
from fastcheck.models.functions import SIGMOID
from fastcheck.models.layered import cubics
from tests import naive

MACH = np.finfo(np.float64).eps


def _build(sizes, act, loss, l2, kp, batch=6, seed=0):
    model = MLP(sizes, activations=act, loss=loss, l2=l2, keep_prob=kp, dropout_seed=seed + 1)
    theta = model.init(seed=seed + 2)
    X, y = model.sample_data(batch, seed=seed + 3)
    return model, theta, *model.validate_data(X, y)


def _gid(p):
    sizes, a, loss, l2, kp = p[:5]
    return f"{'x'.join(map(str, sizes))}-{a if isinstance(a, str) else '/'.join(a)}-{loss}-l2{l2}-keep{kp}"


def _naive_cost(model, X, Y):
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]
    return lambda t: naive.mlp_cost(t, X, Y, model.sizes, list(model.activation_names), model.loss, model.l2,
                                    model.bias, masks)


def _float32_stencil_is_naive(model, theta, X, Y, eps=1e-3):
    """The float32 kernel's ±eps stencil at every coordinate is the plain NumPy network's float32 cost, to
    float32 rounding."""
    t32 = theta.astype(np.float32)
    coords = np.arange(model.n_params)
    out = LayeredEvaluator(model, X, Y, dtype="float32").stencil(t32, coords, np.full(len(coords), eps),
                                                                  np.array([-1.0, 1.0]))
    cost32 = _naive_cost(model, X.astype(np.float32), Y.astype(np.float32))
    rel = naive.roundoff(len(X) + sum(model.sizes), np.float32)
    for t, c in enumerate(coords):
        for k, o in enumerate((-1.0, 1.0)):
            p = t32.copy()
            p[c] = t32[c] + o * eps
            assert out[t, k] == pytest.approx(float(cost32(p)), rel=rel, abs=1e-6)


# -- the cubic ---------------------------------------------------------------------------------------------
def _sigma_ld(z):
    z = np.asarray(z, np.longdouble)
    return np.longdouble(1) / (np.longdouble(1) + np.exp(-z))


def _one_layer(code, T):
    """An ``arch`` of one layer of T units of activation ``code`` (the units 0 … T − 1)."""
    from fastcheck.models.backprop import ACT, N_OUT, OUT_OFF

    arch = np.zeros((1, 7), np.int64)
    arch[0, N_OUT], arch[0, ACT], arch[0, OUT_OFF] = T, code, 0
    return arch


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision long double")
def test_the_cubic_is_the_moved_sigmoid_to_rounding():
    """σ(z + δ) − σ(z) from the cached coefficients, against extended precision, for every
    |δ| up to the limit (where the remainder is largest) and z from saturated to saturated."""
    z = np.concatenate([np.linspace(-40, 40, 161), [-700.0, -30.5, 0.0, 1e-3, 36.0]])
    H = 1.0 / (1.0 + np.exp(-z))
    E = np.exp(-z)
    G = cubics.unit_coefficients(_one_layer(SIGMOID, len(z)), H[:, None], E[:, None], z[:, None])[:, :, 0]
    for delta in (1e-9, -3e-7, 1e-5, -2.0**-14, 2.0**-13, -(2.0**-13)):
        d = delta * (G[0] + delta * (G[1] + delta * G[2]))
        # σ(z + δ) − σ(z) = e^(−z)·(1 − e^(−δ))·σ(z)·σ(z + δ): no cancellation, so relative
        # to the change itself, in extended precision (δ is exact there)
        zl, dl = z.astype(np.longdouble), np.longdouble(delta)
        exact = np.exp(-zl) * -np.expm1(-dl) * _sigma_ld(zl) * _sigma_ld(zl + dl)
        err = np.abs(d.astype(np.longdouble) - exact).astype(np.float64)
        moved = (_sigma_ld(z + np.longdouble(delta))).astype(np.float64)
        slope = (np.exp(-zl) * _sigma_ld(zl) ** 2).astype(np.float64)  # σ' = e^(−z)·σ², no cancellation
        # within an ulp or two of the moved activation (the claim) ...
        assert np.all(err <= 2 * MACH * moved + 1e-300), (delta, z[np.argmax(err / (moved + 1e-300))])
        # ... because the error is a few ulps of the change plus the remainder σ'·δ⁴/24
        bound = 8 * MACH * slope * abs(delta) + 1.01 * slope * delta**4 / 24
        assert np.all(err <= bound + 1e-320), delta


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision long double")
@pytest.mark.parametrize("name", ["tanh", "softplus"])
def test_the_cubics_of_tanh_and_softplus_are_their_moved_values_to_rounding(name):
    """tanh and softplus from :func:`cubics.unit_coefficients` against extended precision, for every |δ| up to
    their limit (tanh's is half the sigmoid's) and z from saturated to saturated: within an ulp or two of the
    moved activation (for tanh, of the largest |tanh| between z and z + δ: near 0 its remainder, at most
    16·|tanh ξ|·δ⁴/24, falls with the activation), and within a few ulps of the change plus the remainder."""
    from fastcheck.models.functions import ACTIVATIONS

    z = np.concatenate([np.linspace(-40, 40, 161), [-700.0, -30.5, 0.0, 1e-3, -2e-5, 36.0]])
    zl = z.astype(np.longdouble)
    if name == "tanh":
        f = np.tanh
    else:
        def f(v):
            return np.logaddexp(np.zeros_like(v), v)
    H = f(z)
    with np.errstate(over="ignore"):
        E = np.exp(-z)
    code = ACTIVATIONS[name]
    G = cubics.unit_coefficients(_one_layer(code, len(z)), H[:, None], E[:, None], z[:, None])[:, :, 0]
    limit = cubics.layer_limit(code, 1.0)
    assert limit == (cubics.CUBIC / 2 if name == "tanh" else cubics.CUBIC)
    for delta in (1e-9, -3e-7, 1e-5, -limit / 2, limit, -limit):
        d = delta * (G[0] + delta * (G[1] + delta * G[2]))
        dl = np.longdouble(delta)
        with np.errstate(over="ignore"):
            # the change itself in extended precision, written without cancellation
            if name == "tanh":
                exact = (np.sinh(dl) / (np.cosh(zl) * np.cosh(zl + dl))).astype(np.float64)
            else:
                exact = np.log1p(np.expm1(dl) / (1 + np.exp(-zl))).astype(np.float64)
            moved = np.abs(f(zl + dl)).astype(np.float64)
            size = np.maximum(moved, np.abs(f(zl)).astype(np.float64))
        err = np.abs(d - exact)
        assert np.all(err <= 2 * MACH * size + 1e-300), (delta, z[np.argmax(err / (size + 1e-300))])
        slope = np.abs(G[0])
        rem = (16 * size + 1e-300) * delta**4 / 24 if name == "tanh" else slope * np.exp(abs(delta)) * delta**4 / 24
        assert np.all(err <= 8 * MACH * (np.abs(exact) + slope * abs(delta)) + 1.01 * rem + 1e-320), delta


def test_float32_limit_keeps_the_remainder_under_float32_rounding():
    z = np.linspace(-15, 15, 61)
    H = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    E = np.exp(-z).astype(np.float32)
    G = cubics.unit_coefficients(_one_layer(SIGMOID, len(z)), H[:, None], E[:, None],
                                 z.astype(np.float32)[:, None])[:, :, 0]
    assert G.dtype == np.float32
    delta = np.float32(cubics.CUBIC32)
    d = (delta * (G[0] + delta * (G[1] + delta * G[2]))).astype(np.float64)
    exact = (_sigma_ld(z.astype(np.float32).astype(np.float64) + float(delta))
             - _sigma_ld(z.astype(np.float32).astype(np.float64))).astype(np.float64)
    # H itself is σ rounded to float32 (its error does not enter the change); the cubic is
    # within float32 rounding of the moved activation
    moved = 1.0 / (1.0 + np.exp(-(z + float(delta))))
    assert np.all(np.abs(d - exact) <= 8 * np.finfo(np.float32).eps * moved)


# -- the kernel on the column path -------------------------------------------------------------------------
# one layer above the column (the output), two layers above (a sigmoid hidden layer, then the
# output); a column layer of another activation (step 1 row by row, kinks); dropout and L2
COLUMN = [
    ((5, 7, 3), "sigmoid", "sse", 0.0, 1.0),
    ((6, 8, 3), "sigmoid", "mse", 0.2, 0.6),
    ((4, 6, 5, 3), "sigmoid", "sse", 0.1, 0.7),
    ((4, 6, 5, 3), ["tanh", "sigmoid", "sigmoid"], "mse", 0.0, 1.0),
    ((3, 5, 4, 6, 2), ["relu", "sigmoid", "sigmoid", "sigmoid"], "sse", 0.1, 0.8),
    ((4, 5, 3), ["softplus", "sigmoid"], "mse", 0.1, 0.7),
    # the other activations above the column: tanh, softplus (cubics with a remainder), identity, relu
    # and leaky relu (exact while no pre-activation changes sign)
    ((5, 7, 3), "tanh", "sse", 0.0, 1.0),
    ((5, 7, 3), ["relu", "identity"], "mse", 0.1, 1.0),
    ((4, 6, 5, 3), "relu", "sse", 0.0, 0.8),
    ((4, 6, 5, 3), ["softplus", "tanh", "leaky_relu"], "mse", 0.1, 1.0),
    ((4, 6, 5, 3), ["sigmoid", "softplus", "identity"], "sse", 0.0, 1.0),
    # softmax cross-entropy of an identity output: the loss change by its cumulants
    ((5, 7, 4), ["relu", "identity"], "softmax_ce", 0.0, 1.0),
    ((4, 6, 5, 3), ["tanh", "sigmoid", "identity"], "softmax_ce", 0.1, 0.8),
    ((3, 5, 4, 6, 2), ["sigmoid", "relu", "relu", "identity"], "softmax_ce", 0.0, 1.0),
    # binary cross-entropy: any output one layer above, an identity output two layers above
    ((5, 7, 3), "sigmoid", "bce", 0.1, 1.0),
    ((5, 7, 3), ["tanh", "identity"], "bce", 0.0, 0.8),
    ((4, 6, 5, 3), ["relu", "softplus", "identity"], "bce", 0.0, 1.0),
    ((4, 6, 5, 3), ["relu", "tanh", "sigmoid"], "bce", 0.1, 0.8),
]


def _column_blocks(model, theta, X, Y, coords, S):
    """Run every column block of ``coords`` through ``layered._column_block`` directly:
    returns {coordinate: (taken, ΔJ row)}."""
    args = model.cost_args(X, Y)
    arch, loss, l2 = args[2], args[3], args[4]
    cache = layered.forward_cache(theta, *args)
    G = cubics.unit_coefficients(arch, cache[6], cache[8], cache[5])
    B = len(X)
    n_off = S.shape[1]
    order, starts = layered._plan(arch, loss, coords, n_off, B)
    pcoords = coords[order]
    cs = layered._column_scratch(arch, loss, B, n_off, 0.0, 0.0, 1 << 30)
    res = {}
    for blk in range(len(starts) - 1):
        t0, t1 = starts[blk], starts[blk + 1]
        l = layered.locate(arch, pcoords[t0])[0]
        if not layered._column_path(arch, loss, l):
            continue
        Sb = np.ascontiguousarray(S[order[t0:t1]])
        dJ = np.zeros_like(Sb)
        kink = np.zeros(t1 - t0, np.bool_)
        ok = layered._column_block(theta, args[1], arch, loss, l2, cache, G, pcoords, t0, t1, Sb, dJ, kink,
                                   np.zeros(B), np.zeros(B), cs)
        for c in range(t1 - t0):
            res[pcoords[t0 + c]] = (ok, dJ[c].copy(), kink[c])
    return res


@pytest.mark.parametrize("eps", [3e-5, 1e-7])
@pytest.mark.parametrize("params", COLUMN, ids=_gid)
def test_column_blocks_are_taken_and_exact(params, eps):
    """Every column block takes the column path at a small step and gives J(θ + s·e_i) − J(θ)
    of the plain NumPy network at the moved point; the kernel's stencil returns the same
    costs (taken in a shuffled order, so that the blocks regroup the coordinates).  At the
    smaller step the output's changes take the quadratic."""
    model, theta, X, Y = _build(*params, batch=7)
    rng = np.random.default_rng(4)
    coords = rng.permutation(model.n_params)
    offsets = np.array([-2.0, -1.0, 1.0])
    S = (theta[coords, None] + offsets * eps) - theta[coords, None]
    direct = _column_blocks(model, theta, X, Y, coords, S)
    arch, loss = model.cost_args(X, Y)[2:4]
    expected = [c for c in coords if layered._column_path(arch, loss, layered.locate(arch, c)[0])]
    assert len(expected) > 0 and sorted(direct) == sorted(expected)
    if eps < 1e-6:  # the column path, and the output's quadratic (a tanh output always takes the cubic)
        assert all(ok & 3 == (1 if model.activation_names[-1] == "tanh" else 2) for ok, _, _ in direct.values())
    out = LayeredEvaluator(model, X, Y).stencil(theta, coords, np.full(len(coords), eps), offsets)
    cost = _naive_cost(model, X, Y)
    J0 = cost(theta)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    for t, c in enumerate(coords):
        for k, o in enumerate(offsets):
            p = theta.copy()
            p[c] = theta[c] + o * eps
            ref = cost(p)
            assert out[t, k] == pytest.approx(ref, rel=tol, abs=1e-15), (model.layout.locate(c), o)
            if c in direct and direct[c][0] > 0:
                # ΔJ itself, to the rounding of J (the difference of two costs)
                assert direct[c][1][k] == pytest.approx(ref - J0, abs=tol * abs(J0) + 1e-15)
    if "relu" in model.activation_names:
        flags = LayeredEvaluator(model, X, Y).kinks(theta, coords, np.full(len(coords), eps))
        np.testing.assert_array_equal(flags, naive.mlp_kinks(model, theta, X, coords, np.full(len(coords), eps)))


def test_both_output_routes_are_taken():
    """The cubic and the quadratic of the output both occur, and the rows both from the series
    in the move and one by one (so every loop is exercised by the exactness test above)."""
    seen, series = {}, {}
    for params in COLUMN:
        model, theta, X, Y = _build(*params, batch=7)
        coords = np.arange(model.n_params)
        for eps in (3e-5, 1e-7):
            S = (theta[coords, None] + np.array([-2.0, -1.0, 1.0]) * eps) - theta[coords, None]
            for ok, _, _ in _column_blocks(model, theta, X, Y, coords, S).values():
                seen.setdefault(ok & 3, set()).add(len(params[0]))
                series.setdefault(bool(ok & layered.columns.SERIES_TAKEN), set()).add((len(params[0]), eps))
    # both routes, in the networks of one and of two layers above the column
    assert seen[1] == {3, 4, 5} and seen[2] == {3, 4, 5}, seen
    # the series at the small step everywhere; at the larger one its bound sends some rows one by one
    assert {(n, 1e-7) for n in (3, 4, 5)} <= series[True], series
    assert any(eps == 3e-5 for _, eps in series[False]), series


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision long double")
def test_the_softmax_loss_polynomial_is_the_loss_change_within_its_remainder_bound():
    """A sample's softmax cross-entropy change as a polynomial in D (its cumulants to the third) against the
    change itself in extended precision, outputs moving by cubics in D: within the bound r⁴/96 of the
    left-out cumulants, r = 2·max|d_k| (and far from exact where that bound is not small: the terms matter)."""
    from fastcheck.models.layered import softmax

    rng = np.random.default_rng(7)
    K, B = 6, 3
    AT = rng.normal(size=(K, B)) * 2.0
    YT = np.zeros((K, B))
    YT[2, 0] = 1.0  # one-hot, soft, and a target row that does not sum to 1
    YT[:, 1] = rng.dirichlet(np.ones(K))
    YT[:, 2] = rng.uniform(0, 1, K)
    e = rng.normal(size=(3, K)) * np.array([1.0, 0.5, 0.3])[:, None]
    a, mean = np.zeros(cubics.LOSS_TERMS), np.zeros(3)
    L = np.longdouble
    for b in range(B):
        softmax.sample_polynomial(b, e, AT, YT, 0, K, a, mean)
        assert np.all(a[softmax.TERMS:] == 0.0)
        for D in (1e-4, 1e-2, 0.1, -0.3):
            d = np.array([L(e[0, k]) * L(D) + L(e[1, k]) * L(D) ** 2 + L(e[2, k]) * L(D) ** 3 for k in range(K)])
            z = AT[:, b].astype(L)

            def lse(v):
                top = v.max()
                return top + np.log(np.sum(np.exp(v - top)))

            exact = float(YT[:, b].astype(L).sum() * (lse(z + d) - lse(z)) - np.sum(YT[:, b].astype(L) * d))
            poly = sum(a[m] * D ** (m + 1) for m in range(softmax.TERMS))
            bound = abs(YT[:, b].sum()) * (2 * float(np.max(np.abs(d)))) ** 4 / 96
            assert abs(poly - exact) <= bound + 64 * MACH * (abs(exact) + 1e-300), (b, D, poly - exact, bound)
            if abs(D) >= 0.1:  # the cubic cumulant is not negligible there: dropping it would break the bound
                third = sum(a[m] * D ** (m + 1) for m in range(2, softmax.TERMS))
                second = sum(a[m] * D ** (m + 1) for m in range(1, 2))
                assert abs(third) > bound and abs(second) > bound


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision long double")
def test_the_bce_loss_polynomial_is_the_loss_change_within_its_remainder_bound():
    """A sample's binary cross-entropy change as a polynomial in D (softplus's cubic composed with each
    output's cubic in D) against the change itself in extended precision: within e^|d|·d⁴/96 per output."""
    from fastcheck.models.layered import bce

    rng = np.random.default_rng(8)
    K, B = 4, 3
    AT = np.concatenate([rng.normal(size=(K - 1, B)) * 3.0, [[-40.0, 0.0, 35.0]]])  # one saturated output
    YT = rng.uniform(0, 1, size=(K, B))
    c = rng.normal(size=(3, K)) * np.array([1.0, 0.5, 0.3])[:, None]
    a = np.zeros(cubics.LOSS_TERMS)
    L = np.longdouble

    def softplus(v):
        return np.logaddexp(np.zeros_like(v), v)

    for b in range(B):
        bce.sample_polynomial(b, c, AT, YT, 0, K, a, np.zeros(3), np.zeros(10), np.zeros(10))
        assert np.all(a[bce.TERMS:] == 0.0)
        for D in (1e-4, 1e-2, 0.1, -0.2):
            d = np.array([L(c[0, k]) * L(D) + L(c[1, k]) * L(D) ** 2 + L(c[2, k]) * L(D) ** 3 for k in range(K)])
            x, y = AT[:, b].astype(L), YT[:, b].astype(L)
            exact = float(np.sum(softplus(x + d) - softplus(x) - y * d))
            poly = sum(a[m] * D ** (m + 1) for m in range(bce.TERMS))
            bound = float(np.sum(np.exp(np.abs(d)) * d**4)) / 96
            assert abs(poly - exact) <= bound + 64 * MACH * (abs(exact) + 1e-300), (b, D, poly - exact, bound)


def _series_parts(rng, na, nc, B, n_moves, smax):
    a = rng.normal(size=(B, na)) * 0.3 ** np.arange(na)
    G = rng.normal(size=(3, 1, B)) * np.array([0.25, 0.1, 0.02])[:, None, None]
    MT = rng.uniform(0.5, 1.5, size=(1, B))
    XG = np.zeros((B, nc + 8))
    XG[:, :nc] = rng.uniform(-1, 1, size=(B, nc))
    SK = rng.uniform(-smax, smax, size=(n_moves, nc))
    return a, G, MT, XG, SK


@pytest.mark.parametrize("na", [4, 6, 12, 18])
def test_the_series_in_the_move_is_the_rows_polynomial_and_its_tail_is_bounded(na):
    """The series path's sums against the rows one by one (the same polynomial Σ_m a_m·D(x)ᵐ of the
    cubic D, evaluated row by row), and its bound of the left-out terms against those terms in
    exact rational arithmetic."""
    from fractions import Fraction

    rng = np.random.default_rng(na)
    B, nc, n_moves = 5, 9, 3
    for smax in (1e-5, 1e-3, 3e-2):
        a, G, MT, XG, SK = _series_parts(rng, na, nc, B, n_moves, smax)
        Q = np.zeros((cubics.SERIES, nc + 8))
        tails = np.zeros(len(cubics.SERIES_POINTS))
        for b in range(B):
            cubics._series_sample(b, a[b], XG[b], nc, G, MT, 0, Q)
            cubics._series_majorant(b, a[b], na, G, MT, 0, tails)
        acc = np.zeros(n_moves * nc)
        cubics._series_rows(Q, SK, nc, acc)
        t = smax  # every |x| = |s·XG| is at most smax here
        bound = cubics._series_tail(tails, t)
        # the exact polynomial per row, and the exact degree-≤4 part of it
        exact, tail = np.zeros(n_moves * nc), np.zeros(n_moves * nc)
        for k in range(n_moves):
            for c in range(nc):
                full = part = Fraction(0)
                for b in range(B):
                    c1, c2, c3 = (Fraction(float(MT[0, b])) * Fraction(float(G[n, 0, b])) for n in range(3))
                    x = Fraction(float(SK[k, c])) * Fraction(float(XG[b, c]))
                    # coefficients of D(x)ᵐ, summed with a_m: the whole polynomial in x
                    poly = [Fraction(0)] * (3 * na + 1)
                    pw = [Fraction(1)]
                    for m in range(1, na + 1):
                        nxt = [Fraction(0)] * (len(pw) + 3)
                        for i, v in enumerate(pw):
                            nxt[i + 1] += v * c1
                            nxt[i + 2] += v * c2
                            nxt[i + 3] += v * c3
                        pw = nxt
                        for i, v in enumerate(pw):
                            poly[i] += Fraction(float(a[b, m - 1])) * v
                    full += sum(v * x**i for i, v in enumerate(poly))
                    part += sum(v * x**i for i, v in enumerate(poly[:cubics.SERIES + 1]))
                exact[k * nc + c] = float(full)
                tail[k * nc + c] = abs(float(full - part))
        # the degree-≤4 sums, to rounding (a few ulps of the terms' size)
        size = np.abs(exact).max()
        np.testing.assert_allclose(acc, exact, rtol=0, atol=64 * MACH * size + np.max(tail))
        # the bound covers every row's left-out terms
        assert np.all(tail <= bound), (smax, tail.max(), bound)
        assert bound < np.inf


@pytest.mark.parametrize("params", COLUMN[:3], ids=_gid)
def test_float32_columns_take_the_series_at_small_steps_and_stay_exact(params):
    """In single precision the series' bound sends the default-sized moves row by row; at a small step
    (1e-5) it holds, and the stencil's costs are still the plain float32 network's at the moved points."""
    model, theta, X, Y = _build(*params, batch=9)
    t32, X32, Y32 = theta.astype(np.float32), X.astype(np.float32), Y.astype(np.float32)
    args = model.cost_args(X32, Y32)
    arch, loss, l2 = args[2], args[3], args[4]
    cache = layered.forward_cache(t32, *args)
    G = cubics.unit_coefficients(arch, cache[6], cache[8], cache[5])
    coords = np.arange(model.n_params)
    eps = 1e-5
    S = ((t32[coords, None] + np.array([-1.0, 1.0], np.float32) * np.float32(eps)) - t32[coords, None])
    order, starts = layered._plan(arch, loss, coords, 2, len(X))
    pcoords = coords[order]
    cs = layered._column_scratch(arch, loss, len(X), 2, np.float32(0), np.float32(0), 1 << 30)
    routes = []
    for blk in range(len(starts) - 1):
        t0, t1 = starts[blk], starts[blk + 1]
        if layered._column_path(arch, loss, layered.locate(arch, pcoords[t0])[0]):
            Sb = np.ascontiguousarray(S[order[t0:t1]])
            routes.append(layered._column_block(t32, args[1], arch, loss, l2, cache, G, pcoords, t0, t1, Sb,
                                                np.zeros_like(Sb), np.zeros(t1 - t0, np.bool_),
                                                np.zeros(len(X), np.float32), np.zeros(len(X), np.float32), cs))
    assert routes and all(r & layered.columns.SERIES_TAKEN for r in routes), routes
    out = LayeredEvaluator(model, X, Y, dtype="float32").stencil(t32, coords, np.full(len(coords), eps),
                                                                  np.array([-1.0, 1.0]))
    cost32 = _naive_cost(model, X32, Y32)
    tol = naive.roundoff(len(X) + sum(model.sizes), np.float32)
    for t, c in enumerate(coords):
        for k, o in enumerate((-1.0, 1.0)):
            p = t32.copy()
            p[c] = t32[c] + np.float32(o * eps)
            assert out[t, k] == pytest.approx(float(cost32(p)), rel=tol, abs=1e-6)


def test_the_series_is_taken_only_under_the_rounding_of_J():
    eps = 2.0**-52
    assert cubics.series_ok(10.0, 0.5, 0.9 * cubics.SERIES_SHARE * eps * 10.0 / 0.5)
    assert not cubics.series_ok(10.0, 0.5, 1.1 * cubics.SERIES_SHARE * eps * 10.0 / 0.5)
    assert not cubics.series_ok(0.0, 0.5, 1e-300)  # J(θ) = 0: no rounding to hide the terms in
    assert cubics._series_tail(np.ones(len(cubics.SERIES_POINTS)), 1.0) == np.inf  # no point beyond t


def _assert_stencil_is_numpy(model, theta, X, Y, coords, eps, offsets):
    """The kernel's stencil at every coordinate and offset is the plain NumPy network's cost at the moved point."""
    out = LayeredEvaluator(model, X, Y).stencil(theta, coords, np.full(len(coords), eps), offsets)
    cost = _naive_cost(model, X, Y)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    for t, c in enumerate(coords):
        for k, o in enumerate(offsets):
            p = theta.copy()
            p[c] = theta[c] + o * eps
            assert out[t, k] == pytest.approx(cost(p), rel=tol, abs=1e-15)


@pytest.mark.parametrize("params", [COLUMN[1], COLUMN[2]], ids=_gid)
def test_large_moves_leave_the_column_path_and_stay_exact(params):
    model, theta, X, Y = _build(*params, batch=5)
    coords = np.arange(model.n_params)
    eps = 0.5
    offsets = np.array([-1.0, 1.0])
    S = (theta[coords, None] + offsets * eps) - theta[coords, None]
    direct = _column_blocks(model, theta, X, Y, coords, S)
    assert not any(ok > 0 for ok, _, _ in direct.values())
    _assert_stencil_is_numpy(model, theta, X, Y, coords, eps, offsets)


@pytest.mark.parametrize("acts", [["sigmoid", "relu"], ["relu", "relu", "leaky_relu"], ["tanh", "relu", "sigmoid"]])
def test_a_piecewise_linear_unit_near_its_kink_sends_the_columns_below_it_to_the_general_path(acts):
    """A relu (or leaky relu) unit above the column whose pre-activation is within a move of 0 on some sample
    could change side: every column below it leaves the column path (its blocks return 0), and the stencil
    still gives the plain NumPy costs, with the kinks the moves do cross flagged as the NumPy network's."""
    sizes = (4, 5, 3) if len(acts) == 2 else (4, 6, 5, 3)
    model, theta, X, Y = _build(sizes, acts, "sse", 0.0, 1.0, batch=7)
    arch = model.cost_args(X, Y)[2]
    cache = layered.forward_cache(theta, *model.cost_args(X, Y))
    eps = 1e-5
    # put unit 0 of the last piecewise linear layer at 1e-9 from its kink on sample 2
    pl = max(l for l, a in enumerate(acts) if a in ("relu", "leaky_relu"))
    ZT = cache[5]
    from fastcheck.models.backprop import B_OFF, OUT_OFF

    b0, o0 = arch[pl, B_OFF], arch[pl, OUT_OFF]
    theta = theta.copy()
    theta[b0] -= ZT[o0, 2] - 1e-9
    coords = np.arange(model.n_params)
    offsets = np.array([-1.0, 1.0])
    S = (theta[coords, None] + offsets * eps) - theta[coords, None]
    direct = _column_blocks(model, theta, X, Y, coords, S)
    # the columns below it leave the column path (a unit that never moves, a dead relu, may stay: it moves
    # nothing across the kink), and the stencil still gives the NumPy costs whichever path each block took
    below = [c for c in coords if layered.locate(arch, c)[0] < pl and c in direct]
    assert below and sum(direct[c][0] == 0 for c in below) >= len(below) // 2
    _assert_stencil_is_numpy(model, theta, X, Y, coords, eps, offsets)
    flags = LayeredEvaluator(model, X, Y).kinks(theta, coords, np.full(len(coords), eps))
    np.testing.assert_array_equal(flags, naive.mlp_kinks(model, theta, X, coords, np.full(len(coords), eps)))
    assert flags.any()


def test_blocks_follow_columns_and_split_long_ones():
    """A column longer than a block (large batch) is cut into several blocks, each of one
    column; other layers keep their runs; the order is a permutation of the coordinates."""
    model, theta, X, Y = _build((150, 4, 3, 2), "sigmoid", "sse", 0.0, 1.0, batch=600)
    arch, loss = model.cost_args(X, Y)[2:4]
    coords = np.arange(model.n_params)[::-1].copy()
    order, starts = layered._plan(arch, loss, coords, 2, len(X))
    assert sorted(order) == list(range(len(coords)))
    size = layered._column_size(2, len(X))
    assert size < 151  # the first layer's columns take two blocks each
    pc = coords[order]
    seen = set()
    for blk in range(len(starts) - 1):
        where = [layered.locate(arch, c) for c in pc[starts[blk] : starts[blk + 1]]]
        assert len({w[0] for w in where}) == 1
        if layered._column_path(arch, loss, where[0][0]):
            assert len({w[3] for w in where}) == 1 and len(where) <= size
            seen.add((where[0][0], where[0][3]))
    assert len(seen) == 4 + 3  # every column of the layers one or two layers below the output
    # and the long columns still give the NumPy costs
    sub = coords[::37]
    out = LayeredEvaluator(model, X, Y).stencil(theta, sub, np.full(len(sub), 1e-5), np.array([-1.0, 1.0]))
    cost = _naive_cost(model, X, Y)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    for t, c in enumerate(sub):
        p = theta.copy()
        p[c] += 1e-5
        assert out[t, 1] == pytest.approx(cost(p), rel=tol)


@pytest.mark.parametrize("params", [COLUMN[0], COLUMN[2]], ids=_gid)
def test_column_path_complex_step_central4_and_float32(params):
    model, theta, X, Y = _build(*params, batch=9)
    cost = _naive_cost(model, X, Y)
    tol = naive.roundoff(len(X) + sum(model.sizes))
    import fastcheck

    ref = fastcheck.numerical_gradient(cost, theta, scheme="complex")
    s = check_model(model, theta, X, Y, scheme="complex")
    np.testing.assert_allclose(s.numerical, ref, rtol=tol, atol=tol * np.abs(ref).max())
    r4 = check_model(model, theta, X, Y, scheme="central4")
    assert r4.passed and r4.verdict == "great" and r4.difference < 1e-9, str(r4)
    _float32_stencil_is_naive(model, theta, X, Y)


@pytest.mark.parametrize("loss", sorted(set(LOSSES) - {"sse", "mse"}))
def test_column_path_for_every_loss_and_depth(loss):
    # over a sigmoid output: binary cross-entropy one and two layers below it, softmax cross-entropy never
    model, theta, X, Y = _build((3, 4, 5, 2), "sigmoid", loss, 0.0, 1.0)
    arch, code = model.cost_args(X, Y)[2:4]
    assert [layered._column_path(arch, code, l) for l in range(3)] == [loss == "bce", loss == "bce", False]
    model, theta, X, Y = _build((3, 4, 5, 2), ["sigmoid", "tanh", "relu"], "sse", 0.0, 1.0)
    arch, code = model.cost_args(X, Y)[2:4]
    assert [layered._column_path(arch, code, l) for l in range(3)] == [True, True, False]
    # over an identity output, both cross-entropies one and two layers below it
    model, theta, X, Y = _build((3, 4, 5, 2), ["sigmoid", "tanh", "identity"], loss, 0.0, 1.0)
    arch, code = model.cost_args(X, Y)[2:4]
    assert [layered._column_path(arch, code, l) for l in range(3)] == [True, True, False]
    model, theta, X, Y = _build((3, 4, 5, 6, 2), "sigmoid", "sse", 0.0, 1.0)
    arch, code = model.cost_args(X, Y)[2:4]
    # three layers above: the hidden layers between composed (fastcheck/models/layered/deep.py)
    assert [layered._column_path(arch, code, l) for l in range(4)] == [True, True, True, False]
