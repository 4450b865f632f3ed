"""taylor_test: rates 2 (3 with the Hessian) when right, 1 (2) in the wrong block; round-off excluded."""
import numpy as np
import pytest

import fastcheck as fc

from .second_order import MLP, Quadratic, problems


@pytest.mark.parametrize("name", ["logsumexp", "rosenbrock", "mlp"])
def test_rates_read_two_and_three_when_right(name):
    p = problems()[name]
    res = fc.taylor_test(p.cost, p.theta, p.grad, hess=p.hess, layout=getattr(p, "layout", None))
    assert res.passed, str(res)
    np.testing.assert_allclose(res.rates["rate1"], 2.0, atol=0.15)
    fitted = np.isfinite(res.rates["rate2"])  # the MLP is quadratic in W2: r2 is exact there
    np.testing.assert_allclose(res.rates["rate2"][fitted], 3.0, atol=0.25)
    assert all(n.startswith("exact") for n in res.rates["note"][~fitted])
    np.testing.assert_allclose(res.rates["rate0"], 1.0, atol=0.15)
    assert res.failing_blocks == []


def test_a_wrong_gradient_block_reads_rate_one_and_the_right_ones_two():
    p = MLP()

    def grad(t):
        g = p.grad(t)
        g[12:16] *= 1.001  # b1
        return g

    res = fc.taylor_test(p.cost, p.theta, grad, layout=p.layout)
    rates = dict(zip(res.rates["block"], res.rates["rate1"]))
    assert res.failing_blocks == ["b1"] and not res.passed
    assert abs(rates["b1"] - 1) < 0.15 and abs(rates["theta"] - 1) < 0.15
    assert abs(rates["W1"] - 2) < 0.15 and abs(rates["W2"] - 2) < 0.15


def test_a_wrong_hessian_block_reads_rate_two_in_r2():
    p = MLP()

    def hess(t):
        H = p.hess(t)
        H[16:, 16:] *= 1.01  # W2/W2
        return H

    res = fc.taylor_test(p.cost, p.theta, p.grad, hess=hess, layout=p.layout)
    rates = dict(zip(res.rates["block"], res.rates["rate2"]))
    assert res.failing_blocks == ["W2"]
    assert abs(rates["W2"] - 2) < 0.2 and abs(rates["W1"] - 3) < 0.25


def test_an_exact_expansion_passes_and_the_plateau_is_left_out_and_said():
    q = Quadratic(n=6)
    exact = fc.taylor_test(q.cost, q.theta, q.grad, hess=q.hess)
    assert exact.passed and exact.rates["note"].iloc[0].startswith("exact")
    res = fc.taylor_test(problems()["logsumexp"].cost, problems()["logsumexp"].theta, problems()["logsumexp"].grad,
                         hess=problems()["logsumexp"].hess)
    row = res.rates.iloc[0]
    assert row["excluded"] > 0 and "round-off, left out" in row["note"]
    frame = res.to_frame()
    assert len(frame) == 24 and {"h", "r0", "r1", "r2", "roundoff"} <= set(frame.columns)
    assert frame["roundoff"].iloc[-1] and not frame["roundoff"].iloc[0]


def test_the_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    p = MLP()
    res = fc.taylor_test(p.cost, p.theta, p.grad, layout=p.layout)
    out = tmp_path / "taylor.png"
    res.plot(out)
    assert out.stat().st_size > 10_000
    assert "Taylor test: PASSED" in str(res)


def test_a_given_direction_and_bad_input():
    p = MLP()
    d = np.zeros(len(p.theta))
    d[-1] = 1.0
    res = fc.taylor_test(p.cost, p.theta, p.grad, direction=d)
    assert res.passed
    with pytest.raises(ValueError, match="non-zero"):
        fc.taylor_test(p.cost, p.theta, p.grad, direction=np.zeros(len(p.theta)))
    with pytest.raises(ValueError, match="entries"):
        fc.taylor_test(p.cost, p.theta, np.zeros(3))
