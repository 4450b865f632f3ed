"""fit_curve / fit_orders: slopes, floor and best ε that do not depend on one CPU's last bits.

The curves near the bottom of an error-versus-ε plot are round-off: quanta of
an ulp of the gradient, scattered by factors of 2–4, any one of which may
land far below the rest.  Which one does depends on the CPU (BLAS kernels and
summation orders differ between Intel and AMD), so the fit is tested on
synthetic curves with that scatter drawn at random, on curves with
non-finite points, on exact schemes, and on sweeps of smooth test functions
written here from their published definitions.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

from fastcheck import numerical_gradient
from fastcheck.sweep import DEFAULT_EPS, best_rows, eps_sweep, fit_curve, fit_notes, fit_orders
from fastcheck.sweep.fit import NOTES

ULP = 2.0**-52
ORDERS = {"forward": 1, "central": 2, "central4": 4, "complex": 2}


# -- synthetic curves ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 4])
def test_fit_curve_recovers_synthetic_slopes(order):
    eps = np.logspace(0, -14, 57)
    rng = np.random.default_rng(order)
    err = (0.3 * eps**order + 1e-16 / eps) * np.exp(0.1 * rng.standard_normal(len(eps)))
    fit = fit_curve(eps, err)
    assert fit["truncation_slope"] == pytest.approx(order, abs=0.05)
    assert fit["roundoff_slope"] == pytest.approx(-1, abs=0.05)
    assert fit["best_eps"] == pytest.approx((1e-16 / (0.3 * order)) ** (1 / (order + 1)), rel=2.0)
    assert fit["truncation_note"] == fit["roundoff_note"] == ""


def complex_step_curve(seed):
    """C·ε² rounded to quanta of an ulp of the gradient, plus round-off of 0–4 quanta with random signs."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(15, 60))
    eps = np.logspace(0, -rng.uniform(10, 15), n)
    q = ULP * rng.uniform(0.1, 10)
    C = rng.uniform(0.01, 10)
    err = np.abs(np.round(C * eps**2 / q) * q + q * rng.choice([0, 0.5, 1, 1, 2, 2, 4], n) * rng.choice([-1, 1], n))
    return eps, err, C, q


@pytest.mark.parametrize("seed", range(0, 300, 3))
def test_a_plateau_with_round_off_scatter_is_not_a_slope(seed):
    eps, err, C, q = complex_step_curve(seed)
    fit = fit_curve(eps, err, roundoff=False)
    assert fit["truncation_slope"] == pytest.approx(2, abs=0.1)
    # the best ε lies on the plateau (its truncation error is round-off sized) and the floor is round-off
    assert C * fit["best_eps"] ** 2 <= 8 * q
    assert 0 < fit["floor"] <= 4 * q
    assert np.isnan(fit["roundoff_slope"]) and fit["roundoff_note"] == NOTES["complex"]


def test_the_last_point_landing_below_the_plateau_does_not_move_the_best_step():
    """The shape that failed on another CPU: the smallest step's error lands 8× below the plateau."""
    eps = np.logspace(0, -13, 40)
    rng = np.random.default_rng(7)
    q = 1.387779e-17
    err = np.round(0.006 * eps**2 / q) * q + q * rng.choice([0.5, 1, 1, 2], len(eps))
    err[-1] = q / 8
    fit = fit_curve(eps, err, roundoff=False)
    assert fit["truncation_slope"] == pytest.approx(2, abs=0.05)
    assert fit["best_eps"] > 1e-10 and fit["floor"] >= q / 2
    # the same with the lucky point anywhere on the plateau, or exactly 0, or two of them apart
    for where in (-1, -5, -20):
        for value in (0.0, q / 100):
            e2 = err.copy()
            e2[where] = value
            e2[-12] = value
            f2 = fit_curve(eps, e2, roundoff=False)
            assert f2["truncation_slope"] == pytest.approx(2, abs=0.05), (where, value)
            assert f2["floor"] >= q / 2, (where, value)


