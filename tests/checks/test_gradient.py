"""The core checker against the seeds' worked examples and independent references."""
import warnings

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.config import threads
from tests.costs import quadratic_blas, quadratic_grad, quartic, quartic_grad
from tests.naive import SeedNetwork, central_difference, seed_data


# -- the seeds' worked examples ------------------------------------------------------
def test_theta_cubed_central_and_forward():
    f = lambda t: t[0] ** 3  # noqa: E731
    theta = np.array([1.0])
    assert fc.numerical_gradient(f, theta, eps=0.01)[0] == pytest.approx(3.0001, abs=1e-12)
    assert fc.numerical_gradient(f, theta, eps=0.01, scheme="forward")[0] == pytest.approx(3.0301, abs=1e-12)


def test_x_squared_at_one_and_a_half():
    g = fc.numerical_gradient(lambda t: t[0] ** 2, np.array([1.5]), eps=1e-4)
    assert abs(g[0] - 2.9999999999996696) < 1e-12


@pytest.fixture(scope="module")
def seed_problem():
    X, y = seed_data()
    return X, y, fc.Layout.from_arrays({"W1": np.zeros((2, 3)), "W2": np.zeros((3, 1))})


def test_seed_network_passes(seed_problem):
    X, y, layout = seed_problem
    net = SeedNetwork(seed=1)
    theta = net.getParams()
    res = fc.check_gradient(net.cost_of, theta, net.grad_of, args=(X, y), layout=layout)
    assert res.passed and res.verdict == "great"
    assert res.difference < 1e-8
    assert list(res.blocks["block"]) == ["W1", "W2"]
    # the seeds' own formula on the seeds' own loop agrees
    num = central_difference(lambda t: net.cost_of(t, X, y), theta, 1e-4)
    g = net.grad_of(theta, X, y)
    assert np.linalg.norm(g - num) / np.linalg.norm(g + num) < 1e-8


def test_seed_network_with_wrong_sigmoid_derivative_fails_and_names_the_block(seed_problem):
    X, y, layout = seed_problem
    net = SeedNetwork(seed=1, broken=True)
    res = fc.check_gradient(net.cost_of, net.getParams(), net.grad_of, args=(X, y), layout=layout)
    assert not res.passed
    assert res.verdict in ("suspect", "wrong")
    assert "W2" in res.failing_blocks
    text = str(res)
    assert "FAILED" in text and "W2" in text and "worst coordinates" in text
    assert res.worst(3)["block"].iloc[0] in res.failing_blocks


# -- truncation order ------------------------------------------------------------------
def _errors(scheme, hs, x0=0.7):
    f = lambda t: np.exp(t[0]) * np.sin(t[0])  # noqa: E731
    exact = np.exp(x0) * (np.sin(x0) + np.cos(x0))
    return np.array([abs(fc.numerical_gradient(f, np.array([x0]), eps=h, scheme=scheme)[0] - exact) for h in hs])


@pytest.mark.parametrize(
    "scheme, order, hs",
    [
        ("forward", 1, np.geomspace(1e-2, 1e-4, 5)),
        ("backward", 1, np.geomspace(1e-2, 1e-4, 5)),
        ("central", 2, np.geomspace(1e-1, 1e-3, 5)),
        ("central4", 4, np.geomspace(2e-1, 2e-2, 5)),
    ],
)
def test_truncation_order(scheme, order, hs):
    err = _errors(scheme, hs)
    slope = np.polyfit(np.log(hs), np.log(err), 1)[0]
    assert slope == pytest.approx(order, abs=0.15)


def test_complex_step_reaches_machine_precision():
    x0 = 0.7
    exact = np.exp(x0) * (np.sin(x0) + np.cos(x0))
    for h in (1e-10, 1e-20, 1e-100):
        g = fc.numerical_gradient(lambda t: np.exp(t[0]) * np.sin(t[0]), np.array([x0]), eps=h, scheme="complex")
        assert abs(g[0] - exact) <= 2 * np.finfo(float).eps * abs(exact)


def test_default_steps_are_the_schemes_optimal_relative_steps():
    theta = np.array([0.5, -3.0, 200.0])
    f = lambda t: np.sum(np.sin(t))  # noqa: E731
    for scheme, expo in (("forward", 1 / 2), ("central", 1 / 3), ("central4", 1 / 5)):
        res = fc.check_gradient(f, theta, np.cos(theta), scheme=scheme)
        expected = np.finfo(float).eps ** expo * np.maximum(1, np.abs(theta))
        np.testing.assert_allclose(res.steps, expected, rtol=1e-6)


# -- the parallel kernel -------------------------------------------------------------------
@pytest.fixture(scope="module")
def quartic_problem():
    rng = np.random.default_rng(3)
    theta = rng.uniform(-1, 1, 300)
    return theta, (0.7,)


