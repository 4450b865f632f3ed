"""The evaluators of a user's cost: the loop and the parallel kernel take exactly the points a naive loop takes."""
import numpy as np
import pytest

from fastcheck.errors import JitError
from fastcheck.evaluators.choose import make_evaluator
from fastcheck.evaluators.jit import JitEvaluator
from fastcheck.evaluators.loop import LoopEvaluator
from tests.costs import quartic


def _naive_stencil(cost, theta, coords, steps, offsets, args):
    out = np.empty((len(coords), len(offsets)))
    for j, (i, h) in enumerate(zip(coords, steps)):
        for k, c in enumerate(offsets):
            t = theta.copy()
            t[i] += c * h
            out[j, k] = cost(t, *args)
    return out


def _naive_directions(cost, theta, lo, start, vals, steps, offsets, args):
    out = np.empty((len(lo), len(offsets)))
    for d in range(len(lo)):
        u = vals[start[d] : start[d + 1]]
        for k, c in enumerate(offsets):
            t = theta.copy()
            t[lo[d] : lo[d] + len(u)] += c * steps[d] * u
            out[d, k] = cost(t, *args)
    return out


@pytest.fixture(scope="module")
def point():
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(9)
    coords = np.array([0, 3, 8])
    steps = np.array([1e-3, 2e-4, 5e-3])
    return theta, coords, steps, (0.7,)


@pytest.mark.parametrize("make", [lambda a: LoopEvaluator(quartic.py_func, a), lambda a: JitEvaluator(quartic, a, 1)],
                         ids=["loop", "parallel"])
def test_stencil_and_directions_are_the_naive_loops_points(point, make):
    theta, coords, steps, args = point
    ev = make(args)
    offsets = np.array([-2.0, -1.0, 1.0, 2.0])
    ev.prepare(theta, "stencil")
    got = ev.stencil(theta, coords, steps, offsets)
    want = _naive_stencil(quartic.py_func, theta, coords, steps, offsets, args)
    # the same points; the compiled cost may round its sum differently by an ulp or so of J
    np.testing.assert_allclose(got, want, rtol=8 * np.finfo(float).eps, atol=0)
    lo, start = np.array([0, 4]), np.array([0, 3, 8])
    vals = np.random.default_rng(1).standard_normal(8)
    ev.prepare(theta, "directions")
    got = ev.directions(theta, lo, start, vals, steps[:2], offsets[1:3])
    np.testing.assert_allclose(got, _naive_directions(quartic.py_func, theta, lo, start, vals, steps[:2],
                                                      offsets[1:3], args), rtol=8 * np.finfo(float).eps)
    np.testing.assert_array_equal(theta, point[0])  # θ is never perturbed in place


def test_the_loop_complex_step_is_the_imaginary_part_over_nothing_else(point):
    theta, coords, steps, args = point
    ev = LoopEvaluator(quartic.py_func, args)
    got = ev.complex_step(theta, coords, np.full(3, 1e-20))
    want = [quartic.py_func(theta + 1e-20j * np.eye(len(theta))[i], *args).imag for i in coords]
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_make_evaluator_chooses_as_asked(point):
    theta, _, _, args = point
    assert make_evaluator(quartic.py_func, args, theta=theta, jit=False).path == "loop"
    assert make_evaluator(quartic, args, theta=theta).path == "parallel"

    class NotAFunction:
        def __call__(self, t, a):
            return float(np.sum(t))

    with pytest.raises(JitError, match="not a plain Python function"):
        make_evaluator(NotAFunction(), args, theta=theta, jit=True)
    with pytest.raises(ValueError, match="jit must be 'auto', True or False"):
        make_evaluator(quartic, args, theta=theta, jit="yes")
