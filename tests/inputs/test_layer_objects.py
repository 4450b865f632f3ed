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


# -- params = [W, b] with grads = [dW, db] (the style of the book "Deep Learning from Scratch"), written afresh ----
class ListAffine:
    def __init__(self, n_in, n_out, seed=0, bug=None):
        r = np.random.default_rng(seed)
        W, b = r.normal(size=(n_in, n_out)) / np.sqrt(n_in), r.normal(size=n_out) * 0.1
        self.params, self.grads = [W, b], [np.zeros_like(W), np.zeros_like(b)]
        self.bug, self.x = bug, None

    def forward(self, x):
        W, b = self.params
        self.x = x
        return x @ W + b

    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = self.x.T @ dout
        self.grads[1][...] = dout.sum(axis=0) * (1.003 if self.bug == "b" else 1.0)
        return dout @ W.T


def test_params_and_grads_lists_are_checked_and_restored():
    layer = ListAffine(4, 3)
    W, dW = layer.params[0], layer.grads[0]
    before = [p.copy() for p in layer.params] + [g.copy() for g in layer.grads]
    res = fc.check_layer(layer, X, workers=1)
    assert res.passed and list(res.layout.names) == ["X", "params[0]", "params[1]"], res.summary()
    assert not res.unchecked
    assert layer.params[0] is W and layer.grads[0] is dW and layer.x is None
    for a, b in zip(layer.params + layer.grads, before):
        np.testing.assert_array_equal(a, b)
    bad = fc.check_layer(ListAffine(4, 3, bug="b"), X, workers=1)
    assert bad.failing_blocks == ["params[1]"]


def test_params_and_grads_lists_through_check_object():
    res = fc.check_object([ListAffine(4, 5, 1), zoo.Tanh(), ListAffine(5, 3, 2), zoo.MSE()], X, Y, workers=1)
    assert res.passed and list(res.layout.names) == ["layers[0].params[0]", "layers[0].params[1]",
                                                     "layers[2].params[0]", "layers[2].params[1]"]
    bad = fc.check_object([ListAffine(4, 5, 1), zoo.Tanh(), ListAffine(5, 3, 2, bug="b"), zoo.MSE()], X, Y,
                          workers=1)
    assert bad.failing_blocks == ["layers[2].params[1]"]


# -- more names of gradient attributes ----------------------------------------------------------------------------
class NamedGradDense:
    def __init__(self, fmt, bug=False):
        r = np.random.default_rng(3)
        self.W, self.b = r.normal(size=(4, 3)), r.normal(size=3)
        self.fmt, self.bug = fmt, bug

    def forward(self, X):
        self.X = X
        return np.tanh(X @ self.W + self.b)

    def backward(self, dY):
        self.Y = np.tanh(self.X @ self.W + self.b)
        dz = dY * (1 - self.Y**2)
        setattr(self, self.fmt.format("W"), self.X.T @ dz * (1.003 if self.bug else 1.0))
        setattr(self, self.fmt.format("b"), dz.sum(axis=0))
        return dz @ self.W.T


@pytest.mark.parametrize("fmt", ["grad{}", "g{}", "delta_{}", "{}_gradient"])
def test_more_gradient_attribute_names_are_paired(fmt):
    res = fc.check_layer(NamedGradDense(fmt), X, workers=1)
    assert res.passed and list(res.layout.names) == ["X", "W", "b"] and not res.unchecked, res.summary()
    assert fc.check_layer(NamedGradDense(fmt, bug=True), X, workers=1).failing_blocks == ["W"]


# -- float arrays with no gradient found: named in the result, with a warning, never a plain pass --------------
def test_arrays_without_a_gradient_are_named_as_not_checked():
    class Unpaired(NamedGradDense):
        def backward(self, dY):
            out = super().backward(dY)
            return out * (1.003 if self.bug else 1.0)

    with pytest.warns(fc.UncheckedArraysWarning, match=r"W, b.*only X checked"):
        res = fc.check_layer(Unpaired("{}_unknown"), X, workers=1)
    assert res.passed and list(res.layout.names) == ["X"]
    assert res.unchecked == ("W", "b")
    assert "NOT CHECKED (no gradient found): W, b" in res.headline() and "W, b" in res.summary()
    assert res.to_dict()["unchecked"] == ["W", "b"]
    with pytest.warns(fc.UncheckedArraysWarning):
        bad = fc.check_layer(Unpaired("{}_unknown", bug=True), X, workers=1)
    assert bad.failing_blocks == ["X"] and bad.unchecked == ("W", "b")