def test_nonfinite_steps_are_left_out_of_best_floor_and_branches():
    eps = np.logspace(0, -14, 29)
    err = 0.5 * eps**2 + 1e-16 / eps
    bad = np.zeros(len(eps), int)
    bad[:3] = 2  # the largest steps hit a pole: only the finite coordinates were scored ...
    err[:3] = 0.0  # ... and happened to agree exactly
    fit = fit_curve(eps, err, nonfinite=bad)
    assert fit["best_eps"] < eps[2] and fit["floor"] > 0
    assert fit["nonfinite_points"] == 3 and fit["usable_points"] == len(eps) - 3
    assert fit["truncation_slope"] == pytest.approx(2, abs=0.1)
    assert fit["roundoff_slope"] == pytest.approx(-1, abs=0.1)
    bad[:] = 1
    none = fit_curve(eps, err, nonfinite=bad)
    assert np.isnan(none["best_eps"]) and none["truncation_note"] == NOTES["none"]


def test_an_exact_scheme_says_so_instead_of_a_bare_nan():
    eps = np.logspace(0, -14, 29)
    err = 1e-16 / eps  # round-off only: the error falls all the way to the largest step
    fit = fit_curve(eps, err)
    assert np.isnan(fit["truncation_slope"]) and fit["truncation_note"] == NOTES["exact"]
    assert fit["best_eps"] == 1.0 and fit["roundoff_slope"] == pytest.approx(-1, abs=0.01)
    zeros = fit_curve(eps, np.zeros_like(eps), roundoff=False)  # exact to the last bit everywhere
    assert zeros["best_eps"] == 1.0 and zeros["floor"] == 0 and zeros["truncation_note"] == NOTES["exact"]


def test_preasymptotic_steps_are_not_fitted():
    eps = np.logspace(0, -8, 25)
    err = 0.1 * eps**2 + 1e-16 / eps
    relative = err / 0.05  # the largest steps have errors comparable to the gradient
    fit = fit_curve(eps, err, relative=relative)
    assert fit["preasymptotic_points"] == int(((relative > 0.1) & (eps > fit["best_eps"])).sum()) > 0
    assert fit["truncation_eps_max"] < eps[0]


def test_fit_curve_without_enough_points_says_nan():
    fit = fit_curve([1e-1, 1e-2], [1e-2, 1e-4])
    assert np.isnan(fit["truncation_slope"]) and np.isnan(fit["roundoff_slope"])
    assert fit["truncation_note"] == NOTES["few"].format(k=1, m=3)
    assert fit["roundoff_note"] == NOTES["no_roundoff"]  # nothing left of the best step
    assert fit["best_eps"] == 1e-2
    assert np.isnan(fit_curve([1e-1], [np.nan])["best_eps"])


def test_fit_curve_bad_input():
    with pytest.raises(ValueError, match="same length"):
        fit_curve([1e-1, 1e-2], [1e-2])
    with pytest.raises(ValueError, match="one value per step"):
        fit_curve([1e-1, 1e-2], [1e-2, 1e-3], nonfinite=[0])


def test_fit_orders_needs_an_eps_table():
    with pytest.raises(ValueError, match="missing columns"):
        fit_orders(pd.DataFrame({"problem": ["x"]}))


# -- sweeps of smooth functions written from their published definitions -------------------------
def helical_valley(x):
    """Moré–Garbow–Hillstrom problem 7 (start (−1, 0, 0)); complex-safe (the branch on Re x₁)."""
    t = np.arctan(x[1] / x[0]) / (2 * np.pi) + np.where(np.real(x[0]) < 0, 0.5, 0.0)
    r = np.sqrt(x[0] ** 2 + x[1] ** 2)
    return 100 * ((x[2] - 10 * t) ** 2 + (r - 1) ** 2) + x[2] ** 2


def helical_valley_grad(x):
    r2 = x[0] ** 2 + x[1] ** 2
    r = np.sqrt(r2)
    t = np.arctan(x[1] / x[0]) / (2 * np.pi) + (0.5 if x[0] < 0 else 0.0)
    a = x[2] - 10 * t
    dt = np.array([-x[1], x[0]]) / (2 * np.pi * r2)
    g12 = 200 * a * (-10) * dt + 200 * (r - 1) * np.array([x[0], x[1]]) / r
    return np.array([g12[0], g12[1], 200 * a + 2 * x[2]])


BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])
BARD_U = np.arange(1.0, 16.0)
BARD_V = 16.0 - BARD_U
BARD_W = np.minimum(BARD_U, BARD_V)