def test_parallel_kernel_matches_loop_and_naive(quartic_problem):
    theta, args = quartic_problem
    par = fc.check_gradient(quartic, theta, quartic_grad, args=args)
    loop = fc.check_gradient(quartic.py_func, theta, quartic_grad, args=args, jit=False)
    assert par.path == "parallel" and loop.path == "loop"
    # the Python and the compiled cost round differently (~1 ulp of J), which
    # the quotient magnifies by 1/h: agree to the round-off level
    np.testing.assert_allclose(par.numerical, loop.numerical, rtol=0, atol=1e-8)
    # the same compiled cost through the loop takes exactly the same points
    from fastcheck.checks.gradient import run_check
    from fastcheck.core.options import CheckOptions
    from fastcheck.evaluators.loop import LoopEvaluator

    same = run_check(LoopEvaluator(quartic, args), theta, quartic_grad, CheckOptions(args=args))
    np.testing.assert_array_equal(same.numerical, par.numerical)
    assert par.passed and par.verdict == "great"
    naive = central_difference(lambda t: quartic.py_func(t, *args), theta, 1e-5)
    got = fc.numerical_gradient(quartic, theta, args=args, eps=1e-5)
    np.testing.assert_allclose(got, naive, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("scheme", ["forward", "central", "central4", "complex"])
def test_one_and_two_threads_give_identical_gradients(quartic_problem, two_threads, scheme):
    theta, args = quartic_problem
    with threads(1):
        one = fc.numerical_gradient(quartic, theta, args=args, scheme=scheme)
    with threads(2):
        two = fc.numerical_gradient(quartic, theta, args=args, scheme=scheme)
    np.testing.assert_array_equal(one, two)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


def test_threads_option_is_reported_and_restored(quartic_problem):
    theta, args = quartic_problem
    before = numba.get_num_threads()
    res = fc.check_gradient(quartic, theta, quartic_grad, args=args, threads=1)
    assert res.threads == 1 and numba.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be between"):
        fc.check_gradient(quartic, theta, quartic_grad, args=args, threads=10_000)


def test_complex_step_on_the_parallel_kernel(quartic_problem):
    theta, args = quartic_problem
    res = fc.check_gradient(quartic, theta, quartic_grad, args=args, scheme="complex")
    assert res.path == "parallel"
    assert res.difference < 1e-14


def test_blas_inside_the_parallel_kernel():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 60))
    theta = rng.standard_normal(60)
    res = fc.check_gradient(quadratic_blas, theta, quadratic_grad(theta, A), args=(A,))
    assert res.path == "parallel" and res.passed
    loop = fc.numerical_gradient(quadratic_blas.py_func, theta, args=(A,))
    np.testing.assert_allclose(res.numerical, loop, rtol=0, atol=1e-8)


def test_sample_and_coords_equal_the_full_check(quartic_problem):
    theta, args = quartic_problem
    layout = fc.Layout.from_shapes({"W": (20, 10), "b": (10,), "v": (90,)})
    full = fc.check_gradient(quartic, theta, quartic_grad, args=args, layout=layout)
    sampled = fc.check_gradient(quartic, theta, quartic_grad, args=args, layout=layout, sample=4, seed=7)
    assert len(sampled.coords) == 12
    assert list(layout.block_ids(sampled.coords)) == [0] * 4 + [1] * 4 + [2] * 4
    np.testing.assert_array_equal(sampled.numerical, full.numerical[sampled.coords])
    again = fc.check_gradient(quartic, theta, quartic_grad, args=args, layout=layout, sample=4, seed=7)
    np.testing.assert_array_equal(again.coords, sampled.coords)
    other = fc.check_gradient(quartic, theta, quartic_grad, args=args, layout=layout, sample=4, seed=8)
    assert not np.array_equal(other.coords, sampled.coords)
    picked = np.array([299, 3, 150])
    sub = fc.numerical_gradient(quartic, theta, args=args, coords=picked)
    np.testing.assert_array_equal(sub, full.numerical[picked])
    assert list(sampled.blocks["checked"]) == [4, 4, 4]


def test_small_block_bug_is_not_diluted(quartic_problem):
    theta, args = quartic_problem
    layout = fc.Layout.from_shapes({"W": (299,), "b": (1,)})
    g = quartic_grad(theta, *args)
    g[-1] *= 1.5  # a bug confined to a 1-element bias
    res = fc.check_gradient(quartic, theta, g, args=args, layout=layout)
    assert not res.passed
    assert res.failing_blocks == ["b"]


