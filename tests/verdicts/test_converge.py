"""verdicts/converge.py: what a ladder of steps may conclude (unit tests on constructed quotients)."""
import numpy as np
import pytest

from fastcheck.verdicts import converge

T = 1e-3 * 2.0 ** -np.arange(19)  # rungs 1e-3 … 1e-3/2^18, largest first
EPS = np.finfo(float).eps


def _read(D, rnd):
    return converge.read(np.atleast_2d(D), np.atleast_2d(rnd))


def test_a_smooth_sequence_converges_to_its_limit():
    g, c = 1.7, 3.0
    D = g + c * T**2 + 0.5 * T**4
    rd = _read(D, 4 * EPS / T)
    assert rd.converged[0]
    # Richardson removes the t² terms: the bar covers the distance to the limit, and is small
    assert abs(rd.estimate[0] - g) <= rd.error[0] and rd.error[0] < 1e-9


def test_agreeing_large_steps_refuted_by_small_ones_are_no_evidence():
    """max(t, 0) + 2t at 1e-8 from its corner: every step above 1e-8 reads ~2.5, the smaller ones 2."""
    d = 1e-8
    D = np.where(T > d, 2.5 - d / (2 * T), 2.0)
    rd = _read(D, 4 * EPS * 0.03 / T)
    assert rd.converged[0] and abs(rd.estimate[0] - 2.0) < 1e-6, rd


def test_quotients_growing_like_one_over_t_never_converge():
    """A bounded cost seen through steps far beyond its length scale: D = C/t (and no smaller step)."""
    D = 0.05 / T[:8]
    rd = converge.read(D[None, :], (1e-3 / T[:8])[None, :])
    assert not rd.converged[0]


def test_noise_alone_converges_with_a_bar_that_covers_it():
    rng = np.random.default_rng(0)
    eta = 1e-12
    D = 0.3 + eta * rng.standard_normal(19) / T
    rd = _read(D, 2 * eta / T)
    assert rd.converged[0] and abs(rd.estimate[0] - 0.3) <= 4 * rd.error[0]


def test_decide_is_wrong_only_on_converged_evidence():
    a = np.array([1.0, 1.0, 1.0])
    rd = converge.Reading(np.array([2.0, 2.0, 1.0]), np.array([1e-6, 1e-6, 1e-9]), np.zeros(3),
                          np.array([True, False, True]), np.zeros(3, bool))
    st, why = converge.decide(a, rd, np.full(3, 1e-7), 1e-6)
    from fastcheck.verdicts import errorbars as eb

    assert st.tolist() == [eb.WRONG, eb.INCONCLUSIVE, eb.AGREE]


def test_one_sided_quotients_converge_with_power_one():
    """(J(θ + t) − J(θ))/t = g + c·t + d·t²: Richardson in powers of t (power=1) reaches g."""
    g = -0.8
    D = g + 0.7 * T + 0.2 * T**2
    rd = converge.read(np.atleast_2d(D), np.atleast_2d(8 * EPS / T), power=1)
    assert rd.converged[0] and abs(rd.estimate[0] - g) <= rd.error[0] < 1e-7
    # better than the best plain quotient's truncation plus round-off (~7e-8 here)
    assert np.min(np.abs(D - g) + 8 * EPS / T) > 2 * rd.error[0]


