"""check_adjoint: the dot-product test, with an error bar from rounding only."""
import numpy as np
import pytest

import fastcheck as fc

from ..naive import dot_product_test


def _operator(m=30, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)), np.zeros(n)


def test_a_right_adjoint_passes_and_matches_the_term_by_term_sums():
    A, x = _operator()
    res = fc.check_adjoint(lambda x, u: A @ u, lambda x, v: A.T @ v, x, n_pairs=5, seed=3)
    assert res.passed and res.kind == "adjoint" and res.n_evals == 10
    rng = np.random.default_rng(3)
    u = rng.standard_normal(20)
    v = rng.standard_normal(30)
    left, right = dot_product_test(lambda x, u: A @ u, lambda x, v: A.T @ v, x, u, v)
    assert abs(res.analytic[0] - left) <= 50 * np.finfo(float).eps * np.abs(A).sum() * 10
    assert abs(res.numerical[0] - right) <= 50 * np.finfo(float).eps * np.abs(A).sum() * 10


def test_a_vjp_with_a_instead_of_its_transpose_fails():
    A, _ = _operator(12, 12)
    res = fc.check_adjoint(lambda x, u: A @ u, lambda x, v: A @ v, np.zeros(12))
    assert res.verdict == "wrong" and res.wrong_blocks == ["x"]
    A, x = _operator(12, 8)
    with pytest.raises(ValueError, match="is it the transpose"):
        fc.check_adjoint(lambda x, u: A @ u, lambda x, v: A @ v[:8], x)


def test_a_vjp_of_a_slightly_wrong_matrix_fails_while_the_jvp_is_right():
    A, x = _operator()
    B = A * (1 + 1e-4 * np.random.default_rng(9).standard_normal(A.shape))
    res = fc.check_adjoint(lambda x, u: A @ u, lambda x, v: B.T @ v, x)
    assert res.verdict == "wrong"
    assert np.all(res.status == "wrong")


def test_per_block_pairs_name_the_block_whose_adjoint_is_wrong():
    A, x = _operator(10, 9)

    def vjp(x, v):
        out = A.T @ v
        out[6:] *= 1.0001  # the last block's rows of Aᵀ
        return out

    res = fc.check_adjoint(lambda x, u: A @ u, vjp, x, layout={"a": np.zeros(6), "b": np.zeros(3)}, n_pairs=4)
    assert res.wrong_blocks == ["b"]
    ok = fc.check_adjoint(lambda x, u: A @ u, lambda x, v: A.T @ v, x, layout={"a": np.zeros(6), "b": np.zeros(3)})
    assert ok.passed and len(ok.analytic) == 16


def test_an_operator_adjoint_only_to_a_tolerance_passes_with_rtol():
    A, x = _operator()
    B = A * (1 + 1e-10 * np.random.default_rng(1).standard_normal(A.shape))
    assert not fc.check_adjoint(lambda x, u: A @ u, lambda x, v: B.T @ v, x).passed
    assert fc.check_adjoint(lambda x, u: A @ u, lambda x, v: B.T @ v, x, rtol=1e-8).passed


def test_no_false_alarm_over_many_operators():
    for seed in range(40):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((rng.integers(2, 60), rng.integers(2, 60))) * 10.0 ** rng.integers(-3, 4)
        res = fc.check_adjoint(lambda x, u: A @ u, lambda x, v: A.T @ v, np.zeros(A.shape[1]), seed=seed)
        assert res.passed, (seed, A.shape)
