"""Compile once: a compiled cost is kept across checks and the time compiling is reported apart."""
import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck import JitError


def sin_cost(theta, A):
    return np.sum(np.sin(theta) * A) + 0.5 * np.sum(theta**2)


def uncompilable(theta, A):
    return float(np.sum(np.sin(theta) * A) + sum(float(t) for t in {"a": theta}["a"]))


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal(50)
    theta = rng.standard_normal(50)
    return theta, A, np.cos(theta) * A + theta


def test_a_plain_cost_is_compiled_once_and_the_time_reported_apart(problem):
    theta, A, grad = problem
    first = fc.check_gradient(sin_cost, theta, grad, args=(A,), jit=True)
    second = fc.check_gradient(sin_cost, theta, grad, args=(A,), jit=True)
    assert first.path == second.path == "parallel (auto-jit)" and first.passed
    assert first.compile_seconds > 0 and second.compile_seconds == 0
    assert " s compiling on " in str(first) and "compiling" not in str(second)
    assert first.to_frame()["compile_seconds"].iloc[0] == first.compile_seconds
    np.testing.assert_array_equal(first.numerical, second.numerical)
    # once compiled, "auto" uses it even for a check too small to pay for compiling
    small = fc.check_gradient(sin_cost, theta[:5], grad[:5], args=(A[:5],))
    assert small.path == "parallel (auto-jit)" and small.compile_seconds == 0
    # against the loop: the compiled cost computes the same function, summed in
    # another order, so the quotients agree to the cost's round-off over the step
    loop = fc.check_gradient(sin_cost, theta, grad, args=(A,), jit=False, workers=1)
    magnitude = np.sum(np.abs(np.sin(theta) * A)) + 0.5 * np.sum(theta**2)
    bound = 4 * len(theta) * np.finfo(float).eps * magnitude / first.steps
    assert np.all(np.abs(first.numerical - loop.numerical) <= bound)


def test_a_users_njit_cost_compiles_its_kernel_once(problem):
    theta, A, grad = problem

    @numba.njit
    def cost(theta, A):
        return np.sum(np.sin(theta) * A) + 0.5 * np.sum(theta**2)

    first = fc.check_gradient(cost, theta, grad, args=(A,))
    second = fc.check_gradient(cost, theta, grad, args=(A,))
    assert first.path == "parallel" and first.compile_seconds > 0 and second.compile_seconds == 0


def test_jit_true_that_cannot_compile_raises_with_numbas_reason(problem):
    theta, A, grad = problem
    for _ in range(2):  # the failure is remembered, and raised again the same way
        with pytest.raises(JitError, match=r"jit=True, but the cost cannot be compiled: Numba cannot compile it \(.+\)"):
            fc.check_gradient(uncompilable, theta, grad, args=(A,), jit=True)
    with pytest.raises(JitError, match="it is a method, not a plain Python function"):
        fc.check_gradient(np.random.default_rng(0).random, theta, grad, jit=True)
    res = fc.check_gradient(uncompilable, theta, np.cos(theta) * A + 1, args=(A,), workers=1)
    assert res.path == "loop" and res.passed


def test_auto_does_not_compile_when_the_loop_is_quicker(problem):
    theta, A, grad = problem

    def fresh(theta, A):  # never compiled before
        return np.sum(np.sin(theta) * A) + 0.5 * np.sum(theta**2)

    res = fc.check_gradient(fresh, theta, grad, args=(A,), workers=1)
    assert res.path == "loop" and res.compile_seconds == 0 and res.note.startswith("not compiled: compiling was estimated")
