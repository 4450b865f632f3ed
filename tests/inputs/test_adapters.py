import numpy as np
import pytest

import fastcheck as fc
from fastcheck import GradientMismatchError
from fastcheck.inputs.adapters import check_functions, check_object
from fastcheck.testing import assert_gradients_match
from tests.naive import SeedNetwork, course_data, course_forward, course_parameters, make_course_backward, seed_data


def test_object_style_passes_with_blocks_named_after_attributes():
    X, y = seed_data()
    net = SeedNetwork(seed=2)
    W1 = net.W1
    before = net.getParams().copy()
    res = check_object(net, X, y)
    assert res.passed and res.difference < 1e-8
    assert list(res.blocks["block"]) == ["W1", "W2"]
    assert net.W1 is W1  # the very same objects are back, untouched
    np.testing.assert_array_equal(net.getParams(), before)


def test_object_style_bug_is_found_and_parameters_restored_on_error():
    X, y = seed_data()
    net = SeedNetwork(seed=2, broken=True)
    res = check_object(net, X, y)
    assert not res.passed and "W2" in res.failing_blocks

    class Exploding(SeedNetwork):
        calls = 0

        def costFunction(self, X, y):
            Exploding.calls += 1
            if Exploding.calls > 3:
                raise RuntimeError("boom")
            return super().costFunction(X, y)

    net = Exploding(seed=2)
    before = net.getParams().copy()
    with pytest.raises(RuntimeError, match="boom"):
        check_object(net, X, y)
    np.testing.assert_array_equal(net.getParams(), before)


def test_object_style_directional():
    X, y = seed_data()
    res = check_object(SeedNetwork(seed=2), X, y, directions=3)
    assert res.kind == "directional" and res.passed


def test_not_an_object():
    with pytest.raises(TypeError, match="lacks getParams"):
        check_object(object(), np.ones((2, 2)), np.ones((2, 1)))


def test_nan_in_X_is_a_clear_error():
    X, y = seed_data()
    X = X.copy()
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at \[\[1, 0\]\]\)"):
        check_object(SeedNetwork(), X, y)


def test_dictionary_style_column_major_passes_and_is_not_modified():
    params = course_parameters()
    keep = {k: v.copy() for k, v in params.items()}
    X, Y = course_data()
    res = check_functions(course_forward, make_course_backward(), params, X, Y)
    assert res.passed and res.verdict == "great"
    assert list(res.blocks["block"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k in params:
        np.testing.assert_array_equal(params[k], keep[k])


def test_dictionary_style_names_the_users_key():
    params = course_parameters()
    X, Y = course_data()
    res = check_functions(course_forward, make_course_backward("db2_axis"), params, X, Y)
    assert not res.passed
    assert res.failing_blocks == ["b2"]
    assert res.worst(1)["block"].iloc[0] == "b2"


def test_dictionary_style_bad_gradients():
    params = course_parameters()
    X, Y = course_data()
    backward = make_course_backward()

    def missing(X, Y, cache):
        g = backward(X, Y, cache)
        del g["db1"]
        return g

    def wrong_shape(X, Y, cache):
        g = backward(X, Y, cache)
        g["dW2"] = g["dW2"].T
        return g

    # GradientMismatchError (a ValueError) where a missing key raised KeyError before (Layout.flatten_gradients)
    with pytest.raises(GradientMismatchError, match=r"gradient for block 'b1' is missing: looked for 'db1' or 'b1'"):
        check_functions(course_forward, missing, params, X, Y)
    with pytest.raises(GradientMismatchError,
                       match=r"block 'W2' \('dW2'\) has shape \(5, 3\) but the block has shape \(3, 5\)"):
        check_functions(course_forward, wrong_shape, params, X, Y)
    with pytest.raises(TypeError, match="parameter 'W1' must be a float array"):
        check_functions(course_forward, backward, {"W1": np.ones((2, 2), dtype=int)}, X, Y)


def test_plain_numpy_cost_is_compiled_when_it_pays(monkeypatch, two_threads):
    rng = np.random.default_rng(0)
    A = rng.standard_normal(400)

    def cost(theta, A):
        return np.sum(np.sin(theta) * A) + 0.5 * np.sum(theta**2)

    def uncompilable(theta, A):
        return float(np.sum(np.sin(theta) * A) + 0.5 * sum(float(t) ** 2 for t in {"a": theta}["a"]))

    theta = rng.standard_normal(400)
    grad = np.cos(theta) * A + theta
    small = fc.check_gradient(cost, theta[:10], grad[:10], args=(A[:10],), workers=1, threads=two_threads)
    assert small.path == "loop" and "not compiled" in small.note  # compiling cannot pay for 20 evaluations
    # with compilation taken as free, "auto" compiles a cost that does, and says why one does not
    monkeypatch.setattr("fastcheck.evaluators.compiled.estimate", lambda: 0.0)
    res = fc.check_gradient(cost, theta, grad, args=(A,), workers=1, threads=two_threads)
    assert res.path == "parallel (auto-jit)" and res.passed
    loop = fc.check_gradient(uncompilable, theta, grad, args=(A,), workers=1, threads=two_threads)
    assert loop.path == "loop" and loop.passed and "Numba cannot compile" in loop.note


def test_assert_gradients_match():
    params = course_parameters()
    X, Y = course_data()
    from fastcheck.inputs.adapters import gradients_to_vector

    layout = fc.Layout.from_arrays(params)
    theta = layout.flatten(params)

    def cost(t):
        return course_forward(X, Y, layout.unflatten(t))[0]

    def grad(t):
        return gradients_to_vector(make_course_backward()(X, Y, course_forward(X, Y, layout.unflatten(t))[1]), layout)

    res = assert_gradients_match(cost, theta, grad, layout=layout, jit=False)
    assert res.passed

    def bad(t):
        g = grad(t)
        g[layout.block_slice("b3")] *= 2
        return g

    with pytest.raises(AssertionError, match=r"(?s)gradients do not match.*b3.*worst coordinates"):
        assert_gradients_match(cost, theta, bad, layout=layout, jit=False)
