"""check_layer(layer, X) for stateful layer objects, and lists of them with a loss through check_object."""
import numpy as np

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
    for k in before:
        np.testing.assert_array_equal(layer.gradients[k], before[k])
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
