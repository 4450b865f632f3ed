"""check_layer(layer, X) for stateful layer objects, and lists of them with a loss through check_object."""
import numpy as np
import pytest

import fastcheck as fc
from tests.inputs import layer_zoo as zoo

X = np.random.default_rng(9).normal(size=(6, 4))
Y = np.random.default_rng(10).normal(size=(6, 3))


def _verdicts(res):
    return res.blocks.set_index("block")["verdict"].to_dict()


def test_dict_layer_with_accumulating_gradients_passes_and_is_restored():
    layer = zoo.Dense(4, 3)
    layer.gradients["W"] += 7.0  # gradients left over from an earlier step, not flushed
    before = {k: v.copy() for k, v in layer.gradients.items()}
    W = layer.parameters["W"]
    W_before = W.copy()
    res = fc.check_layer(layer, X, workers=1)
    assert res.passed and list(res.layout.names) == ["X", "W", "b"]
    assert layer.parameters["W"] is W
    np.testing.assert_array_equal(W, W_before)
    for k, v in before.items():
        np.testing.assert_array_equal(layer.gradients[k], v)
    assert not hasattr(layer, "X")  # the cache forward made is gone again


def test_dict_layer_planted_bug_found_by_block():
    v = _verdicts(fc.check_layer(zoo.Dense(4, 3, bug="b"), X, workers=1))
    assert v["b"] == "wrong" and v["W"] in ("great", "ok") and v["X"] in ("great", "ok")


def test_attribute_layer_and_input_bug():
    res = fc.check_layer(zoo.AttrDense(4, 3), {"A_prev": X}, workers=1)
    assert res.passed and list(res.layout.names) == ["A_prev", "W", "b"]
    v = _verdicts(fc.check_layer(zoo.AttrDense(4, 3, bug="X"), X, workers=1))
    assert v["X"] == "wrong" and v["W"] in ("great", "ok")


def test_diff_accumulators():
    layer = zoo.DiffDense(4, 3)
    layer.wg_diff += 1.0
    res = fc.check_layer(layer, X, workers=1)
    assert res.passed and list(res.layout.names) == ["X", "wg", "bg"]
    assert np.all(layer.wg_diff == 1.0)


def test_list_of_layers_with_a_loss_through_check_object():
    net = [zoo.Dense(4, 5, seed=3), zoo.Tanh(), zoo.AttrDense(5, 3), zoo.MSE()]
    res = fc.check_object(net, X, Y, workers=1)
    assert res.passed
    assert list(res.layout.names) == ["layers[0].W", "layers[0].b", "layers[2].W", "layers[2].b"]
    bad = zoo.Sequential([zoo.Dense(4, 5, seed=3, bug="b"), zoo.Tanh(), zoo.Dense(5, 3, seed=4)], zoo.MSE())
    v = _verdicts(fc.check_object(bad, X, Y, workers=1))
    assert v["layers[0].b"] == "wrong" and v["layers[2].W"] in ("great", "ok")
    assert all(np.all(g == 0) for g in bad.layers[0].gradients.values())  # restored (they were zero)


def test_diff_accumulators_planted_bug():
    class Buggy(zoo.DiffDense):
        def backward(self, dY):
            out = super().backward(dY)
            self.bg_diff *= 2
            return out

    res = fc.check_layer(Buggy(4, 3), X, workers=1)
    assert res.failing_blocks == ["bg"]


def test_complex_step_through_a_layer_object():
    assert fc.check_layer(zoo.Dense(4, 3), X, scheme="complex", workers=1).verdict == "great"
    assert fc.check_layer(zoo.AttrDense(4, 3), X, scheme="complex", workers=1).verdict == "great"