def test_inputs_are_not_modified(quartic_problem):
    theta, args = quartic_problem
    keep = theta.copy()
    g = quartic_grad(theta, *args)
    gkeep = g.copy()
    fc.check_gradient(quartic, theta, g, args=args)
    fc.check_gradient(quartic.py_func, theta, g, args=args, scheme="central4")
    fc.check_directional(quartic, theta, g, args=args)
    np.testing.assert_array_equal(theta, keep)
    np.testing.assert_array_equal(g, gkeep)


# -- directional -------------------------------------------------------------------------
def test_directional_passes_and_names_a_wrong_block(quartic_problem):
    theta, args = quartic_problem
    layout = fc.Layout.from_shapes({"W": (200,), "b": (100,)})
    g = quartic_grad(theta, *args)
    ok = fc.check_directional(quartic, theta, g, args=args, layout=layout, directions=4)
    assert ok.passed and ok.kind == "directional" and ok.n_evals == 16
    loop = fc.check_directional(quartic.py_func, theta, g, args=args, layout=layout, directions=4)
    np.testing.assert_allclose(ok.numerical, loop.numerical, rtol=1e-10)
    # directional derivative agrees with u·(naive gradient)
    bad = g.copy()
    bad[200:] += 0.05
    res = fc.check_directional(quartic, theta, bad, args=args, layout=layout, directions=4)
    assert not res.passed and res.failing_blocks == ["b"]
    assert set(res.worst(2)["block"]) == {"b"}


# -- bad input --------------------------------------------------------------------------
def f_sum(t):
    return float(np.sum(t**2))


@pytest.mark.parametrize(
    "theta, exc, match",
    [
        (np.arange(3), TypeError, "dtype int"),
        (np.array([1.0, np.nan]), ValueError, "NaN or inf"),
        (np.array([1.0, np.inf]), ValueError, "NaN or inf"),
        (np.zeros(0), ValueError, "empty"),
    ],
)
def test_bad_theta(theta, exc, match):
    with pytest.raises(exc, match=match):
        fc.check_gradient(f_sum, theta, np.zeros(theta.size))


def test_bad_grad_says_both_shapes():
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but theta has shape \(4,\)"):
        fc.check_gradient(f_sum, np.ones(4), np.ones(3))


@pytest.mark.parametrize("eps", [0.0, -1e-3, np.inf, np.nan])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps must be positive and finite"):
        fc.numerical_gradient(f_sum, np.ones(3), eps=eps)


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown scheme 'centre'.*central4"):
        fc.check_gradient(f_sum, np.ones(3), np.ones(3), scheme="centre")


def test_cost_returning_an_array():
    with pytest.raises(ValueError, match=r"cost must return a scalar.*shape \(3,\)"):
        fc.numerical_gradient(lambda t: t**2, np.ones(3))


def test_nonfinite_cost_at_perturbed_points_is_reported():
    theta = np.array([1e-9, 1.0, 2.0])
    f = lambda t: np.sum(np.log(t))  # noqa: E731 - undefined below zero
    with pytest.raises(fc.NonFiniteCostError, match=r"coordinate\(s\), first \[0\]") as info:
        fc.numerical_gradient(f, theta, eps=1e-6)
    assert info.value.coords.tolist() == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = fc.check_gradient(f, theta, 1 / theta, eps=1e-6)
    assert not res.passed
    assert res.nonfinite.tolist() == [0]
    assert np.isfinite(res.difference) and res.difference < 1e-8  # NaN is not folded in
    assert "non-finite cost" in str(res)


def test_float32_theta_works_and_warns():
    theta = np.linspace(0.1, 1, 5).astype(np.float32)
    with pytest.warns(fc.PrecisionWarning, match="float64 is advised"):
        res = fc.check_gradient(lambda t: np.sum(t.astype(np.float64) ** 3), theta, 3 * theta.astype(np.float64) ** 2)
    assert res.verdict in ("great", "ok")


def test_nondeterministic_cost_warns():
    rng = np.random.default_rng(0)
    f = lambda t: np.sum(t**2 * (rng.random(t.shape) > 0.5))  # noqa: E731 - dropout without a fixed mask
    with pytest.warns(fc.NondeterministicCostWarning, match="dropout"):
        fc.check_gradient(f, np.ones(4), 2 * np.ones(4))


