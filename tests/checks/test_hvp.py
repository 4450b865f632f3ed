"""check_hvp and check_jvp: products along random directions, every component against its error bar."""
import numpy as np
import pytest

import fastcheck as fc

from ..naive import dense_hvp
from .second_order import MLP, problems

EPS = float(np.finfo(np.float64).eps)


def _hvp_of(p):
    return lambda t, v: p.hess(t) @ v


@pytest.mark.parametrize("name", ["quadratic", "logsumexp", "rosenbrock", "mlp"])
def test_correct_products_pass(name):
    p = problems()[name]
    res = fc.check_hvp(p.cost, p.theta, _hvp_of(p), grad=p.grad, layout=getattr(p, "layout", None), workers=1)
    assert res.passed, str(res)
    assert res.kind == "hvp" and res.shape == (len(p.theta), 8)
    assert res.n_evals == 2 * 8  # two gradient evaluations per direction, nothing refined


def test_numerical_products_are_the_central_differences_along_each_direction():
    p = problems()["logsumexp"]
    res = fc.check_hvp(p.cost, p.theta, _hvp_of(p), grad=p.grad, n_dirs=3, seed=4, eps=1e-5, workers=1)
    dirs = fc.checks.hvp.unit_directions(len(p.theta), 3, 4)
    ref = np.stack([dense_hvp(p.grad, p.theta, u, 1e-5) for u in dirs], axis=1)
    np.testing.assert_allclose(res.matrix("numerical"), ref, rtol=0, atol=8 * EPS * np.abs(p.grad(p.theta)).max() / 1e-5)


def test_a_row_block_scaled_in_the_product_fails_in_that_block():
    p = MLP()

    def hvp(t, v):
        out = p.hess(t) @ v
        out[12:16] *= 1.01  # b1's rows
        return out

    res = fc.check_hvp(p.cost, p.theta, hvp, grad=p.grad, layout=p.layout, workers=1)
    assert res.wrong_blocks == ["b1"]
    assert res.worst(1)["index"].iloc[0].startswith("[")


def test_a_missing_term_in_the_product_is_caught():
    p = problems()["logsumexp"]

    def hvp(t, v):  # forgets the −p pᵀ part of the softmax Hessian
        q, _ = p._p(t)
        return p.M.T @ (q * (p.M @ v))

    res = fc.check_hvp(p.cost, p.theta, hvp, grad=p.grad, workers=1, directions=4)
    assert res.verdict == "wrong" and res.wrong_blocks == ["theta"]


def test_hvp_needs_grad_and_n_dirs_is_directions():
    p = problems()["quadratic"]
    with pytest.raises(TypeError, match="needs grad="):
        fc.check_hvp(p.cost, p.theta, p.hvp)
    with pytest.raises(TypeError, match="both n_dirs= and directions="):
        fc.check_hvp(p.cost, p.theta, p.hvp, grad=p.grad, n_dirs=2, directions=3)
    a = fc.check_hvp(p.cost, p.theta, p.hvp, grad=p.grad, n_dirs=2, workers=1)
    b = fc.check_hvp(p.cost, p.theta, p.hvp, grad=p.grad, directions=2, workers=1)
    np.testing.assert_array_equal(a.numerical, b.numerical)
    assert a.shape == (len(p.theta), 2)


def _field():
    """f(x) = {"flux": A x, "source": sin(x0)·x1²}: two output blocks."""
    A = np.arange(12.0).reshape(3, 4) / 7

    def f(x):
        return {"flux": A @ x, "source": np.array([np.sin(x[0]) * x[1] ** 2])}

    def jvp(x, u):
        return {"flux": A @ u, "source": np.array([np.cos(x[0]) * u[0] * x[1] ** 2 + 2 * np.sin(x[0]) * x[1] * u[1]])}

    def jvp_missing(x, u):  # the product rule's second term forgotten
        return {"flux": A @ u, "source": np.array([np.cos(x[0]) * u[0] * x[1] ** 2])}

    return f, jvp, jvp_missing


def test_jvp_of_a_dict_valued_function_names_its_blocks():
    f, jvp, jvp_missing = _field()
    x = np.array([0.3, -1.2, 0.5, 2.0])
    ok = fc.check_jvp(f, x, jvp, workers=1)
    assert ok.passed and list(ok.blocks["block"]) == ["flux", "source"] and ok.kind == "jvp"
    bad = fc.check_jvp(f, x, jvp_missing, workers=1)
    assert bad.wrong_blocks == ["source"]


def test_jvp_of_an_array_function_with_a_layout_of_its_outputs():
    M = np.random.default_rng(0).standard_normal((5, 3))
    x = np.array([0.1, 0.2, -0.4])
    f = lambda x: np.tanh(M @ x)
    jvp = lambda x, u: (1 - np.tanh(M @ x) ** 2) * (M @ u)
    bad = lambda x, u: (1 - np.tanh(M @ x) ** 2) * (M @ u) * np.r_[1, 1, 1, 1, 1.001]
    out = fc.Layout(("head", "tail"), ((4,), (1,)))
    assert fc.check_jvp(f, x, jvp, layout=out, workers=1).passed
    assert fc.check_jvp(f, x, bad, layout=out, workers=1).wrong_blocks == ["tail"]
    assert fc.check_jvp(f, x, jvp, workers=1).blocks["block"].tolist() == ["output"]
