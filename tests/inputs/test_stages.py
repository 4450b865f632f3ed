"""check_object routes networks that show their stages through stage caching (fastcheck.inputs.stages):
a list of layer objects sharing the params dict's arrays, and weight/bias lists fed through a loop.
Every number must be bitwise the black-box check's; what is not recognised runs the black box."""
from __future__ import annotations

import re

import numpy as np
import pytest

from fastcheck import check_object
from fastcheck.core.layout import Layout
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.evaluators.protocol import Capabilities
from fastcheck.inputs.stages import InOrder
from tests.evaluators.test_pool import needs_two_cores
from tests.inputs.test_styles import CrossEntropy, ListNetwork, TwoLayerNet
from tests.user_nets import LayerListNet

SMALL = {"batch": 2, "channels": 1, "size": 4, "filters": 2, "hidden": 3, "classes": 3, "seed": 0}


def by_block(res):
    return {k: v.copy() for k, v in res.layout.unflatten(res.numerical).items()}


def same_numbers(a, b):
    x, y = by_block(a), by_block(b)
    return set(x) == set(y) and all(np.array_equal(x[k], y[k]) for k in x)


def state_of(net):
    """Every array the network holds, by identity and value."""
    out = {("params", k): (id(v), v.copy()) for k, v in net.params.items()}
    for i, layer in enumerate(net.layers):
        for attr in ("W", "b"):
            if hasattr(layer, attr):
                v = getattr(layer, attr)
                out[(i, attr)] = (id(v), v.copy())
    return out


def assert_untouched(net, before):
    after = state_of(net)
    assert set(after) == set(before)
    for k, (i, v) in before.items():
        assert after[k][0] == i and np.array_equal(after[k][1], v), k


def test_a_layer_list_is_checked_by_stages_with_the_black_box_numbers():
    net = LayerListNet(**SMALL)
    before = state_of(net)
    staged = check_object(net, net.x, net.labels, workers=1)
    assert_untouched(net, before)
    black = check_object(net, net.x, net.labels, workers=1, cache_stages=False)
    assert_untouched(net, before)
    assert staged.path == "sequential" and black.path == "loop"
    assert staged.layout.names == black.layout.names == ("W1", "b1", "W2", "b2", "W3", "b3")
    assert same_numbers(staged, black)
    assert staged.passed and black.passed
    # the analytic gradient is the same vector, block by block
    assert all(np.array_equal(staged.layout.unflatten(staged.analytic)[k], v)
               for k, v in black.layout.unflatten(black.analytic).items())


def test_a_planted_bug_is_named_by_its_block_on_the_staged_path():
    net = LayerListNet(**SMALL, bug="b2")
    res = check_object(net, net.x, net.labels, workers=1)
    assert res.path == "sequential" and not res.passed
    assert res.failing_blocks == ["b2"], str(res)


@pytest.mark.parametrize("cost", [None, CrossEntropy()])
def test_weight_and_bias_lists_fed_through_a_loop_are_staged(cost):
    net = ListNetwork(sizes=(4, 5, 6, 3), seed=2, cost=cost)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1)), rng.random((3, 1))
    ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    staged = check_object(net, x, y, workers=1)
    black = check_object(net, x, y, workers=1, cache_stages=False)
    assert staged.path == "sequential" and black.path == "loop"
    assert same_numbers(staged, black) and staged.passed
    assert all(np.array_equal(a, b) for a, b in zip(net.weights + net.biases, ws + bs))


class ScaledInput(LayerListNet):
    """Scales X before its layer loop: the layers composed are not what loss computes."""

    def loss(self, X, y):
        return super().loss(X * 0.5, y)


