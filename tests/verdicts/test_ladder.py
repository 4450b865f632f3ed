"""eps="adaptive" (verdicts.ladder): estimates, error bars, rounds that stop per coordinate, worker processes."""
import json
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.verdicts import errorbars, ladder
from tests import smooth
from tests.verdicts.shared import NOT_SMOOTH_THERE, cubic


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
    ok = fc.check_gradient(cubic, theta, g, eps="adaptive")
    # the rounds stop early on a cubic: six evaluations per coordinate, not the full ladder's 22
    assert ok.passed and 6 * 300 <= ok.n_evals < 22 * 300
    bad = g.copy()
    bad[7] *= 1.001
    r = fc.check_gradient(cubic, theta, bad, eps="adaptive")
    assert r.verdict == "wrong" and r.worst(1)["index"].iloc[0] == "[7]"
    np.testing.assert_allclose(fc.numerical_gradient(cubic, theta, eps="adaptive"), g, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="'adaptive'"):
        fc.numerical_gradient(cubic, theta, eps="adaptve")


def _mixed_scale_py(t):
    return np.sum(t**3) + np.sin(1e4 * t[0]) * 1e-4


def test_adaptive_rounds_stop_per_coordinate():
    """Coordinates that settle on the largest steps stop there; one with a short length scale runs
    every round and gets exactly the full ladder's estimate and error bar (same costs)."""

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


def test_a_low_precision_refinement_ladder_stays_within_half_of_theta_s_scale():
    from fastcheck.verdicts import ladder as lad

    theta16 = np.array([0.0, 3.0, -40.0], np.float16)
    base = lad.refine_base_steps(theta16, np.arange(3), 2.0**-10)
    top = lad.RATIO ** lad.REFINE_RUNGS[0] * base
    np.testing.assert_allclose(top, lad.LONGEST * np.maximum(1.0, np.abs(theta16.astype(np.float64))))
    theta32 = theta16.astype(np.float32)  # float32 and float64 ladders are the plain ones
    np.testing.assert_array_equal(lad.refine_base_steps(theta32, np.arange(3), 2.0**-23),
                                  lad.base_steps(theta32, np.arange(3), 2.0**-23))