def test_bad_options():
    with pytest.raises(ValueError, match="coords or sample, not both"):
        fc.check_gradient(f_sum, np.ones(3), 2 * np.ones(3), coords=[0], sample=1)
    with pytest.raises(IndexError, match=r"coords \[3\] are outside"):
        fc.check_gradient(f_sum, np.ones(3), 2 * np.ones(3), coords=[0, 3])
    with pytest.raises(ValueError, match="sample must be a positive integer"):
        fc.check_gradient(f_sum, np.ones(3), 2 * np.ones(3), sample=0)
    with pytest.raises(ValueError, match="layout has 2 parameters but theta has 3"):
        fc.check_gradient(f_sum, np.ones(3), 2 * np.ones(3), layout={"W": np.zeros(2)})
    with pytest.raises(ValueError, match="thresholds must be positive and increasing"):
        fc.check_gradient(f_sum, np.ones(3), 2 * np.ones(3), thresholds={"great": 1e-2, "ok": 1e-3})
    with pytest.raises(ValueError, match="directions must be a positive integer"):
        fc.check_directional(f_sum, np.ones(3), 2 * np.ones(3), directions=0)


# -- the result ----------------------------------------------------------------------------
def test_result_views():
    theta = np.linspace(-1, 1, 6)
    layout = fc.Layout.from_shapes({"W": (2, 2), "b": (2,)})
    g = 2 * theta
    g[1] = 0.0
    res = fc.check_gradient(f_sum, theta, g, layout=layout)
    w = res.worst(2)
    assert list(w.columns) == ["block", "index", "analytic", "numerical", "abs_err", "rel_err", "estimate", "error_bar",
                               "status"]
    assert w["status"].iloc[0] == "wrong" and w["abs_err"].iloc[0] > 4 * w["error_bar"].iloc[0]
    assert (w["block"].iloc[0], w["index"].iloc[0]) == ("W", "[0,1]")
    row = res.to_frame()
    assert len(row) == 1 and row["difference"].iloc[0] == res.difference
    assert row["failing_blocks"].iloc[0] == "W"
    assert res.blocks.set_index("block").loc["b", "verdict"] == "great"
    assert fc.relative_difference(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("diff, expected", [(1e-8, "great"), (1e-5, "ok"), (1e-3, "suspect"), (0.5, "wrong")])
def test_verdict_bands(diff, expected):
    from fastcheck.verdicts.bands import verdict

    assert verdict(diff) == expected
    assert verdict(diff, {"great": 1.0, "ok": 1.0, "suspect": 1.0}) == "great"


# -- known truncation error, any coefficients --------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

_coef = arrays(np.float64, st.integers(1, 6), elements=st.floats(-3, 3, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(_coef, st.floats(1e-3, 1e-1), st.integers(0, 2**16))
def test_central_error_on_cubics_is_exactly_c_h_squared(c, h, seed):
    """For J = Σ cᵢθᵢ³ the central quotient is 3cᵢθᵢ² + cᵢh² exactly (up to rounding);
    the fourth-order rule is exact on cubics."""
    theta = np.random.default_rng(seed).uniform(-2, 2, len(c))
    f = lambda t: float(np.sum(c * t**3))  # noqa: E731
    res = fc.check_gradient(f, theta, 3 * c * theta**2, eps=h, jit=False)
    hs = res.steps  # the effective steps
    np.testing.assert_allclose(res.numerical, 3 * c * theta**2 + c * hs**2, rtol=1e-9, atol=1e-9)
    g4 = fc.numerical_gradient(f, theta, eps=h, scheme="central4", jit=False)
    np.testing.assert_allclose(g4, 3 * c * theta**2, rtol=1e-9, atol=1e-8)


def test_blas_is_held_to_one_thread_for_a_whole_parallel_check():
    """Between kernels a check calls the cost, the gradient and NumPy serially; on a parallel
    evaluator BLAS stays at one thread for all of it (see fastcheck.checks.gradient.held_blas), and the
    previous limit comes back afterwards.  A plain loop evaluator leaves BLAS alone."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    before = blas_threads()
    if not before or before == [1]:
        pytest.skip("BLAS runs on one thread here anyway")
    seen = {}
    A = np.eye(5) + 0.1

    def grad(theta, A):
        seen.setdefault("grad", blas_threads())
        return quadratic_grad(theta, A)

    res = fc.check_gradient(quadratic_blas, np.linspace(0.1, 0.5, 5), grad, args=(A,))
    assert res.path == "parallel" and res.passed
    def dir_grad(theta, A):
        seen.setdefault("dir", blas_threads())
        return quadratic_grad(theta, A)

    assert fc.check_directional(quadratic_blas, np.linspace(0.1, 0.5, 5), dir_grad, args=(A,)).passed
    assert seen == {"grad": [1], "dir": [1]}
    assert blas_threads() == before
    def loop_grad(theta, A):
        seen.setdefault("loop", blas_threads())
        return quadratic_grad(theta, A)

    loop = fc.check_gradient(lambda t, A: 0.5 * t @ A @ t, np.linspace(0.1, 0.5, 5), loop_grad, args=(A,), jit=False)
    assert loop.path == "loop" and seen["loop"] == before
