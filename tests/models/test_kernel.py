"""The kernels of networks of at most two layers compute bit for bit what the general kernels compute.

:func:`fastcheck.models.layered.kernels_for` gives a network of one or two layers kernels compiled without
the paths such a network never takes (the matrix-product blocks, the column path's hidden-layer cubics):
less to compile on a cold start.  The operations on every block are the same, so the costs, the kink flags
and the complex steps must be identical to the last bit, on every path a two-layer network takes (the
column path with its cubics and its fallback for large moves, the one-at-a-time path with kinks, dropout,
L2 and every loss).
"""
import numpy as np
import pytest

from fastcheck import config
from fastcheck.models import MLP, layered

TWO_LAYERS = {
    "sigmoid-sse (column path)": {"sizes": [6, 5, 3], "activations": "sigmoid", "loss": "sse"},
    "relu-softmax_ce-dropout-l2": {"sizes": [5, 7, 4], "activations": ["relu", "tanh"], "loss": "softmax_ce", "l2": 0.1,
                                       "keep_prob": 0.7},
    "one layer, bce": {"sizes": [4, 3], "activations": "softplus", "loss": "bce"},
}


@pytest.fixture(scope="module", params=list(TWO_LAYERS), ids=list(TWO_LAYERS))
def network(request):
    model = MLP(**TWO_LAYERS[request.param])
    X, y = model.sample_data(7, seed=3)
    return model, model.init(3), model.cost_args(X, y)


def test_kernels_follow_the_depth():
    assert layered.kernels_for(MLP([3, 4, 2]).arch) == (layered.shallow_costs, layered.shallow_complex_step)
    assert layered.kernels_for(MLP([3, 2]).arch)[0] is layered.shallow_costs
    assert layered.kernels_for(MLP([3, 4, 4, 2]).arch) == (layered.layered_costs, layered.layered_complex_step)


@pytest.mark.parametrize("step", [1e-5, 0.3], ids=["small moves (cubics)", "large moves (general path)"])
def test_two_layer_kernels_match_the_general_ones_bit_for_bit(network, step):
    model, theta, args = network
    coords = np.arange(model.n_params, dtype=np.int64)
    steps = np.full(len(coords), step)
    offsets = np.array([-2.0, -1.0, 1.0, 2.0])
    got = {}
    for name, (costs, cstep) in {"general": (layered.layered_costs, layered.layered_complex_step),
                                 "two layers": layered.kernels_for(model.arch)}.items():
        out = np.empty((len(coords), len(offsets)))
        kinks = np.zeros(len(coords), np.bool_)
        im = np.empty(len(coords))
        with config.single_threaded_blas():
            costs(theta, *args, coords, steps, offsets, np.int64(2), out, kinks)
            cstep(theta, *args, coords, steps, np.complex128(1j), np.int64(2), im)
        got[name] = (out, kinks, im)
    assert layered.kernels_for(model.arch)[0] is layered.shallow_costs
    for a, b in zip(got["general"], got["two layers"]):
        np.testing.assert_array_equal(a, b)
    # and they are costs: J(θ ± h·e_i) about J(θ), the complex step about the central difference
    J0 = layered.forward_cache(theta, *args)[-1]
    assert np.isfinite(got["general"][0]).all() and np.isfinite(got["general"][2]).all()
    if step < 1e-3:
        out, kinks, im = got["general"]
        smooth = ~kinks  # a relu kink between θ ± h: the difference is not the derivative there
        central = (out[:, 2] - out[:, 1]) / (2 * step)
        np.testing.assert_allclose((im / step)[smooth], central[smooth], rtol=1e-4, atol=1e-8 * (1 + abs(J0)))
