"""check_hessian against closed-form Hessians and the double-loop reference; planted errors name their block pair."""
import inspect

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.core.options import CheckOptions

from ..naive import dense_hessian_from_cost, dense_hessian_from_grad
from .second_order import MLP, LogSumExp, Quadratic, Rosenbrock, problems

EPS = float(np.finfo(np.float64).eps)


@pytest.mark.parametrize("name", ["quadratic", "logsumexp", "rosenbrock", "mlp"])
@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "cost"])
def test_correct_hessians_pass_with_no_entry_outside_its_bar(name, with_grad):
    p = problems()[name]
    res = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad if with_grad else None,
                           layout=getattr(p, "layout", None), workers=1)
    assert res.passed, str(res)
    assert not np.any(res.status == "wrong")
    assert res.kind == "hessian" and res.shape == (len(p.theta),) * 2


def test_numerical_hessian_is_the_double_loop_of_gradient_differences():
    p = LogSumExp()
    h = 2.0**-17  # a power of two: θ ± h is exact for |θ| < 1, so both take the same step
    assert np.all(np.abs(p.theta) < 1)
    res = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, eps=h, workers=1)
    ref = dense_hessian_from_grad(p.grad, p.theta, h)
    # the same differences; only the order of two exact scalings differs, so agreement to a rounding
    np.testing.assert_allclose(res.matrix("numerical"), ref, rtol=0, atol=4 * EPS * np.abs(ref).max())


def test_numerical_hessian_from_the_cost_is_the_double_loop_of_four_corners():
    p = Quadratic(n=6)
    h = 2.0**-12
    res = fc.check_hessian(p.cost, p.theta, p.hess, eps=h, workers=1)
    ref = dense_hessian_from_cost(p.cost, p.theta, h)
    # nested central differences visit the same four corners; the rounding of J (|J| ε) over 4h² bounds the gap
    J = abs(p.cost(p.theta)) + np.abs(p.theta).max() ** 2 * np.abs(p.A).max() * len(p.theta)
    np.testing.assert_allclose(res.matrix("numerical"), ref, rtol=0, atol=64 * EPS * J / h**2)


def _mlp_fail(H_of, **kw):
    p = MLP()
    return fc.check_hessian(p.cost, p.theta, H_of(p), grad=p.grad, layout=p.layout, workers=1, **kw), p


def test_an_entry_and_its_partner_off_by_one_percent_fail_in_their_pair():
    def planted(p):
        H = p.hess(p.theta)
        i, j = 1, 12 + 2  # W1[0,1] and b1[2]
        H[i, j] *= 1.01
        H[j, i] *= 1.01
        return H

    res, _ = _mlp_fail(planted)
    assert res.verdict == "wrong"
    assert sorted(res.wrong_blocks) == ["W1/b1", "b1/W1"]
    top = res.worst(2)
    assert set(top["index"]) == {"[0,1]/[2]", "[2]/[0,1]"}
    assert set(zip(top["row"], top["col"])) == {(1, 14), (14, 1)}
    assert not res.notes  # still symmetric


def test_a_row_block_scaled_by_one_percent_fails_in_that_rows_pairs_only():
    def planted(p):
        H = p.hess(p.theta)
        H[16:] *= 1.01  # the rows of W2
        return H

    res, _ = _mlp_fail(planted)
    assert res.verdict == "wrong"
    assert set(res.wrong_blocks) <= {"W2/W1", "W2/b1", "W2/W2"} and "W2/W2" in res.wrong_blocks
    assert any("not symmetric" in n for n in res.notes)


def test_a_missing_term_gauss_newton_instead_of_the_hessian_is_caught_where_the_term_lives():
    def gauss_newton(p):  # drops Σ r_n ∇²r_n, which is zero on W2/W2
        *_, W2, a, _ = p._forward(p.theta)
        r_saved = p.y.copy()
        p.y = a @ W2  # residuals 0: hess() then returns Σ ∇r ∇rᵀ only (∇r does not depend on y)
        H = p.hess(p.theta)
        p.y = r_saved
        return H

    res, _ = _mlp_fail(gauss_newton)
    assert res.verdict == "wrong"
    assert "W2/W2" not in res.failing_blocks
    assert {"W1/W1", "b1/b1"} <= set(res.wrong_blocks)


def test_an_asymmetric_analytic_entry_is_reported_not_symmetrised():
    p = Rosenbrock()
    H = p.hess(p.theta)
    H[3, 4] *= 1.01  # its partner H[4, 3] left right
    lay = {"a": np.zeros(4), "b": np.zeros(6)}
    res = fc.check_hessian(p.cost, p.theta, H, grad=p.grad, layout=lay, workers=1)
    assert res.wrong_blocks == ["a/b"]
    assert len(res.notes) == 1 and "not symmetric" in res.notes[0] and "never symmetrised" in res.notes[0]
    notes = dict(zip(res.blocks["block"], res.blocks["note"]))
    assert "asymmetric" in notes["a/b"] and "asymmetric" in notes["b/a"]
    w = res.worst(1).iloc[0]
    assert (w["row"], w["col"], w["index"]) == (3, 4, "[3]/[0]")
    assert "not symmetric" in str(res)


