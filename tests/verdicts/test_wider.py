"""An ill-conditioned float32 cost read once more in float64 (fastcheck.verdicts.wider)."""
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.verdicts import wider
from fastcheck.verdicts.codes import AGREE, INCONCLUSIVE, RESOLUTION, WRONG

B, F = 12, 3


def _unpack(t):
    return t[: B * F].reshape(B, F), t[B * F : B * F + F], t[B * F + F :]


def _problem(spread, seed=0, cast32=False):
    """A batch-normalised layer's weighted output: with a tiny spread of the batch (1e-4 of its mean)
    float32 rounding of x − mean is amplified 1e4 times (an ill-conditioned cost)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((B, F))

    def cost(t):
        t = t.astype(np.float32) if cast32 else t
        x, gamma, beta = _unpack(t)
        mu = x.mean(0)
        xh = (x - mu) / np.sqrt(((x - mu) ** 2).mean(0) + 1e-12)
        return np.sum((gamma * xh + beta) * w.astype(t.dtype))

    def grad(t):  # the exact gradient of the float32 θ's function, computed in float64
        x, gamma, _ = _unpack(t.astype(np.float64))
        mu = x.mean(0)
        s = np.sqrt(((x - mu) ** 2).mean(0) + 1e-12)
        xh = (x - mu) / s
        dxh = w.astype(np.float32).astype(np.float64) * gamma
        dx = (dxh - dxh.mean(0) - xh * (dxh * xh).mean(0)) / s
        return np.concatenate([dx.ravel(), (w * xh).sum(0), w.sum(0)])

    x = 1.0 + spread * rng.standard_normal((B, F))
    theta = np.concatenate([x.ravel(), rng.standard_normal(F), rng.standard_normal(F)]).astype(np.float32)
    return cost, grad, theta


LAYOUT = {"x": (B, F), "gamma": (F,), "beta": (F,)}


def test_an_ill_conditioned_float32_cost_passes_at_the_float32_target():
    cost, grad, theta = _problem(1e-4)
    before = theta.copy()
    r = fc.check_gradient(cost, theta, grad, layout=LAYOUT)
    assert np.array_equal(theta, before)
    assert "ill-conditioned" in r.precision
    assert r.passed, r.summary()
    # the float32 target resolution is stated: what a pass in float32 may claim
    assert r.resolution <= 1.2e-3


@pytest.mark.parametrize("factor", [1.03, 1.3])
def test_a_wrong_block_of_an_ill_conditioned_cost_never_passes(factor):
    cost, grad, theta = _problem(1e-4, seed=1)

    def bad(t):
        g = grad(t)
        g[: B * F] *= factor  # the x block off by 3 % / 30 %
        return g

    r = fc.check_gradient(cost, theta, bad, layout=LAYOUT)
    assert not r.passed
    v = dict(zip(r.blocks["block"], r.blocks["verdict"]))
    assert v["x"] != "pass", r.blocks


def test_a_cost_that_computes_in_float32_whatever_theta_gets_no_wider_reading():
    cost, grad, theta = _problem(1e-4, cast32=True)
    coords = np.arange(4)
    status = np.full(4, INCONCLUSIVE, np.int8)
    why = np.full(4, RESOLUTION, np.int8)
    from fastcheck.evaluators.loop import LoopEvaluator

    ev = LoopEvaluator(cost)
    r = wider.settle_in_float64(ev, theta, coords, grad(theta)[coords], status, why, np.full(4, 1.0))
    assert len(r.settled) == 0 and r.n_evals == 0


def test_the_reading_settles_only_what_agrees_and_never_says_wrong():
    from fastcheck.evaluators.loop import LoopEvaluator

    cost, grad, theta = _problem(1e-4, seed=2)
    g = grad(theta)
    coords = np.arange(6)
    ana = g[coords].copy()
    ana[1] *= 1.05  # one wrong coordinate
    status = np.full(6, INCONCLUSIVE, np.int8)
    status[5] = WRONG
    why = np.full(6, RESOLUTION, np.int8)
    why[5] = 0
    bars = np.full(6, 1e-3 * np.max(np.abs(g)) / 4)
    r = wider.settle_in_float64(LoopEvaluator(cost), theta, coords, ana, status, why, bars)
    assert 1 not in r.settled and 5 not in r.settled
    assert set(r.settled) == {0, 2, 3, 4}
    # the float64 estimates are within their bars of the exact gradient
    assert np.all(np.abs(r.estimate - g[r.settled]) <= r.error)
    st, wy = status.copy(), why.copy()
    wider.apply(r, st, wy, np.zeros(6), np.zeros(6))
    assert list(st) == [AGREE, INCONCLUSIVE, AGREE, AGREE, AGREE, WRONG]


def test_float64_theta_is_left_alone():
    from fastcheck.evaluators.loop import LoopEvaluator

    cost, grad, theta = _problem(1e-4)
    t64 = theta.astype(np.float64)
    status = np.full(3, INCONCLUSIVE, np.int8)
    why = np.full(3, RESOLUTION, np.int8)
    r = wider.settle_in_float64(LoopEvaluator(cost), t64, np.arange(3), grad(t64)[:3], status, why, np.ones(3))
    assert len(r.settled) == 0
