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


def _adaptive_and_full(f, x, coords=None):
    """``ladder.adaptive`` and the whole ladder (``ladder.evaluate``) on the same costs, with the evaluations."""
    ev = LoopEvaluator(f)
    coords = np.arange(len(x)) if coords is None else np.asarray(coords)
    mach = np.finfo(np.float64).eps
    base = errorbars.ladder_base(x, coords, mach)
    f0 = ev.value(x)
    lad, n_evals = ladder.adaptive(ev, x, coords, base, f0, mach)
    full, _ = ladder.evaluate(ev, x, coords, base, f0, mach, ladder.ADAPTIVE_RUNGS, ladder.ADAPTIVE_RATIO)
    return lad, n_evals, full


def _cut_short(f, x, g, K=5):
    """The first ``K`` adaptive rungs of ``f`` at ``x`` extrapolated as a ladder cut short (as round 2 of
    ``eps="adaptive"`` reads them): the error bar, the true error and the once-extrapolated quotients' reading
    of the last rungs t·|R¹_{K−3} − R¹_{K−2}| as a bound of each rung's quotient, all relative to |g|."""
    mach = np.finfo(np.float64).eps
    coords = np.arange(len(x))
    base = ladder.base_steps(x, coords, mach)
    offs = ladder.offsets_for(ladder.ADAPTIVE_RUNGS[:K], ladder.ADAPTIVE_RATIO)
    eye = np.eye(len(x))
    costs = np.array([[f(x + o * base[i] * eye[i]) for o in offs] for i in coords])
    disp = ladder.effective_offsets(x, coords, base, offs)
    lad = ladder.extrapolate(costs, disp, f(x), mach, ladder.ADAPTIVE_RATIO, tail_noise=False)
    w = ladder.ADAPTIVE_RATIO**2
    r1 = (w * lad.central[:, 1:] - lad.central[:, :-1]) / (w - 1)
    once = np.abs(r1[:, -2] - r1[:, -1])  # t·|ΔR¹| over t: the level-1 reading of the last rung's noise
    return lad.error / np.abs(g), np.abs(lad.estimate - g) / np.abs(g), once / np.abs(g)


@pytest.mark.parametrize("case", ["exp", "cos3"])
def test_a_cut_short_ladder_reads_the_noise_from_twice_extrapolated_quotients(case):
    """Five rungs of a smooth transcendental cost (steps 0.4 … 0.0016 of max(1, |θ_i|)): the once-extrapolated
    quotients of the last rungs still carry truncation (1e-10 … 1e-7 of |g|), which, read as the cost's noise,
    made the error bar 1e3-1e5× the true error and sent the coordinate on to the next round.  The
    twice-extrapolated quotients bound the noise more tightly: the bar stays above the true error and far below
    that reading."""
    x = np.array([0.3, 1.1, -0.7])
    if case == "exp":
        f, g = (lambda t: float(np.sum(np.exp(t)))), np.exp(x)
    else:
        f = lambda t: float(np.sum(np.cos(3 * t)) + np.prod(np.exp(t)))  # noqa: E731
        g = -3 * np.sin(3 * x) + np.prod(np.exp(x))
    bar, err, once = _cut_short(f, x, g)
    assert np.all(err <= bar)
    assert np.all(once > 1e-11)  # the level-1 reading is far above round-off (ε|J|/t ≈ 1e-13 of |g|)
    assert np.all(bar < 0.01 * once)


def _case(label):
    return next((f, x) for name, f, x in smooth.cases(max_n=100) if name == label)


def test_a_noise_plateau_stops_a_coordinate_that_smaller_steps_cannot_help(monkeypatch):
    """Moré–Garbow–Hillstrom's trigonometric function at n = 100: its value (8e-4) is a sum of terms of size
    ~100, so it rounds some 1e4× worse than ε·|J|, and the rounding bound of the next smaller rung never stops
    a coordinate.  Once the twice-extrapolated quotients of the smallest rungs show that noise twice (a
    plateau), the coordinates stop there: fewer evaluations than without the rule, the same estimate to
    within its bar, and every bar covers the complex-step gradient."""
    f, x = _case("trigonometric-n100-x1")
    ref = smooth.reference_gradient(f, x)
    lad, n_evals, _ = _adaptive_and_full(f, x)
    monkeypatch.setattr(ladder, "_noise_plateau", lambda central, steps, ratio, most: np.zeros(len(central)))
    plain, n_plain, _ = _adaptive_and_full(f, x)
    assert n_evals < 0.8 * n_plain
    assert np.all(np.abs(lad.estimate - ref) <= lad.error)
    assert np.all(np.abs(lad.estimate - plain.estimate) <= lad.error + plain.error)