# -- layers that keep their results (forward sets self.output, backward self.dinputs; the style of the
# -- book "Neural Networks from Scratch in Python"), written afresh here ---------------------------------------
class KeptDense:
    def __init__(self, n_in, n_out, seed=0, bug=False):
        r = np.random.default_rng(seed)
        self.weights, self.biases = r.normal(size=(n_in, n_out)), np.zeros((1, n_out))
        self.bug = bug

    def forward(self, inputs):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues * (1.001 if self.bug else 1.0)
        self.dbiases = dvalues.sum(axis=0, keepdims=True)
        self.dinputs = dvalues @ self.weights.T


class KeptTanh:
    def forward(self, inputs):
        self.output = np.tanh(inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output**2)


class KeptSoftmaxCrossEntropy:
    """Softmax fused with its cross-entropy: forward returns the mean loss and keeps the probabilities;
    backward(probabilities, y) differentiates from them."""

    def forward(self, inputs, y):
        e = np.exp(inputs - inputs.max(axis=1, keepdims=True))
        self.output = e / e.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(self.output[np.arange(len(y)), y])))

    def backward(self, dvalues, y):
        self.dinputs = dvalues.copy()
        self.dinputs[np.arange(len(y)), y] -= 1
        self.dinputs /= len(y)


class PerSampleSquaredError:
    """forward gives one loss per sample; calculate their mean (the loss the gradient is of)."""

    def forward(self, pred, y):
        return 0.5 * np.sum((pred - y) ** 2, axis=1)

    def calculate(self, pred, y):
        return float(np.mean(self.forward(pred, y)))

    def backward(self, dvalues, y):
        self.dinputs = (dvalues - y) / len(y)


def test_kept_results_layer_checks_with_no_glue():
    layer = KeptDense(4, 3)
    X = np.random.default_rng(1).normal(size=(5, 4))
    result = fc.check_layer(layer, X, workers=1)
    assert result.passed and list(result.layout.names) == ["X", "weights", "biases"], result.summary()
    assert not hasattr(layer, "output") and not hasattr(layer, "dinputs")     # put back as it was
    bad = fc.check_layer(KeptDense(4, 3, bug=True), X, workers=1)
    assert bad.failing_blocks == ["weights"]


def test_kept_results_network_with_fused_softmax_loss():
    X, y = np.random.default_rng(2).normal(size=(6, 4)), np.array([0, 1, 2, 1, 0, 2])
    net = [KeptDense(4, 5, 0), KeptTanh(), KeptDense(5, 3, 1), KeptSoftmaxCrossEntropy()]
    result = fc.check_object(net, X, y, workers=1)
    assert result.passed, result.summary()
    assert list(result.layout.names) == ["layers[0].weights", "layers[0].biases", "layers[2].weights",
                                         "layers[2].biases"]
    net[2].bug = True
    assert fc.check_object(net, X, y, workers=1).failing_blocks == ["layers[2].weights"]


def test_per_sample_loss_read_through_calculate():
    X, y = np.random.default_rng(3).normal(size=(6, 4)), np.random.default_rng(4).normal(size=(6, 3))
    result = fc.check_object([KeptDense(4, 3, 5), PerSampleSquaredError()], X, y, workers=1)
    assert result.passed, result.summary()


def test_a_backward_that_keeps_nothing_is_a_clear_error_not_a_stale_gradient():
    class Forgetful(KeptTanh):
        def backward(self, dvalues):
            pass

    layer = Forgetful()
    layer.dinputs = np.ones((5, 4))            # left over from some earlier pass: must not be taken
    with pytest.raises(fc.LayerError, match="dinputs"):
        fc.check_layer(layer, np.random.default_rng(5).normal(size=(5, 4)), workers=1)
    assert np.array_equal(layer.dinputs, np.ones((5, 4)))


def test_per_sample_loss_without_calculate_is_refused():
    class NoMean(PerSampleSquaredError):
        calculate = None

    X, y = np.ones((3, 2)), np.zeros((3, 2))
    with pytest.raises(fc.LayerError, match="calculate"):
        fc.check_object([KeptDense(2, 2), NoMean()], X, y, workers=1)
