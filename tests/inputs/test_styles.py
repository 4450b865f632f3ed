"""check_object on the other common model styles: a params dict with loss(X, y) -> (loss, grads), and
weight/bias lists with backprop(x, y) -> (nabla_b, nabla_w).  The networks are written here."""
from __future__ import annotations

import numpy as np
import pytest

from fastcheck import ShapeNoteWarning, check_object
from fastcheck.inputs.styles import is_backprop_lists_style, is_params_loss_style


class TwoLayerNet:
    """affine - ReLU - affine - softmax, the classifier style: params dict and loss(X, y)."""

    def __init__(self, d=6, h=7, c=3, seed=0, bug=None, column_bias_grads=False):
        rng = np.random.default_rng(seed)
        self.params = {"W1": 0.5 * rng.standard_normal((d, h)), "b1": 0.1 * rng.standard_normal(h),
                       "W2": 0.5 * rng.standard_normal((h, c)), "b2": 0.1 * rng.standard_normal(c)}
        self.reg, self.bug, self.column = 0.05, bug, column_bias_grads

    def loss(self, X, y=None):
        p = self.params
        a = X @ p["W1"] + p["b1"]
        hdn = np.maximum(0, a)
        s = hdn @ p["W2"] + p["b2"]
        if y is None:
            return s
        s = s - s.max(axis=1, keepdims=True)
        prob = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        n = len(X)
        loss = -np.log(prob[np.arange(n), y]).mean() + 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        ds = prob.copy()
        ds[np.arange(n), y] -= 1
        ds /= n
        grads = {"W2": hdn.T @ ds + self.reg * p["W2"], "b2": ds.sum(axis=0)}
        da = (ds @ p["W2"].T) * (a > 0)
        grads.update(W1=X.T @ da + self.reg * p["W1"], b1=da.sum(axis=0))
        if self.bug == "b2":
            grads["b2"] = grads["b2"] * 1.01
        if self.column:
            grads["b1"] = grads["b1"].reshape(1, -1)
        return loss, grads


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class CrossEntropy:
    @staticmethod
    def fn(a, y):
        return float(np.sum(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return a - y


class ListNetwork:
    """Weights and biases as lists of column-vector arrays, feedforward and backprop of one example."""

    def __init__(self, sizes=(4, 5, 3), seed=0, cost=None, bug=None):
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
        self.weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:])]
        if cost is not None:
            self.cost = cost
        self.bug = bug

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = _sigmoid(w @ a + b)
        return a

    def cost_derivative(self, a, y):
        return a - y

    def backprop(self, x, y):
        nb = [np.zeros(b.shape) for b in self.biases]
        nw = [np.zeros(w.shape) for w in self.weights]
        acts, zs, a = [x], [], x
        for b, w in zip(self.biases, self.weights):
            z = w @ a + b
            zs.append(z)
            a = _sigmoid(z)
            acts.append(a)
        s = _sigmoid(zs[-1])
        if hasattr(self, "cost"):
            delta = self.cost.delta(zs[-1], acts[-1], y)
        else:
            delta = self.cost_derivative(acts[-1], y) * s * (1 - s)
        nb[-1], nw[-1] = delta, delta @ acts[-2].T
        for layer in range(2, len(self.sizes)):
            s = _sigmoid(zs[-layer])
            delta = (self.weights[-layer + 1].T @ delta) * s * (1 - s)
            nb[-layer], nw[-layer] = delta, delta @ acts[-layer - 1].T
        if self.bug == "weights[1]":
            nw[1] = nw[1] * 1.02
        return nb, nw


@pytest.fixture(scope="module")
def classifier_data():
    rng = np.random.default_rng(5)
    return rng.standard_normal((5, 6)), rng.integers(0, 3, 5)


def test_params_dict_and_loss_style(classifier_data):
    X, y = classifier_data
    net = TwoLayerNet()
    assert is_params_loss_style(net) and not is_backprop_lists_style(net)
    params, arrays = net.params, dict(net.params)
    keep = {k: v.copy() for k, v in arrays.items()}
    res = check_object(net, X, y)
    assert res.passed, str(res)
    assert list(res.blocks["block"]) == ["W1", "b1", "W2", "b2"]
    assert net.params is params and all(net.params[k] is arrays[k] for k in arrays)  # put back in place
    for k in keep:
        np.testing.assert_array_equal(arrays[k], keep[k])
    bad = check_object(TwoLayerNet(bug="b2"), X, y)
    assert not bad.passed and bad.failing_blocks == ["b2"]


def test_singleton_axes_are_accepted_with_a_note(classifier_data):
    X, y = classifier_data
    with pytest.warns(ShapeNoteWarning, match=r"'b1' has shape \(1, 7\)"):
        res = check_object(TwoLayerNet(column_bias_grads=True), X, y)
    assert res.passed


@pytest.mark.parametrize("cost", [None, CrossEntropy])
def test_weight_and_bias_lists_with_backprop(cost):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((4, 1)), rng.random((3, 1))
    net = ListNetwork(cost=cost)
    assert is_backprop_lists_style(net)
    weights, biases = net.weights, net.biases
    keep = [w.copy() for w in weights]
    res = check_object(net, x, y)
    assert res.passed, str(res)
    assert list(res.blocks["block"]) == ["biases[0]", "biases[1]", "weights[0]", "weights[1]"]
    assert net.weights is weights and net.biases is biases
    for w, k in zip(weights, keep):
        np.testing.assert_array_equal(w, k)
    bad = check_object(ListNetwork(cost=cost, bug="weights[1]"), x, y)
    assert not bad.passed and bad.failing_blocks == ["weights[1]"]


def test_an_object_of_no_known_style_says_what_it_lacks():
    class Nothing:
        params = {"W": np.ones(2)}

    with pytest.raises(TypeError, match="lacks getParams.*params dict and loss"):
        check_object(Nothing(), np.ones((2, 2)), np.ones(2))


def test_a_loss_that_returns_no_grads_is_named():
    class ScoresOnly(TwoLayerNet):
        def loss(self, X, y=None):
            return 1.0

    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"loss\(X, y\) must return \(loss, grads\)"):
        check_object(ScoresOnly(), rng.standard_normal((5, 6)), rng.integers(0, 3, 5))
