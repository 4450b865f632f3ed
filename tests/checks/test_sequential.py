"""check_sequential: exact stage caching gives the composed cost's numbers; bad stages are named."""
import numpy as np
import pytest

import fastcheck as fc
from fastcheck import StageError
from fastcheck.checks.sequential import compose
from fastcheck.evaluators import pool
from tests.user_nets import affine, conv_net, relu, softmax_loss


@pytest.fixture(scope="module")
def net():
    return conv_net(batch=2, channels=1, size=6, filters=2, hidden=5, classes=3, seed=4)


def _flat_grads(grads, params, x, layout):
    g = grads(params, x)
    return np.concatenate([g["d" + n].ravel() for n in layout.names])


@pytest.mark.parametrize("scheme", ["central", "forward", "central4"])
def test_sequential_is_bitwise_the_black_box_composed_cost(net, scheme):
    stages, params, x, grads = net
    before = {k: v.copy() for k, v in params.items()}
    x_before = x.copy()
    seq = fc.check_sequential(stages, params, x, grads, scheme=scheme, workers=1)
    cost, theta, layout = compose(stages, params, x)
    black = fc.check_gradient(cost, theta, _flat_grads(grads, params, x, layout), layout=layout, scheme=scheme,
                              jit=False, workers=1)
    assert seq.path == "sequential" and black.path == "loop"
    np.testing.assert_array_equal(seq.numerical, black.numerical)
    assert seq.passed and list(seq.blocks["block"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    np.testing.assert_array_equal(x, x_before)


def test_sequential_against_the_naive_loop_and_with_a_sample(net):
    stages, params, x, grads = net
    cost, theta, layout = compose(stages, params, x)
    res = fc.check_sequential(stages, params, x, grads, sample=3, seed=2, workers=1)
    h = res.steps
    ref = []
    for i, hi in zip(res.coords, h):
        e = np.zeros_like(theta)
        e[i] = hi
        ref.append((cost(theta + e) - cost(theta - e)) / (2 * hi))
    np.testing.assert_allclose(res.numerical, ref, rtol=1e-9, atol=1e-13)
    assert len(res.coords) == sum(min(3, n) for n in layout.sizes) and res.passed


@pytest.mark.skipif(pool.available_cores() < 2, reason="a pool needs two cores")
def test_sequential_on_the_pool_gives_the_same_numbers(net):
    stages, params, x, grads = net
    serial = fc.check_sequential(stages, params, x, grads, workers=1)
    pooled = fc.check_sequential(stages, params, x, grads, workers=2)
    assert pooled.path == "sequential on a pool of 2 processes"
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)


def test_grads_keyed_by_name_and_a_planted_bug_is_named(net):
    stages, params, x, grads = net
    plain = {k[1:]: v for k, v in grads(params, x).items()}
    assert fc.check_sequential(stages, params, x, plain, workers=1).passed
    broken = dict(plain, W2=plain["W2"] * 1.01)
    res = fc.check_sequential(stages, params, x, broken, workers=1)
    assert not res.passed and res.failing_blocks == ["W2"]


def test_complex_step_through_the_stages():
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3), "V": rng.standard_normal((3, 2))}
    x = rng.standard_normal((5, 4))
    labels = np.array([0, 1, 1, 0, 1])
    stages = [(affine, ("W", "b")), (np.tanh, ()), (lambda a, V: a @ V, "V"), (softmax_loss(labels), ())]
    layout = compose(stages, params, x)[2]
    central = fc.check_sequential(stages, params, x, {k: np.zeros_like(v) for k, v in params.items()}, workers=1)
    ref = central.numerical  # the analytic gradient is not what is tested here: the two schemes agree
    cx = fc.check_sequential(stages, params, x, {n: ref[layout.block_slice(n)].reshape(layout.shapes[i])
                                                 for i, n in enumerate(layout.names)}, scheme="complex", workers=1)
    assert cx.difference < 1e-8


def _stages(params):
    return [(affine, ("W", "b")), (relu, ()), (lambda a, V: np.sum(a @ V), "V")]


@pytest.fixture
def small():
    rng = np.random.default_rng(1)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4), "V": rng.standard_normal(4)}
    return params, rng.standard_normal((2, 3))


