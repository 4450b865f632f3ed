"""The ε sweep of a Hessian check: the eps sweep's table, so fit_orders reads the schemes' orders off it."""
import numpy as np

from fastcheck.sweep import fit_orders
from fastcheck.sweep.hessian import hessian_eps_sweep

from .second_order import LogSumExp


def test_the_sweep_of_gradient_differences_shows_each_schemes_order():
    p = LogSumExp()
    eps = np.logspace(-1, -9, 17)
    df = hessian_eps_sweep(p.cost, p.theta, p.hess, grad=p.grad, eps=eps, schemes=("forward", "central"),
                           problem="lse")
    assert len(df) == 2 * len(eps) and set(df["scheme"]) == {"forward", "central"}
    assert (df["checked"] == len(p.theta) ** 2).all()
    fits = fit_orders(df).set_index("scheme")
    assert abs(fits.loc["central", "truncation_slope"] - 2) < 0.3
    assert abs(fits.loc["forward", "truncation_slope"] - 1) < 0.3
    assert fits.loc["central", "best_eps"] > fits.loc["forward", "best_eps"] / 100


def test_without_grad_the_cost_is_differenced_twice_central_only():
    p = LogSumExp(n=5, m=4)
    df = hessian_eps_sweep(p.cost, p.theta, p.hess, eps=[1e-2, 1e-3, 1e-4], schemes=("forward", "central"))
    assert list(df["scheme"].unique()) == ["central"]
    assert df["max_abs_err"].iloc[1] < df["max_abs_err"].iloc[0]  # truncation falls with ε
