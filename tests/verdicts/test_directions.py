"""Directional checks (verdicts.directions): a ladder along u for the directions that look wrong, kinks along u."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.checks.directional import random_directions


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