@pytest.mark.parametrize(
    "stages, error, message",
    [
        ([], StageError, "non-empty list of"),
        ([(affine, ("W", "b")), "relu"], StageError, "stage 1: expected a pair"),
        ([(affine, ("W", "b")), (3, ())], StageError, "stage 1: 3 is not callable"),
        ([(affine, ("W", "b")), (lambda a, V: np.sum(a @ V), "U")], StageError,
         r"stage 1 \(<lambda>\) names 'U', which params does not have"),
        ([(affine, ("W", "b")), (lambda a, b, V: np.sum(a @ V), ("b", "V"))], StageError,
         r"parameter 'b' is named by stage 0 \(affine\) and by stage 1 \(<lambda>\)"),
        ([(affine, ("W", "b")), (relu, ())], StageError, r"params \['V'\] are named by no stage"),
        ([(lambda a, W, b: (affine(a, W, b), None), ("W", "b")), (lambda a, V: np.sum(a @ V), "V")], StageError,
         r"stage 0 \(<lambda>\) returned tuple.*not \(out, cache\)"),
        ([(affine, ("W", "b")), (lambda a, V: a @ V, "V")], StageError,
         r"in stage 1 \(<lambda>\), the last stage.*shape \(2,\); the last stage must return the scalar cost"),
    ],
)
def test_bad_stages_are_named(small, stages, error, message):
    params, x = small
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    with pytest.raises(error, match=message):
        fc.check_sequential(stages, params, x, grads, workers=1)


def test_bad_grads(small):
    params, x = small
    # one error for every gradient that does not fit, GradientMismatchError (a ValueError; it was KeyError for a
    # missing key and TypeError for a list)
    with pytest.raises(fc.GradientMismatchError, match=r"grads for block 'V' is missing: looked for 'V' or 'dV'"):
        fc.check_sequential(_stages(params), params, x, {"W": params["W"], "b": params["b"]}, workers=1)
    with pytest.raises(fc.GradientMismatchError,
                       match=r"grads for block 'W' \('dW'\) has shape \(4, 3\) but the block has shape \(3, 4\)"):
        fc.check_sequential(_stages(params), params, x, {"dW": np.zeros((4, 3)), "b": params["b"], "V": params["V"]},
                            workers=1)
    with pytest.raises(fc.GradientMismatchError, match="grads must be a dict"):
        fc.check_sequential(_stages(params), params, x, [1, 2], workers=1)


def _dropout_net(bug=False):
    """Two stages that draw random numbers: a dropout mask (np.random) and a sampled row (stdlib random)."""
    import random

    rng = np.random.default_rng(7)
    params = {"W1": rng.normal(size=(4, 5)), "W2": rng.normal(size=(5, 3))}
    x = rng.normal(size=(6, 4))

    def hidden(a, W1):
        mask = np.random.rand(*(a @ W1).shape) < 0.6
        return np.tanh(a @ W1) * mask

    def head(h, W2):
        r = random.randrange(len(h))
        return 0.5 * float(np.sum((h @ W2) ** 2)) + float(np.sum(h[r] @ W2))

    def grads(p, x):
        mask = np.random.rand(len(x), 5) < 0.6
        z = np.tanh(x @ p["W1"])
        h = z * mask
        r = random.randrange(len(h))
        dout = h @ p["W2"]
        dout[r] += 1.0
        dW2 = h.T @ dout
        dh = dout @ p["W2"].T
        dW1 = x.T @ (dh * mask * (1 - z**2))
        return {"dW1": dW1 * (1.001 if bug else 1.0), "dW2": dW2}

    return [(hidden, "W1"), (head, "W2")], params, x, grads


def test_reseed_gives_the_reseeded_composed_cost_bitwise():
    import random

    stages, params, x, grads = _dropout_net()
    np.random.seed(123)
    random.seed(456)
    np_state, py_state = np.random.get_state(), random.getstate()
    seq = fc.check_sequential(stages, params, x, grads, reseed=3, workers=1)
    assert seq.passed and seq.path == "sequential", seq.summary()
    cost, theta, layout = compose(stages, params, x)
    g = fc.core.layout.Layout.flatten_gradients(layout, fc.core.randomness.reseeded(grads, 3)(params, x))
    black = fc.check_gradient(cost, theta, g, layout=layout, reseed=3, jit=False, workers=1)
    np.testing.assert_array_equal(seq.numerical, black.numerical)
    assert np.array_equal(np.random.get_state()[1], np_state[1]) and random.getstate() == py_state
    bad = _dropout_net(bug=True)
    assert fc.check_sequential(*bad, reseed=3, workers=1).failing_blocks == ["W1"]



def test_without_reseed_random_stages_do_not_pass():
    stages, params, x, grads = _dropout_net()
    assert not fc.check_sequential(stages, params, x, grads, workers=1).passed