class ExtraParameter(LayerListNet):
    """A parameter (a temperature) no layer holds."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.params["T"] = np.array([1.5])

    def loss(self, X, y):
        loss, grads = super().loss(X, y)
        grads["T"] = np.zeros(1)
        return loss + 0.0 * self.params["T"][0], grads


@pytest.mark.parametrize("cls, why", [(ScaledInput, "are not what the model computes"),
                                      (ExtraParameter, r"net.params \['T'\] are held by no layer")])
def test_stages_that_are_not_the_model_fall_back_to_the_black_box_with_the_reason(cls, why):
    net = cls(**SMALL)
    res = check_object(net, net.x, net.labels, workers=1)
    black = check_object(net, net.x, net.labels, workers=1, cache_stages=False)
    assert res.path == "loop" and "stages not cached" in res.note
    assert re.search(why, res.note), res.note
    assert same_numbers(res, black) and "stages" not in black.note


def test_a_model_without_layers_runs_the_black_box_silently():
    net = TwoLayerNet()
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    res = check_object(net, X, y, workers=1)
    assert res.path == "loop" and "stages" not in res.note and res.passed


@needs_two_cores
def test_staged_check_on_the_pool_gives_the_serial_numbers():
    net = LayerListNet(**SMALL)
    before = state_of(net)
    serial = check_object(net, net.x, net.labels, workers=1)
    pooled = check_object(net, net.x, net.labels, workers=2)
    assert "pool" in pooled.path and pooled.path.startswith("sequential")
    assert same_numbers(serial, pooled)
    assert_untouched(net, before)


# -- InOrder: the model's order of θ over a stage-ordered evaluator --------------------------------------------------
OWN = Layout(("b", "W", "c"), ((2,), (2, 3), (1,)))  # the model's order
STAGED = Layout(("W", "c", "b"), ((2, 3), (1,), (2,)))  # the stages' order
WEIGHTS = np.arange(1.0, 10.0)  # every position of the staged θ counts differently: a wrong permutation shows


def staged_cost(t):
    return float(np.sum(np.maximum(t, 0.0) * WEIGHTS) + np.sum(np.sin(t) * WEIGHTS[::-1]) / 7)


class KinkLoop(LoopEvaluator):
    """The loop over :func:`staged_cost`, flagging kinks as a structure-aware kernel would: by what sits at
    each position of the staged θ (here θ_i ± h·w_i straddling 0, w_i the position's weight)."""

    caps = Capabilities(finds_kinks=True, complex_step=True, directions=True, calls_user_cost=True)

    def kinks(self, theta, coords, steps):
        coords = np.asarray(coords, np.int64)
        x, reach = theta[coords], steps * WEIGHTS[coords]
        return (x - reach) * (x + reach) < 0


def _staged_view():
    """θ in the model's order, the same θ in the stages' order, and where each coordinate of the first sits in
    the second (read from the layouts, not from InOrder)."""
    theta = np.array([0.3, -4e-4, 1.2, -0.7, 2e-4, 0.9, -1.1, 5e-4, 0.6])
    staged = STAGED.flatten(OWN.unflatten(theta))
    at = STAGED.flatten(OWN.unflatten(np.arange(9.0))).astype(np.int64)  # own coordinate at each staged position
    where = np.empty(9, np.int64)
    where[at] = np.arange(9)
    return theta, staged, where


def test_in_order_permutes_the_coordinates_of_the_kink_flags():
    theta, staged, where = _staged_view()
    base = KinkLoop(staged_cost)
    ev = InOrder(base, OWN, STAGED)
    coords = np.array([4, 0, 1, 8, 7, 5, 2])  # in no particular order, with the near-zero θ_1, θ_4 and θ_7
    steps = np.full(len(coords), 1e-4)
    flags = ev.kinks(theta, coords, steps)
    np.testing.assert_array_equal(flags, base.kinks(staged, where[coords], steps))
    # θ_1 sits where w = 9 in the stages' order: |θ_1| = 4e-4 < 9e-4 crosses (at position 1, w = 2, it would not)
    np.testing.assert_array_equal(flags, [True, False, True, False, True, False, False])
    assert ev.caps.finds_kinks


def test_in_order_permutes_the_directions():
    theta, staged, where = _staged_view()
    base = KinkLoop(staged_cost)
    ev = InOrder(base, OWN, STAGED)
    rng = np.random.default_rng(3)
    offsets = np.array([-1.0, 1.0])
    # one direction over the whole of θ: in the stages' order, its entries permuted
    u = rng.standard_normal(9)
    v = np.empty(9)
    v[where] = u
    whole = ev.directions(theta, np.array([0]), np.array([0, 9]), u, np.array([1e-3]), offsets)
    np.testing.assert_array_equal(whole, base.directions(staged, np.array([0]), np.array([0, 9]), v,
                                                         np.array([1e-3]), offsets))
    # one direction per block: each block starts elsewhere in the stages' order, its entries in the same order
    lo, start, vals = np.array([0, 2, 8]), np.array([0, 2, 8, 9]), rng.standard_normal(9)
    steps = np.array([1e-3, 2e-3, 3e-3])
    per_block = ev.directions(theta, lo, start, vals, steps, offsets)
    np.testing.assert_array_equal(per_block, base.directions(staged, where[lo], start, vals, steps, offsets))
    # a direction over parts of two blocks covers a run with gaps in the stages' order: still the same points
    own = LoopEvaluator(lambda t: staged_cost(STAGED.flatten(OWN.unflatten(t))))
    part = (np.array([1]), np.array([0, 3]), rng.standard_normal(3), np.array([1e-3]), offsets)
    np.testing.assert_array_equal(ev.directions(theta, *part), own.directions(theta, *part))
    np.testing.assert_array_equal(per_block, own.directions(theta, lo, start, vals, steps, offsets))


def test_in_order_does_not_offer_the_base_cost_in_the_stage_order():
    base = KinkLoop(staged_cost)
    ev = InOrder(base, OWN, STAGED)
    assert base.caps.calls_user_cost and not ev.caps.calls_user_cost and ev.cost is None
    assert ev.caps.complex_step and ev.caps.directions
