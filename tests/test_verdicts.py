"""Verdicts from error bars: on code nobody here wrote, on kinks, below the noise, in low precision.

References: exact gradients of published smooth test functions (``tests/smooth.py``, by the
complex step at h = 1e-200), a ReLU network written here in plain NumPy with its own backprop,
and the built-in networks' exact kink flags.
"""
import json
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck import check_model
from fastcheck.checks.directional import random_directions
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import MLP, MUTANTS, SHOWCASE
from fastcheck.verdicts import errorbars, ladder

from . import smooth

quiet = pytest.mark.filterwarnings("ignore::RuntimeWarning")
# Ackley is not differentiable at 0 (√(Σx²)), so at 1e-6·x0 the steps straddle its corner; at
# 100·x0 its point is a stationary point of every term (gradient ~1e-12)
NOT_SMOOTH_THERE = ("ackley-n2-x100", "ackley-n2-x1e-6", "ackley-n10-x1e-6", "ackley-n100-x1e-6")


def _check(f, x, g, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fc.check_gradient(f, x, g, jit=False, **kw)


# -- smooth functions: no false alarms, planted errors caught --------------------------------------
@pytest.fixture(scope="module")
def smooth_table():
    rows = []
    for label, f, x in smooth.cases():
        g = smooth.reference_gradient(f, x)
        if np.all(np.isfinite(g)):
            rows.append((label, f, x, g))
    return rows


def test_reference_gradients_are_independent_of_the_check(smooth_table):
    """The complex-step references agree with a plain central difference at a moderate step
    (loosely: this only guards against a function that is not complex-analytic as written)."""
    for label, f, x, g in smooth_table[::5]:
        if label in NOT_SMOOTH_THERE:
            continue
        h = 1e-5 * np.where(x != 0, np.abs(x), 1.0)
        num = np.array([(f(x + h[i] * e) - f(x - h[i] * e)) / (2 * h[i]) for i, e in enumerate(np.eye(len(x)))])
        scale = np.abs(g).max() + 1e-300
        assert np.max(np.abs(num - g)) <= 1e-3 * scale + 1e-10 * abs(f(x)) / h.min(), label


def test_correct_gradients_of_smooth_functions_never_read_wrong(smooth_table):
    verdicts = {}
    for label, f, x, g in smooth_table:
        r = _check(f, x, g)
        verdicts[label] = r.verdict
        assert r.verdict in ("great", "ok", "inconclusive"), (label, r.headline())
    inconclusive = [k for k, v in verdicts.items() if v == "inconclusive"]
    assert len(verdicts) > 250
    assert len(inconclusive) <= 0.01 * len(verdicts), inconclusive


def test_a_one_percent_error_in_one_coordinate_is_caught_in_its_block(smooth_table):
    for label, f, x, g in smooth_table:
        if label in NOT_SMOOTH_THERE or len(x) < 2:
            continue
        j = int(np.argmax(np.abs(g)))
        bad = g.copy()
        bad[j] *= 1.01
        layout = fc.Layout.from_shapes({"head": (j,), "planted": (1,), "tail": (len(x) - j - 1,)}) if 0 < j < len(x) - 1 \
            else None
        if layout is None:
            continue
        r = _check(f, x, bad, layout=layout)
        assert r.verdict == "wrong" and r.wrong_blocks == ["planted"], (label, r.headline())


# -- issue items: below the noise, dilution, non-finite --------------------------------------------
def test_a_gradient_below_the_round_off_never_passes():
    theta = np.linspace(-1, 1, 5)
    r = _check(lambda t: 1e6 + 1e-5 * float(np.sum(t)), theta, np.zeros(5))
    assert not r.passed and r.verdict in ("inconclusive", "wrong"), r.headline()
    if r.verdict == "inconclusive":
        assert "round-off" in r.reason and "float64" in r.reason


def test_one_bad_coordinate_among_many_fails_its_block():
    n = 100_000
    theta = np.random.default_rng(0).uniform(-1, 1, n)
    g = 3 * theta**2 + 1
    layout = fc.Layout.from_shapes({"W": (n - 10,), "b": (10,)})
    for rel in (1e-2, 1e-4):
        bad = g.copy()
        bad[12_345] *= 1 + rel
        r = fc.check_gradient(_cubic, theta, bad, layout=layout)
        assert not r.passed and r.verdict == "wrong" and r.wrong_blocks == ["W"], (rel, r.headline())
        assert r.difference < 1e-4  # the norm alone would have diluted it
        assert r.worst(1)["index"].iloc[0] == "[12345]"


def _cubic_py(t):
    return np.sum(t**3 + t)


_cubic = __import__("numba").njit(_cubic_py)


@quiet
def test_non_finite_costs_are_never_great():
    theta = np.array([1e-9, 1.0, 2.0, 3.0])
    layout = fc.Layout.from_shapes({"a": (1,), "b": (3,)})
    r = _check(lambda t: np.sum(np.log(t)), theta, 1 / theta, eps=1e-6, layout=layout)
    assert not r.passed and r.verdict == "inconclusive" and "non-finite" in r.reason
    blocks = r.blocks.set_index("block")
    assert blocks.loc["a", "verdict"] == "inconclusive" and blocks.loc["b", "verdict"] == "great"
    assert r.failing_blocks == ["a"]
    assert "FAILED — inconclusive" in str(r) and "great" not in r.headline()


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
    r = _check(smooth.ackley, np.zeros(n), np.array([1e-2, 0.0]))
    assert r.passed and r.precision == "float64" and np.all(r.steps < 1e-4), str(r)
    assert r.kinks["coord"].tolist() == [0]
    np.testing.assert_allclose(r.kinks[["left", "right"]].to_numpy()[0], [-slope, slope], rtol=1e-4)
    r = _check(smooth.ackley, np.zeros(n), np.array([1.5 * slope, 0.0]))
    assert r.verdict == "wrong" and r.precision == "float64", str(r)


def test_cancelled_float64_values_are_not_read_as_float32():
    from fastcheck.verdicts.precision import _significant_bits

    assert _significant_bits(np.array([0.0, 1.0, 0.75, np.float32(0.1), 0.1])).tolist() == [0, 1, 2, 24, 52]
    # J = 20 − 20·exp(−|t|/5) + t: near 0 a few-bit multiple of ulp(20), float32-representable
    f = lambda t: 20 - 20 * np.exp(-np.sqrt(np.sum(t * t)) / 5) + 1e-14 * np.sum(t)  # noqa: E731
    r = _check(f, np.zeros(2), np.array([1e-14, 1e-14]))
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


# -- headlines and hints ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", [m for m in MUTANTS if MUTANTS[m].visible(MLP(**SHOWCASE))])
def test_failing_headlines_say_why(name):
    model = MLP(**SHOWCASE)
    theta = model.init(seed=5)
    X, y = model.sample_data(8, seed=6)
    r = check_model(model.mutant(name), theta, X, y)
    assert not r.passed
    head = r.headline()
    assert head.startswith("FAILED — wrong in ") and "great" not in head and "— ok" not in head
    assert set(r.wrong_blocks) <= set(MUTANTS[name].blocks(model))


def test_a_sample_that_saw_only_zero_gradients_says_so():
    n = 50
    theta = np.linspace(-1, 1, 2 * n)
    layout = fc.Layout.from_shapes({"live": (n,), "dead": (n,)})

    def cost(t):
        return np.sum(t[:n] ** 2) + np.sum(np.maximum(t[n:] - 5.0, 0.0) ** 2)  # 'dead' is flat here

    g = np.concatenate([2 * theta[:n], np.zeros(n)])
    r = _check(cost, theta, g, layout=layout, sample=3)
    dead = r.blocks.set_index("block").loc["dead"]
    assert dead["verdict"] == "inconclusive" and "only zero gradients" in dead["note"]
    assert not r.passed and "only zero gradients" in r.headline()
    full = _check(cost, theta, g, layout=layout)
    assert full.passed and full.blocks.set_index("block").loc["dead", "note"] == "all zero"


def test_hint_names_the_highest_failing_layer_and_the_output_gradient():
    from fastcheck.verdicts.bands import hint

    layout = fc.Layout.from_shapes({"W1": (2, 2), "b1": (2,), "W2": (2, 2), "b2": (2,), "W3": (2, 1), "b3": (1,)})
    assert "layer 2" in hint(layout, ["W1", "b1", "W2", "b2"]) and "W2, b2" in hint(layout, ["W1", "b1", "W2", "b2"])
    assert "output" in hint(layout, list(layout.names))
    assert hint(layout, ["W3"]) == "look at the backprop of: W3"
    assert hint(layout, []) == ""


def test_cli_exits_3_when_inconclusive(tmp_path, capsys):
    from fastcheck.cli import main

    f = tmp_path / "edge.py"
    f.write_text(
        "import numpy as np\n"
        "def make():\n"
        "    theta = np.array([1e-9, 1.0, 2.0])\n"
        "    return (lambda t: float(np.sum(np.log(t)))), theta, 1 / theta\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = main(["check", f"{f}:make", "--eps", "1e-6"])
    out = capsys.readouterr().out
    assert code == 3 and "FAILED — inconclusive" in out and "non-finite" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(["check", f"{f}:make", "--eps", "1e-12"]) == 0


# -- eps="adaptive" -----------------------------------------------------------------------------------
def test_adaptive_estimates_and_error_bars(smooth_table):
    """On the smooth table (n ≤ 12), the adaptive estimate is accurate and its error bar covers the
    truth on nearly every coordinate; a naive reference: the complex-step gradient."""
    errs, covered, total = [], 0, 0
    for label, f, x, g in smooth_table:
        if len(x) > 12 or label in NOT_SMOOTH_THERE:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, bar = fc.adaptive_gradient(f, x, jit=False)
        errs.append(np.max(np.abs(est - g)) / max(np.max(np.abs(g)), 1e-300))
        covered += int(np.sum(np.abs(est - g) <= 4 * bar + 1e-6 * np.abs(g)))
        total += len(x)
    assert np.median(errs) < 1e-9
    assert covered >= 0.98 * total


def test_adaptive_checks_catch_a_planted_error():
    theta = np.random.default_rng(1).uniform(-2, 2, 300)
    g = 3 * theta**2 + 1
    ok = fc.check_gradient(_cubic, theta, g, eps="adaptive")
    # the rounds stop early on a cubic: six evaluations per coordinate, not the full ladder's 22
    assert ok.passed and 6 * 300 <= ok.n_evals < 22 * 300
    bad = g.copy()
    bad[7] *= 1.001
    r = fc.check_gradient(_cubic, theta, bad, eps="adaptive")
    assert r.verdict == "wrong" and r.worst(1)["index"].iloc[0] == "[7]"
    np.testing.assert_allclose(fc.numerical_gradient(_cubic, theta, eps="adaptive"), g, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="'adaptive'"):
        fc.numerical_gradient(_cubic, theta, eps="adaptve")


def _mixed_scale_py(t):
    return np.sum(t**3) + np.sin(1e4 * t[0]) * 1e-4


def test_adaptive_rounds_stop_per_coordinate():
    """Coordinates that settle on the largest steps stop there; one with a short length scale runs
    every round and gets exactly the full ladder's estimate and error bar (same costs)."""
    from fastcheck.evaluators.loop import LoopEvaluator
    from fastcheck.verdicts import errorbars, ladder

    theta = np.array([0.3, -1.2, 0.7, 2.0])
    truth = 3 * theta**2
    truth[0] += np.cos(1e4 * theta[0])
    ev = LoopEvaluator(_mixed_scale_py)
    f0 = ev.value(theta)
    coords = np.arange(4)
    mach = np.finfo(np.float64).eps
    base = errorbars.ladder_base(theta, coords, mach)
    lad, n_evals = ladder.adaptive(ev, theta, coords, base, f0, mach)
    full, n_full = ladder.evaluate(ev, theta, coords, base, f0, mach, ladder.ADAPTIVE_RUNGS, ladder.ADAPTIVE_RATIO)
    assert n_full == 22 * 4 and n_evals == 22 + 3 * 6
    assert lad.estimate[0] == full.estimate[0] and lad.error[0] == full.error[0]
    assert np.all(np.isnan(lad.central[1:, 3:])) and np.all(np.isfinite(lad.central[:, :3]))
    np.testing.assert_allclose(lad.estimate[1:], truth[1:], rtol=1e-12)
    assert np.all(np.abs(lad.estimate - truth) <= lad.error)
    with pytest.raises(ValueError, match="add up"):
        ladder.adaptive(ev, theta, coords, base, f0, mach, rounds=(3, 2))


def test_cli_accepts_eps_adaptive(capsys):
    from fastcheck.cli import main

    assert main(["check", "--sizes", "6,5,3", "--batch", "4", "--eps", "adaptive", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and out["n_evals"] >= 20 * out["checked"]


# -- directional checks: a ladder along u for the directions that look wrong -----------------------
def _relu_then_sine_py(t):
    return np.sum(np.maximum(t[:4], 0.0)) + np.sum(np.sin(t[4:]))


def _relu_then_sine_grad(t):
    return np.concatenate([(t[:4] > 0).astype(float), np.cos(t[4:])])


@pytest.mark.parametrize("corner", [0.0, 1e-7])
def test_directional_check_reads_a_relu_corner_as_a_kink(corner):
    """A direction through a ReLU corner (at θ, or within the step) reads u·g against one-sided
    slopes along u; the corner is listed as a kink (its slopes: the other coordinates' sum plus
    min/max(u₀, 0), written out here by hand) and kept out of the verdict.  Every direction of
    the block crosses that corner, so the block is inconclusive (not wrong, as it read before
    the ladder), the smooth block is read as usual, and a planted bug there fails naming it."""
    theta = np.array([corner, 0.5, -0.3, 0.8, 0.1, 0.2, 0.3])
    layout = fc.Layout.from_shapes({"relu": (4,), "sine": (3,)})
    g = _relu_then_sine_grad(theta)
    r = fc.check_directional(_relu_then_sine_py, theta, g, layout=layout, directions=4, jit=False, workers=1)
    assert r.verdict == "inconclusive" and not r.wrong_blocks, str(r)
    verdicts = dict(zip(r.blocks["block"], r.blocks["verdict"]))
    assert verdicts["relu"] == "inconclusive" and verdicts["sine"] in ("great", "ok"), str(r)
    assert r.kinks["coord"].tolist() == [0, 1, 2, 3] and set(r.kinks["block"]) == {"relu"}, str(r)
    _, start, vals, _ = random_directions(layout, 4, 0, True)
    for d, left, right in zip(r.kinks["coord"], r.kinks["left"], r.kinks["right"]):
        u = vals[start[d] : start[d + 1]]
        rest = u[1] + u[3]  # θ₁ and θ₃ are on the linear side, θ₂ on the flat one
        if corner == 0.0:  # at θ: the two sides' slopes
            want = sorted([rest + min(u[0], 0.0), rest + max(u[0], 0.0)])
            np.testing.assert_allclose(sorted([left, right]), want, rtol=1e-6, atol=1e-8)
        else:  # within the step: the side away from the corner is θ's own slope, u·g
            pure = right if u[0] > 0 else left
            np.testing.assert_allclose(pure, rest + u[0], rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(r.analytic[d], rest + u[0], rtol=1e-12)
    assert "kink" in str(r)
    bad = g.copy()
    bad[5] *= 1.01
    r = fc.check_directional(_relu_then_sine_py, theta, bad, layout=layout, directions=4, jit=False, workers=1)
    assert r.verdict == "wrong" and r.wrong_blocks == ["sine"], str(r)


def test_directional_smooth_cost_needs_no_ladder():
    """A clean directional check of a smooth cost never reaches the ladder: two evaluations per
    direction (plus the second step for those that do not agree at once)."""
    theta = np.linspace(-1, 1, 7) + 0.05
    layout = fc.Layout.from_shapes({"relu": (4,), "sine": (3,)})
    r = fc.check_directional(lambda t: np.sum(np.sin(t)), theta, np.cos(theta), layout=layout, directions=4, jit=False,
                             workers=1)
    assert r.passed and len(r.kinks) == 0 and r.n_evals <= 4 * 2 * 2


def test_richardson_kernel_matches_the_numpy_table():
    """The compiled table (row by row) against the whole-table NumPy version in tests/naive.py:
    the same numbers, bit for bit, on real ladders of the smooth table, on costs with NaN and inf
    holes, short ladders, and with extra cost noise."""
    from . import naive

    mach = float(np.finfo(np.float64).eps)
    tables = []
    for label, f, x in list(smooth.cases(max_n=10))[::9]:
        ev = LoopEvaluator(f)
        coords = np.arange(len(x))
        base = errorbars.ladder_base(x, coords, mach)
        for rungs, ratio in ((ladder.ADAPTIVE_RUNGS, ladder.ADAPTIVE_RATIO), (ladder.REFINE_RUNGS, ladder.RATIO)):
            offs = ladder.offsets_for(rungs, ratio)
            with np.errstate(all="ignore"):
                costs = ev.stencil(x, coords, base, offs)
            tables.append((costs, ladder.effective_offsets(x, coords, base, offs), ev.value(x), ratio))
    rng = np.random.default_rng(3)
    costs, disp, f0, ratio = tables[0]
    holes = costs.copy()
    holes[rng.random(holes.shape) < 0.15] = np.nan
    holes[0, 3] = np.inf
    tables += [(holes, disp, f0, ratio), (costs[:, :6], disp[:, :6], f0, ratio), (costs[:, :4], disp[:, :4], f0, ratio)]
    for k, (c, d, f0, ratio) in enumerate(tables):
        noise = rng.random(len(c)) * 1e-12 if k % 2 else None
        got = ladder.extrapolate(c, d, f0, mach, ratio, cost_noise=noise)
        want = naive.richardson_table(c, d, f0, mach, ratio, cost_noise=noise, levels=ladder.LEVELS,
                                      rounding=ladder.COST_ROUNDING)
        for name, value in want.items():
            np.testing.assert_array_equal(getattr(got, name), value, err_msg=f"{name} of table {k}")


def test_adaptive_gradient_on_worker_processes_is_the_loop_bit_for_bit():
    """``workers=2`` sends every round's evaluations to the pool: the same costs, so the same
    estimates and error bars as the serial loop, and the rounds still stop early."""
    f = smooth.function("extended_rosenbrock")
    x = np.linspace(-1.2, 1.0, 40)
    g1, e1 = fc.adaptive_gradient(f, x, jit=False, workers=1)
    g2, e2 = fc.adaptive_gradient(f, x, jit=False, workers=2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_allclose(g1, smooth.reference_gradient(f, x), rtol=1e-9, atol=1e-9)