def test_check_object_names_a_layers_arrays_without_a_gradient():
    net = [zoo.AttrDense(4, 5), zoo.Tanh(), NamedGradDense("{}_unknown"), zoo.MSE()]
    net[2].W = np.random.default_rng(4).normal(size=(5, 3))
    with pytest.warns(fc.UncheckedArraysWarning, match=r"layers\[2\]\.W, layers\[2\]\.b"):
        res = fc.check_object(net, X, Y, workers=1)
    assert res.passed and res.unchecked == ("layers[2].W", "layers[2].b")
    assert list(res.layout.names) == ["layers[0].W", "layers[0].b"]
    net[2].bug, net[2].fmt = True, "d{}"  # now paired (dW, db), with a planted bug in dW
    bad = fc.check_object(net, X, Y, workers=1)
    assert bad.failing_blocks == ["layers[2].W"] and not bad.unchecked


# -- backward(dY) returning (dX, dW, db) ----------------------------------------------------------------------------
class TupleDense:
    def __init__(self, bug=None, keep=False):
        r = np.random.default_rng(5)
        self.W, self.b = r.normal(size=(4, 3)), r.normal(size=3)
        self.bug, self.keep = bug, keep

    def forward(self, X):
        self.X = X
        return X @ self.W + self.b

    def backward(self, dY):
        dW, db = self.X.T @ dY, dY.sum(axis=0) * (1.003 if self.bug == "b" else 1.0)
        if self.keep:
            self.dW, self.db = dW, db
        return dY @ self.W.T, dW, db


@pytest.mark.parametrize("keep", [False, True])
def test_backward_returning_dx_dw_db(keep):
    layer = TupleDense(keep=keep)
    res = fc.check_layer(layer, X, workers=1)
    assert res.passed and list(res.layout.names) == ["X", "W", "b"] and not res.unchecked, res.summary()
    assert not hasattr(layer, "dW")  # restored
    assert fc.check_layer(TupleDense(bug="b", keep=keep), X, workers=1).failing_blocks == ["b"]


def test_backward_tuples_through_check_object():
    class Tuple2(TupleDense):
        def __init__(self, bug=None):
            super().__init__(bug)
            self.W = np.random.default_rng(6).normal(size=(3, 3))

    net = [TupleDense(), zoo.Tanh(), Tuple2(), zoo.MSE()]
    assert fc.check_object(net, X, Y, workers=1).passed
    net[2].bug = "b"
    assert fc.check_object(net, X, Y, workers=1).failing_blocks == ["layers[2].b"]


def test_an_ambiguous_backward_tuple_says_what_backward_must_return():
    class Norm:
        def __init__(self):
            self.gamma, self.beta, self.scale = np.ones(4), np.zeros(4), np.full(4, 2.0)

        def forward(self, X):
            self.X = X
            return self.scale * (self.gamma * X + self.beta)

        def backward(self, dY):
            d = dY * self.scale
            return d * self.gamma, (d * self.X).sum(0), d.sum(0)

    layer = Norm()
    with pytest.raises(fc.LayerError, match=r"tuple of 3.*more than one way.*must return dL/dX alone.*"
                                            r"gamma \(4,\), beta \(4,\), scale \(4,\)"):
        fc.check_layer(layer, X, workers=1)
    assert not hasattr(layer, "X")

    class Odd(TupleDense):
        def backward(self, dY):
            return dY @ self.W.T, self.X.T @ dY, np.ones(7)

    with pytest.raises(fc.LayerError, match=r"shapes \(4, 3\), \(7,\)\) fit none"):
        fc.check_layer(Odd(), X, workers=1)


# -- reseed=: the analytic forward and backward see the same random numbers as every perturbed cost ---------------
class Dropout:
    def __init__(self, keep=0.6, bug=False):
        self.keep, self.bug = keep, bug

    def forward(self, x):
        self.mask = (np.random.rand(*x.shape) < self.keep) / self.keep
        return x * self.mask

    def backward(self, dout):
        return dout * (self.mask * self.keep if self.bug else self.mask)  # bug: the 1/keep scaling forgotten


def test_reseed_makes_a_dropout_layer_object_checkable():
    state = np.random.get_state()
    res = fc.check_layer(Dropout(), X, reseed=0, workers=1)
    assert res.passed, res.summary()
    assert np.array_equal(np.random.get_state()[1], state[1])  # the caller's random state is put back
    assert fc.check_layer(Dropout(bug=True), X, reseed=0, workers=1).failing_blocks == ["X"]
