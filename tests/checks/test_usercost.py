"""check_gradient with (cost, grad) pairs, θ of any shape, layout={name: shape}, list gradients, reseed."""
import random

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.checks.usercost import CostAndGrad


def word_vectors(W):
    """A 2-D θ (word vectors) returning (loss, grad), the word2vec-assignment convention."""
    return 0.5 * np.sum(W**2) + np.sum(np.sin(W)), W + np.cos(W)


def test_pair_and_matrix_theta_pass_and_theta_untouched():
    W = np.random.default_rng(0).normal(size=(5, 3))
    before = W.copy()
    res = fc.check_gradient(word_vectors, W)
    assert res.passed and res.n_params == 15
    np.testing.assert_array_equal(W, before)
    assert fc.check_gradient(word_vectors, W, grad=True).passed


def test_planted_bug_named_by_index_in_theta_shape():
    def buggy(W):
        loss, g = word_vectors(W)
        g = g.copy()
        g[3, 1] += 0.1
        return loss, g

    res = fc.check_gradient(buggy, np.random.default_rng(1).normal(size=(5, 3)))
    assert not res.passed
    worst = res.worst(1)
    assert worst["block"].iloc[0] == "theta" and worst["index"].iloc[0] == "[3,1]"


def test_pair_evaluated_once_at_theta_for_the_gradient():
    calls = []

    def fun(t):
        calls.append(t.copy())
        return float(np.sum(t**2)), 2 * t

    t = np.arange(1.0, 4.0)
    pair = CostAndGrad(fun)
    pair(t.copy())
    n = len(calls)
    pair.gradient(t.copy())
    assert len(calls) == n  # the gradient at θ came from the first evaluation
    assert fc.check_gradient(fun, t).passed


def test_pair_must_return_two_things():
    with pytest.raises(fc.CostError, match=r"must return \(cost, grad\)"):
        fc.check_gradient(lambda t: float(np.sum(t)), np.ones(3))


def test_layout_of_shapes_and_tuple_gradient():
    th = np.random.default_rng(2).normal(size=7)

    def grads(t):
        return (3 * t[:3] ** 2).reshape(3, 1), 3 * t[3:] ** 2

    res = fc.check_gradient(lambda t: float(np.sum(t**3)), th, grads, layout={"W": (3, 1), "b": 4})
    assert res.passed and list(res.blocks["block"]) == ["W", "b"]
    res = fc.check_gradient(lambda t: float(np.sum(t**3)), th, {"dW": 3 * th[:3, None] ** 2, "db": 3 * th[3:] ** 2},
                            layout={"W": [3, 1], "b": (4,)})
    assert res.passed


def test_tuple_gradient_without_layout_is_a_clear_error():
    th = np.ones(7)
    with pytest.raises(fc.GradientMismatchError, match="layout="):
        fc.check_gradient(lambda t: float(np.sum(t**2)), th, (np.ones((3, 1)), np.ones(4)))
    with pytest.raises(fc.GradientMismatchError, match="'b'"):
        fc.check_gradient(lambda t: float(np.sum(t**2)), th, (np.ones((3, 1)), np.ones(5)), layout={"W": (3, 1), "b": 4})


def test_cost_of_wrong_signature_is_refused():
    with pytest.raises(TypeError, match=r"must take \(theta\)"):
        fc.check_gradient(lambda a, b: 0.0, np.ones(2), np.zeros(2))
    with pytest.raises(TypeError, match="grad must take"):
        fc.check_gradient(lambda t: 0.0, np.ones(2), lambda: np.zeros(2))


def negative_sampling(W, k=3):
    """A cost that draws with the stdlib random and NumPy's global state (negative sampling, dropout)."""
    picks = random.sample(range(W.shape[0]), k)
    mask = np.random.rand(W.shape[1]) < 0.7
    sub = W[picks][:, mask]
    g = np.zeros_like(W)
    np.add.at(g, (np.array(picks)[:, None], np.flatnonzero(mask)[None, :]), 2 * sub)
    return float(np.sum(sub**2)), g


def test_reseed_makes_a_random_cost_checkable_and_restores_the_state():
    W = np.random.default_rng(3).normal(size=(8, 4))
    random.seed(11)
    np.random.seed(11)
    expect_py, expect_np = random.random(), np.random.rand()
    random.seed(11)
    np.random.seed(11)
    res = fc.check_gradient(negative_sampling, W, reseed=5, workers=1)
    assert res.passed
    assert random.random() == expect_py and np.random.rand() == expect_np  # the user's streams continue


def test_reseed_callable_and_bug_found():
    def buggy(W):
        loss, g = negative_sampling(W)
        return loss, g * 1.1

    res = fc.check_gradient(buggy, np.random.default_rng(4).normal(size=(8, 4)),
                            reseed=lambda: (random.seed(1), np.random.seed(1)), workers=1)
    assert not res.passed


def test_reseed_refuses_nonsense():
    with pytest.raises(ValueError, match="reseed"):
        fc.check_gradient(word_vectors, np.ones((2, 2)), reseed="yes")


def test_reseed_holds_on_worker_processes():
    W = np.random.default_rng(5).normal(size=(12, 4))
    res = fc.check_gradient(negative_sampling, W, reseed=7, workers=2)
    assert res.passed and "pool" in res.path


def test_layout_of_shapes_planted_bug_named_by_block():
    th = np.random.default_rng(6).normal(size=7)

    def grads(t):
        return (3 * t[:3] ** 2).reshape(3, 1), 3.3 * t[3:] ** 2

    res = fc.check_gradient(lambda t: float(np.sum(t**3)), th, grads, layout={"W": (3, 1), "b": 4})
    assert res.failing_blocks == ["b"]
