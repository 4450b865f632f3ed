"""The error-bar verdict (verdicts.errorbars): no false alarms on smooth functions, planted errors caught, below the noise."""

import numpy as np

import fastcheck as fc
from tests.verdicts.shared import NOT_SMOOTH_THERE, check_quietly, cubic, quiet


# -- smooth functions: no false alarms, planted errors caught --------------------------------------
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
        r = check_quietly(f, x, g)
        verdicts[label] = r.verdict
        assert r.verdict in ("great", "ok", "inconclusive"), (label, r.headline())
    # the cases that are not smooth at their point (a kink at 0, an abs the complex step sees) may be
    # inconclusive (never wrong, asserted above); how many of them settle differs from one CPU to another
    # (all four were inconclusive on an AMD EPYC, fewer where CI passed), so they are outside the 1 % budget
    smooth_there = {k: v for k, v in verdicts.items() if k not in NOT_SMOOTH_THERE}
    inconclusive = [k for k, v in smooth_there.items() if v == "inconclusive"]
    assert len(smooth_there) > 250 and len(verdicts) - len(smooth_there) == len(NOT_SMOOTH_THERE)
    assert len(inconclusive) <= 0.01 * len(smooth_there), inconclusive


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
        r = check_quietly(f, x, bad, layout=layout)
        assert r.verdict == "wrong" and r.wrong_blocks == ["planted"], (label, r.headline())


# -- issue items: below the noise, dilution, non-finite --------------------------------------------
def test_a_gradient_below_the_round_off_never_passes():
    theta = np.linspace(-1, 1, 5)
    r = check_quietly(lambda t: 1e6 + 1e-5 * float(np.sum(t)), theta, np.zeros(5))
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
        r = fc.check_gradient(cubic, theta, bad, layout=layout)
        assert not r.passed and r.verdict == "wrong" and r.wrong_blocks == ["W"], (rel, r.headline())
        assert r.difference < 1e-4  # the norm alone would have diluted it
        assert r.worst(1)["index"].iloc[0] == "[12345]"


@quiet
def test_non_finite_costs_are_never_great():
    theta = np.array([1e-9, 1.0, 2.0, 3.0])
    layout = fc.Layout.from_shapes({"a": (1,), "b": (3,)})
    r = check_quietly(lambda t: np.sum(np.log(t)), theta, 1 / theta, eps=1e-6, layout=layout)
    assert not r.passed and r.verdict == "inconclusive" and "non-finite" in r.reason
    blocks = r.blocks.set_index("block")
    assert blocks.loc["a", "verdict"] == "inconclusive" and blocks.loc["b", "verdict"] == "great"
    assert r.failing_blocks == ["a"]
    assert "FAILED — inconclusive" in str(r) and "great" not in r.headline()


# -- a gradient that is zero by construction: invariant, not saturated ----------------------------
def _normalised_layer():
    """A linear layer followed by a batch normalisation: the cost cannot depend on the bias b
    (the mean removes it), so db is zero and backprop gives round-off."""
    rng = np.random.default_rng(7)
    X, w = rng.standard_normal((8, 3)), rng.standard_normal((8, 4))
    layout = fc.Layout.from_shapes({"W": (3, 4), "b": (4,)})

    def parts(t):
        p = layout.unflatten(t)
        z = X @ p["W"] + p["b"]
        s = np.sqrt(z.var(0) + 1e-5)
        return (z - z.mean(0)) / s, s

    def cost(t):
        return float(np.sum(parts(t)[0] * w))

    def grad(t):
        zh, s = parts(t)
        dz = (w - w.mean(0) - zh * (w * zh).mean(0)) / s
        return layout.flatten({"W": X.T @ dz, "b": dz.sum(0)})

    theta = layout.flatten({"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)})
    return cost, grad, theta, layout


def test_a_bias_before_a_normalisation_passes_as_zero():
    cost, grad, theta, layout = _normalised_layer()
    r = check_quietly(cost, theta, grad(theta), layout=layout)
    v = dict(zip(r.blocks["block"], r.blocks["verdict"]))
    assert r.passed and v["b"] != "inconclusive", str(r)


def test_a_nonzero_gradient_of_an_invariant_coordinate_is_not_passed():
    cost, grad, theta, layout = _normalised_layer()
    g = grad(theta)
    g[12:] += 1e-3  # db should be 0
    r = check_quietly(cost, theta, g, layout=layout)
    v = dict(zip(r.blocks["block"], r.blocks["verdict"]))
    assert not r.passed and v["b"] != "great" and v["b"] != "ok", str(r)


def test_the_rows_of_the_costs_are_read_as_numpys_reductions_read_them():
    """errorbars.rows_equal / rows_finite (a column at a time) against np.all(..., axis=1), with NaN,
    ±inf, J(θ) itself and a stencil of one, two and four costs."""
    from fastcheck.verdicts.errorbars import rows_equal, rows_finite

    rng = np.random.default_rng(3)
    f0 = 0.5
    for k in (1, 2, 4):
        costs = rng.choice([f0, 0.25, np.nan, np.inf, -np.inf, f0 + 1e-16], size=(200, k))
        np.testing.assert_array_equal(rows_equal(costs, f0), np.all(costs == f0, axis=1))
        np.testing.assert_array_equal(rows_finite(costs), np.isfinite(costs).all(axis=1))
    assert rows_equal(np.zeros((3, 0)), f0).all() and rows_finite(np.zeros((3, 0))).all()