def test_an_oscillation_at_large_steps_is_no_noise_plateau():
    """Ackley's function at a mixed-scale point (coordinates up to ~1e3, cos 2πθ_i of period 1): over steps
    far longer than the period the twice-extrapolated quotients repeat an averaged slope, a plateau far above
    any rounding of |J|.  It is not read as noise (the plateau must stay below √ε·|J|): the coordinates go on
    to the steps that resolve the period, and the estimate stays within 1e-6 of the gradient's scale (it was
    off by 90 % when such a plateau stopped them)."""
    f, x = _case("ackley-n10-mixed")
    ref = smooth.reference_gradient(f, x)
    lad, _, _ = _adaptive_and_full(f, x)
    assert np.max(np.abs(lad.estimate - ref)) <= 1e-6 * np.abs(ref).max()
    assert np.all(np.abs(lad.estimate - ref) <= lad.error)


def test_a_round_off_dominated_coordinate_stops_when_no_smaller_step_can_help():
    """J = 1e8 + Σ((x − 0.5)² + 0.1x³): round-off of |J| ≈ 1e8 dominates every error bar, far above
    ε^(3/4) of the gradient.  Every coordinate stops after the first round (6 evaluations, not the 22
    of the whole ladder), the whole ladder gives no smaller error bar (the rule's claim), and the bars
    cover the complex-step gradient."""
    f = smooth.large_offset_quadratic
    x = np.linspace(-3.0, 3.0, 10)
    ref = smooth.reference_gradient(f, x)
    lad, n_evals, full = _adaptive_and_full(f, x)
    assert n_evals == 6 * len(x)
    assert np.all(lad.error <= full.error)
    assert np.all(np.abs(lad.estimate - ref) <= lad.error)
    # not settled (the bars are far above eps^(3/4) of the gradient): the round-off rule stopped them
    assert np.all(lad.error > np.finfo(float).eps ** ladder.ADAPTIVE_RTOL * np.abs(ref).max())


@pytest.mark.parametrize("name", ["powell_badly_scaled", "brown_badly_scaled"])
def test_adaptive_on_badly_scaled_problems(name):
    """Moré–Garbow–Hillstrom's badly scaled problems at the standard point ×1, ×10, ×100, ×1e-6 and a
    mixed-scale point: within 1e-9 of the complex-step gradient's scale, and each error bar covers its
    coordinate's error."""
    f = smooth.function(name)
    start = next(p[3] for p in smooth.PROBLEMS if p[0] == name)
    for scale in smooth.SCALES:
        x = smooth.point(start, scale, 2)
        ref = smooth.reference_gradient(f, x)
        lad, n_evals, _ = _adaptive_and_full(f, x)
        assert np.max(np.abs(lad.estimate - ref)) <= 1e-9 * np.max(np.abs(ref)), scale
        assert np.all(np.abs(lad.estimate - ref) <= lad.error), scale
        assert n_evals <= 22 * len(x)


def test_a_short_oscillation_at_a_large_mixed_scale_coordinate_is_read_at_small_steps():
    """Ackley's function (n = 100) at the mixed-scale point: θ_94 ≈ 2097, so the ladder's steps run
    from 830 down to 8e-4 while the cost oscillates with period 1.  Over the steps far longer than
    the period the oscillation averages out and the quotients converge, to another slope (−1.1e-5
    instead of −0.079): the whole ladder's smallest-error entry is that one, with a bar that misses by
    far.  eps="adaptive" checks every estimate against its smallest steps' quotient and reads it there:
    within its error bar of the complex-step gradient."""
    f = smooth.function("ackley")
    x = smooth.point(next(p[3] for p in smooth.PROBLEMS if p[0] == "ackley"), "mixed", 100)
    coords = np.array([94, 90, 3])
    ref = smooth.reference_gradient(f, x)[coords]
    lad, _, full = _adaptive_and_full(f, x, coords)
    assert abs(full.estimate[0] - ref[0]) > 100 * full.error[0]  # the trap is there
    assert np.all(np.abs(lad.estimate - ref) <= lad.error)
    assert np.max(np.abs(lad.estimate - ref)) <= 1e-5 * np.max(np.abs(ref))
    g, bar = fc.adaptive_gradient(f, x, coords=coords, jit=False)
    np.testing.assert_array_equal(g, lad.estimate)
    assert np.all(np.abs(g - ref) <= bar)


def test_cli_accepts_eps_adaptive(capsys):
    from fastcheck.cli import main

    assert main(["check", "--sizes", "6,5,3", "--batch", "4", "--eps", "adaptive", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the ladder ran: at least its first round (6 evaluations per coordinate), at most all of it (22)
    assert out["passed"] and out["eps"] == "adaptive" and 6 * out["checked"] <= out["n_evals"] <= 22 * out["checked"]




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