def bard(x):
    """Moré–Garbow–Hillstrom problem 8 (start (1, 1, 1)): central4 at ε = 1 divides by zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = BARD_Y - (x[0] + BARD_U / (BARD_V * x[1] + BARD_W * x[2]))
    return np.sum(f**2)


def bard_grad(x):
    d = BARD_V * x[1] + BARD_W * x[2]
    f = BARD_Y - (x[0] + BARD_U / d)
    return np.array([np.sum(-2 * f), np.sum(2 * f * BARD_U * BARD_V / d**2), np.sum(2 * f * BARD_U * BARD_W / d**2)])


def lorentzian(x):
    """Σ 1/(1 + xᵢ²) at points with xᵢ = 0: the complex step at ε = 1 lands on the pole x = ±i."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(1.0 / (1.0 + x**2))


def lorentzian_grad(x):
    return -2 * x / (1 + x**2) ** 2


def pole_at_two(x):
    """Σ exp(xᵢ)/(2 − xᵢ): central4 at ε = 1 from xᵢ = 0 lands exactly on the pole."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.exp(x) / (2.0 - x))


def pole_at_two_grad(x):
    return np.exp(x) / (2 - x) + np.exp(x) / (2 - x) ** 2


def quartic(x):
    """Degree 4: central4 is exact on it (its error term is the fifth derivative)."""
    return np.sum(x**4 - 2 * x**3 + x)


def quartic_grad(x):
    return 4 * x**3 - 6 * x**2 + 1


SMOOTH = {
    "helical": (helical_valley, np.array([-1.0, 0.0, 0.0]), helical_valley_grad),
    "bard": (bard, np.ones(3), bard_grad),
    "lorentzian": (lorentzian, np.array([0.0, 0.5, -1.5, 0.0]), lorentzian_grad),
    "pole": (pole_at_two, np.array([0.0, 0.3, -0.7]), pole_at_two_grad),
    "quartic": (quartic, np.array([0.3, -1.2, 2.0]), quartic_grad),
}


@pytest.fixture(scope="module")
def smooth_fits():
    frames = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the poles, on purpose
        for name, (cost, theta, grad) in SMOOTH.items():
            df = eps_sweep((cost, theta, grad), eps=DEFAULT_EPS, dtypes=("float64",), jit=False)
            frames.append(df.assign(problem=name))
    df = pd.concat(frames, ignore_index=True)
    return df, fit_orders(df)


def test_the_reference_gradients_agree_with_the_complex_step():
    for name, (cost, theta, grad) in SMOOTH.items():
        h = 1e-200
        cs = np.array([np.imag(cost(theta + 1j * h * e)) / h for e in np.eye(len(theta))])
        np.testing.assert_allclose(grad(theta), cs, rtol=1e-13, atol=1e-13, err_msg=name)


def test_the_poles_are_hit_by_the_largest_steps(smooth_fits):
    df, fits = smooth_fits
    hit = df[df["n_nonfinite"] > 0].groupby(["problem", "scheme"]).size()
    for problem, scheme in (("bard", "central4"), ("pole", "central4"), ("lorentzian", "complex"),
                            ("helical", "complex")):
        assert hit.get((problem, scheme), 0) >= 1, (problem, scheme)
        f = fits[(fits["problem"] == problem) & (fits["scheme"] == scheme)].iloc[0]
        assert f["nonfinite_points"] == hit[(problem, scheme)]
        assert any("non-finite" in line for line in fit_notes(fits) if line.startswith(f"{problem} {scheme}"))


def test_the_best_step_is_usable_and_the_slopes_follow_the_order(smooth_fits):
    df, fits = smooth_fits
    at_best = best_rows(df, fits)
    assert len(at_best) == len(fits) == len(SMOOTH) * 4
    assert (at_best["n_nonfinite"] == 0).all()
    for _, f in fits.iterrows():
        cost, theta, grad = SMOOTH[f["problem"]]
        g = numerical_gradient(cost, theta, eps=f["best_eps"], scheme=f["scheme"], jit=False)
        assert np.all(np.isfinite(g)), (f["problem"], f["scheme"])
        exact = f["problem"] == "quartic" and f["scheme"] == "central4"
        if exact:
            assert np.isnan(f["truncation_slope"]) and f["truncation_note"] == NOTES["exact"]
        else:
            order = ORDERS[f["scheme"]]
            assert f["truncation_slope"] == pytest.approx(order, rel=0.3), (f["problem"], f["scheme"])
        if f["scheme"] != "complex":
            assert f["roundoff_slope"] == pytest.approx(-1, rel=0.3), (f["problem"], f["scheme"])