def test_without_a_layout_the_pair_is_theta_theta_and_sample_picks_columns():
    p = Rosenbrock(n=12)
    res = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, sample=5, seed=1, workers=1)
    assert list(res.blocks["block"]) == ["theta/theta"]
    assert len(np.unique(res.cols)) == 5 and len(res.analytic) == 5 * 12
    cols = [0, 7]
    res = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, coords=cols, workers=1)
    assert sorted(np.unique(res.cols)) == cols
    M = res.matrix("analytic")
    np.testing.assert_array_equal(M[:, cols], p.hess(p.theta)[:, cols])
    assert np.isnan(M[:, 1]).all()


def test_worker_processes_give_the_serial_numbers():
    p = LogSumExp()
    serial = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, workers=1)
    pooled = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, workers=2)
    assert "pool" in pooled.path and pooled.threads == 2
    np.testing.assert_array_equal(serial.numerical, pooled.numerical)
    assert pooled.passed


def test_a_jitted_gradient_runs_on_the_threads_with_the_loops_numbers():
    A = Quadratic(n=9).A

    @numba.njit
    def grad(t, A):
        return A @ t + np.sin(t)

    theta = np.linspace(-1, 1, 9)
    hess = A + np.diag(np.cos(theta))
    loop = fc.check_hessian(None, theta, hess, grad=grad.py_func, args=(A,), workers=1)
    par = fc.check_hessian(None, theta, hess, grad=grad, args=(A,))
    assert par.path == "parallel" and loop.path == "loop"
    assert par.passed and loop.passed
    np.testing.assert_allclose(par.numerical, loop.numerical, rtol=0, atol=64 * EPS * np.abs(A).sum() / 6e-6)


def test_hessian_checks_take_the_shared_options():
    defaults = {f: getattr(CheckOptions(), f) for f in CheckOptions.names()}
    for check in (fc.check_hessian, fc.check_hvp, fc.check_jvp):
        params = inspect.signature(check).parameters
        options = {k: q.default for k, q in params.items() if q.kind is inspect.Parameter.KEYWORD_ONLY}
        assert {k: options[k] for k in defaults} == defaults, check.__name__
        with pytest.raises(TypeError, match=rf"^{check.__name__}\(\) got unexpected keyword argument"):
            check(None, np.zeros(2), None, epsilon=1e-6)


def test_bad_input_is_refused_clearly():
    p = Quadratic(n=4)
    with pytest.raises(ValueError, match="shape"):
        fc.check_hessian(p.cost, p.theta, np.zeros((3, 3)), grad=p.grad)
    with pytest.raises(ValueError, match="scheme='complex' does not apply"):
        fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, scheme="complex")
    with pytest.raises(ValueError, match="check_hvp"):
        fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, directions=3)
    with pytest.raises(ValueError, match="NaN or inf"):
        fc.check_hessian(p.cost, p.theta, np.full((4, 4), np.nan), grad=p.grad)


def test_result_renders_and_serialises():
    p = MLP()
    H = p.hess(p.theta)
    H[0, 0] += 0.1
    res = fc.check_hessian(p.cost, p.theta, H, grad=p.grad, layout=p.layout, workers=1)
    text = str(res)
    assert text.startswith("Hessian check: FAILED — wrong in W1/W1") and "worst entries" in text
    d = res.to_dict()
    assert d["what"] == "Hessian" and d["hint"] == "look at the Hessian entries of: W1/W1"
    assert d["worst"][0]["index"] == "[0,0]/[0,0]"


def test_a_dask_cluster_gives_the_serial_numbers():
    distributed = pytest.importorskip("distributed")
    import warnings

    p = Rosenbrock(n=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            on_dask = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, client=client)
            hvp = fc.check_hvp(p.cost, p.theta, lambda t, v: p.hess(t) @ v, grad=p.grad, client=client)
    serial = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, workers=1)
    assert "Dask" in on_dask.path or "dask" in on_dask.path.lower()
    np.testing.assert_array_equal(on_dask.numerical, serial.numerical)
    assert on_dask.passed and hvp.passed


def test_no_false_alarm_over_many_points():
    """Correct Hessians at 30 random points of four problems: every entry within its error bar (hvp too)."""
    alarms = []
    for seed in range(30):
        for p in (Quadratic(n=8, seed=seed), LogSumExp(n=8, m=5, seed=seed), Rosenbrock(n=8, seed=seed),
                  MLP(d=2, k=3, m=4, seed=seed)):
            lay = getattr(p, "layout", None)
            res = fc.check_hessian(p.cost, p.theta, p.hess, grad=p.grad, layout=lay, workers=1)
            hvp = fc.check_hvp(p.cost, p.theta, lambda t, v, p=p: p.hess(t) @ v, grad=p.grad, layout=lay,
                               workers=1, directions=3, seed=seed)
            cost_only = fc.check_hessian(p.cost, p.theta, p.hess, layout=lay, workers=1) if seed < 8 else res
            if not (res.passed and hvp.passed and cost_only.passed):
                alarms.append((type(p).__name__, seed, res.verdict, hvp.verdict, cost_only.verdict))
    assert not alarms