def _relu_regression_at_its_corner(seed=0, n=12, batch=9):
    """0.5·Σ (max(x_b·θ, 0) − y_b)² with sample 0's pre-activation exactly at 0: every coordinate moves
    it, so every coordinate sits at a kink at θ.  Returns the cost, θ, the backprop gradient (the
    convention max'(0) = 0) and the exact one-sided derivatives, left and right."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((batch, n)), rng.standard_normal(batch)
    w = rng.standard_normal(n)
    w[0] -= (X[0] @ w) / X[0, 0]
    z = X @ w
    z[0] = 0.0

    def cost(t):
        return 0.5 * np.sum((np.maximum(X @ t, 0.0) - y) ** 2)

    inactive = X.T @ ((np.maximum(z, 0.0) - y) * (z > 0))  # sample 0 off: the side where x_0·θ < 0
    active = inactive + X[0] * (0.0 - y[0])  # sample 0 on (its residual is −y_0 at the corner)
    right = np.where(X[0] > 0, active, inactive)  # θ_i + t moves x_0·θ by t·X[0, i]
    left = np.where(X[0] > 0, inactive, active)
    return cost, w, inactive, left, right


def test_every_coordinate_at_a_corner_is_read_by_its_one_sided_derivative():
    import fastcheck as fc

    cost, theta, g, left, right = _relu_regression_at_its_corner()
    res = fc.check_gradient(cost, theta, g, jit=False, workers=1)
    assert res.passed, res.headline()
    assert len(res.kinks) == len(theta) == res.n_kinks_read
    assert "read by converged one-sided" in res.headline() and "would have been caught" in res.headline()
    assert np.isfinite(res.resolution) and res.resolution <= 1e-6
    k = res.kinks.sort_values("coord")
    np.testing.assert_allclose(k["left"], left, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(k["right"], right, rtol=1e-7, atol=1e-9)
    # the other side's derivative is as valid a one-sided value
    other = np.where(np.isclose(g, left), right, left)
    assert fc.check_gradient(cost, theta, other, jit=False, workers=1).passed


def test_a_value_just_outside_both_converged_sides_is_wrong():
    import fastcheck as fc

    cost, theta, g, left, right = _relu_regression_at_its_corner()
    i = int(np.argmax(np.abs(left - right)))
    lo, hi = min(left[i], right[i]), max(left[i], right[i])
    bad = g.copy()
    # 1e-3 of its value beyond the nearer end of [lo, hi]: far below the 5 % of the jump the plain
    # slopes would have allowed, far above what the converged sides resolve
    bad[i] = (hi + 1e-3 * abs(hi)) if abs(g[i] - hi) <= abs(g[i] - lo) else (lo - 1e-3 * abs(lo))
    res = fc.check_gradient(cost, theta, bad, jit=False, workers=1)
    assert res.verdict == "wrong" and res.coords[res.status == "wrong"].tolist() == [i], res.headline()


def _naive_queues(items, keys, blocks):
    """The refinement's queues as a dict of lists: the pending items sorted by key (stable), dealt to
    their blocks in that order (the blocks in the order their first item comes)."""
    order = np.argsort(keys, kind="stable")
    queues = {}
    for t in order:
        queues.setdefault(int(blocks[t]), []).append(int(items[t]))
    return queues


@pytest.mark.parametrize("seed", range(6))
def test_refinement_queues_deal_the_batches_a_dict_of_sorted_lists_would(seed):
    """converge._Queues (per-block partial sorts) against the plain dict of lists: the same batches, in
    the same order, and the same items left over in the closed blocks, ties and infinite keys included."""
    from fastcheck.verdicts.converge import _Queues

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    items = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
    keys = -np.round(rng.exponential(size=n), 1)  # many ties
    keys[rng.random(n) < 0.05] = -np.inf
    blocks = rng.integers(0, 5, n)
    ref = _naive_queues(items, keys, blocks)
    q = _Queues(items, keys, blocks)
    closed, size = set(), 4
    while True:
        want = []
        for b, lst in ref.items():
            if b in closed or not lst:
                continue
            want += lst[:size]
            del lst[:size]
        got = q.take(size, closed)
        assert got.tolist() == want
        if not want:
            break
        closed |= {int(b) for b in rng.choice(5, int(rng.integers(0, 2)), replace=False)}
        size = min(2 * size, 32)
    left = sorted(j for b in closed for j in ref.get(b, []))
    assert sorted(q.rest(closed).tolist()) == left
