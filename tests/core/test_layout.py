import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastcheck
from fastcheck import Layout

shapes = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1))
def test_flatten_unflatten_roundtrip(shape_list, seed):
    rng = np.random.default_rng(seed)
    arrays = {f"b{i}": rng.standard_normal(s) for i, s in enumerate(shape_list)}
    layout = Layout.from_arrays(arrays)
    theta = layout.flatten(arrays)
    assert theta.dtype == np.float64 and theta.ndim == 1
    assert len(theta) == sum(a.size for a in arrays.values()) == layout.size
    back = layout.unflatten(theta)
    assert list(back) == list(arrays)
    for name, arr in arrays.items():
        np.testing.assert_array_equal(back[name], arr)
        assert back[name].shape == arr.shape
        assert np.shares_memory(back[name], theta)  # views, not copies
    # every coordinate is located in its block's own shape
    for i in range(layout.size):
        name, index = layout.locate(i)
        assert back[name][index] == theta[i]


def test_dict_read_by_name_whatever_its_order():
    W = np.arange(6.0).reshape(2, 3)
    b = np.array([10.0, 20.0, 30.0])
    layout = Layout.from_arrays({"W": W, "b": b})
    assert layout.names == ("W", "b")
    assert layout.offsets == (0, 6, 9)
    np.testing.assert_array_equal(layout.flatten({"b": b, "W": W}), np.r_[W.ravel(), b])
    assert layout.locate(4) == ("W", (1, 1))
    assert layout.locate(8) == ("b", (2,))


def test_list_layout_and_int_inputs_become_float64():
    layout = Layout.from_arrays([np.zeros((2, 2)), np.zeros(3)])
    assert layout.names == ("p0", "p1")
    theta = layout.flatten([np.ones((2, 2), dtype=int), np.arange(3)])
    assert theta.dtype == np.float64
    np.testing.assert_array_equal(theta, [1, 1, 1, 1, 0, 1, 2])


def test_flatten_does_not_modify_inputs():
    W = np.ones((2, 2))
    layout = Layout.from_arrays({"W": W})
    theta = layout.flatten({"W": W})
    theta[:] = 5
    assert np.all(W == 1)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"W": np.zeros((3, 2)), "b": np.zeros(2)}, r"block 'W' has shape \(3, 2\), layout expects \(2, 3\)"),
        ({"W": np.zeros((2, 3))}, r"missing \['b'\]"),
        ({"W": np.zeros((2, 3)), "b": np.zeros(3), "c": 1}, r"unexpected \['c'\]"),
    ],
)
def test_flatten_errors_name_the_block(arrays, match):
    layout = Layout.from_arrays({"W": np.zeros((2, 3)), "b": np.zeros(3)})
    with pytest.raises((ValueError, KeyError), match=match):
        layout.flatten(arrays)


def test_unflatten_and_locate_errors():
    layout = Layout.from_arrays({"W": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="length 6"):
        layout.unflatten(np.zeros(5))
    with pytest.raises(IndexError, match="outside"):
        layout.locate(6)
    with pytest.raises(ValueError, match="unique"):
        Layout(("a", "a"), ((1,), (2,)))


def test_block_ids():
    layout = Layout.from_arrays({"a": np.zeros(2), "b": np.zeros((2, 2)), "c": np.zeros(1)})
    np.testing.assert_array_equal(layout.block_ids(np.arange(7)), [0, 0, 1, 1, 1, 1, 2])


# -- Layout.flatten_gradients: the one reader of analytic gradients --------------------------------------------
def _two_blocks():
    return Layout(("W", "b"), ((2, 3), (3,)))


W_GRAD, B_GRAD = np.arange(6.0).reshape(2, 3), np.array([10.0, 20.0, 30.0])


@pytest.mark.parametrize("grads", [
    {"W": W_GRAD, "b": B_GRAD},  # by name
    {"dW": W_GRAD, "db": B_GRAD},  # by "d" + name
    {"b": B_GRAD, "dW": W_GRAD},  # mixed, any order
    {"dW": W_GRAD, "db": B_GRAD, "dZ1": np.ones(7), "cache": "anything"},  # extra keys ignored
    [W_GRAD, B_GRAD],  # a list in block order
    (W_GRAD, B_GRAD.astype(np.float32)),  # a tuple, any real dtype
    np.r_[W_GRAD.ravel(), B_GRAD],  # a flat vector
])
def test_flatten_gradients_reads_every_spelling(grads):
    flat = _two_blocks().flatten_gradients(grads)
    assert flat.dtype == np.float64 and flat.shape == (9,)
    np.testing.assert_array_equal(flat, np.r_[W_GRAD.ravel(), B_GRAD])


def test_flatten_gradients_prefers_the_first_prefix_and_copies():
    layout = _two_blocks()
    both = {"W": W_GRAD, "dW": -W_GRAD, "b": B_GRAD}
    np.testing.assert_array_equal(layout.flatten_gradients(both)[:6], W_GRAD.ravel())
    np.testing.assert_array_equal(layout.flatten_gradients(both, ("d", ""))[:6], -W_GRAD.ravel())
    flat = np.r_[W_GRAD.ravel(), B_GRAD]
    assert not np.shares_memory(layout.flatten_gradients(flat), flat)


def test_flatten_gradients_accepts_singleton_axes_with_a_note():
    with pytest.warns(fastcheck.ShapeNoteWarning, match=r"block 'b' \('db'\) has shape \(1, 3\), the block \(3,\)"):
        flat = _two_blocks().flatten_gradients({"dW": W_GRAD, "db": B_GRAD[None, :]})
    np.testing.assert_array_equal(flat[6:], B_GRAD)


@pytest.mark.parametrize("grads, match", [
    ({"dW": W_GRAD}, (r"^backward's gradient for block 'b' is missing: looked for 'b' or 'db' among 'dW' \(2, 3\); "
                      r"the blocks are 'W' \(2, 3\), 'b' \(3,\)$")),
    ({}, r"block 'W' is missing: looked for 'W' or 'dW' among no keys"),
    ({"dW": W_GRAD.T, "db": B_GRAD}, r"block 'W' \('dW'\) has shape \(3, 2\) but the block has shape \(2, 3\)"),
    ([W_GRAD, B_GRAD[:2]], r"block 'b' \(array 1\) has shape \(2,\) but the block has shape \(3,\)"),
    ([W_GRAD], r"has 1 array\(s\) for 2 block\(s\); their shapes: \(2, 3\); the blocks are 'W' \(2, 3\), 'b' \(3,\)"),
    (np.zeros(5), r"one array of shape \(5,\).*flat vector of 9"),
    ({"dW": W_GRAD + 5j, "db": B_GRAD}, r"block 'W' \('dW'\) is complex \(complex128\)"),
    (np.r_[W_GRAD.ravel(), B_GRAD] * 1j, r"^backward's gradient is complex"),
    ({"W": W_GRAD, "b": np.array(["a", "b", "c"])}, r"block 'b' is not a numeric array"),
    ("dW", r"must be a dict keyed by '<block>' or 'd<block>', a list of arrays in block order, or an array; got str"),
])
def test_flatten_gradients_mismatch_names_the_block_keys_and_shapes(grads, match):
    with pytest.raises(fastcheck.GradientMismatchError, match=match) as info:
        _two_blocks().flatten_gradients(grads, what="backward's gradient")
    assert isinstance(info.value, ValueError) and not isinstance(info.value, (KeyError, TypeError))


# -- every entry point reads gradients through it: one error for a missing block, complex gradients refused ------
def _affine(x, w):
    return x @ w, (x, w)


def _affine_backward(d, cache, extra=0.0, drop=None):
    x, w = cache
    grads = {"dx": d @ w.T + extra, "dw": x.T @ d}
    grads.pop(drop, None)
    return grads


X_IN, W_IN = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0.5, 1.5, 12).reshape(3, 4)


def test_check_layer_missing_and_complex_gradients():
    inputs = {"x": X_IN, "w": W_IN}
    with pytest.raises(fastcheck.GradientMismatchError, match="backward's gradient for block 'w' is missing"):
        fastcheck.check_layer(_affine, lambda d, c: _affine_backward(d, c, drop="dw"), inputs, workers=1)
    with pytest.raises(fastcheck.GradientMismatchError, match=r"block 'x' \('dx'\) is complex"):
        fastcheck.check_layer(_affine, lambda d, c: _affine_backward(d, c, extra=5j), inputs, workers=1)


def test_check_jacobian_refuses_a_complex_jacobian():
    with pytest.raises(fastcheck.GradientMismatchError, match=r"^jac for block 'J' \(array 0\) is complex"):
        fastcheck.check_jacobian(np.sin, np.linspace(0, 1, 3), lambda x: np.diag(np.cos(x)) + 5j, workers=1)


def _sum_forward(X, Y, p):
    out = X @ p["W"] + p["b"]
    return float(0.5 * np.sum((out - Y) ** 2)), (X, out - Y)


def _sum_backward(X, Y, cache, extra=0.0, drop=None):
    X, r = cache
    grads = {"dW": X.T @ r + extra, "db": r.sum(axis=0), "dZ": r}
    grads.pop(drop, None)
    return grads


P_FN = {"W": np.linspace(-1, 1, 12).reshape(3, 4), "b": np.linspace(0, 1, 4)}
X_FN, Y_FN = np.linspace(-2, 2, 15).reshape(5, 3), np.linspace(0, 1, 20).reshape(5, 4)


def test_check_functions_missing_and_complex_gradients():
    with pytest.raises(fastcheck.GradientMismatchError, match="backward's gradient for block 'b' is missing"):
        fastcheck.check_functions(_sum_forward, lambda X, Y, c: _sum_backward(X, Y, c, drop="db"), P_FN, X_FN, Y_FN,
                                  workers=1)
    with pytest.raises(fastcheck.GradientMismatchError, match=r"block 'W' \('dW'\) is complex"):
        fastcheck.check_functions(_sum_forward, lambda X, Y, c: _sum_backward(X, Y, c, extra=5j), P_FN, X_FN, Y_FN,
                                  workers=1)


class _LossNet:
    """The params-dict-and-loss style."""

    def __init__(self, extra=0.0, drop=None):
        self.params = {k: v.copy() for k, v in P_FN.items()}
        self.extra, self.drop = extra, drop

    def loss(self, X, y):
        cost, cache = _sum_forward(X, y, self.params)
        grads = {k[1:]: v for k, v in _sum_backward(X, y, cache, self.extra, self.drop and "d" + self.drop).items()}
        return cost, grads


class _ObjectNet:
    """The getParams/setParams/costFunction/computeGradients style."""

    def __init__(self, extra=0.0):
        self.theta, self.extra = np.linspace(-1, 1, 4), extra

    def getParams(self):
        return self.theta.copy()

    def setParams(self, theta):
        self.theta = np.array(theta, dtype=np.float64)

    def costFunction(self, X, y):
        return float(np.sum(np.sin(self.theta)))

    def computeGradients(self, X, y):
        return np.cos(self.theta) + self.extra


def test_check_object_missing_and_complex_gradients():
    with pytest.raises(fastcheck.GradientMismatchError, match=r"_LossNet.loss\(X, y\)'s gradient for block 'W' is"
                                                              " missing"):
        fastcheck.check_object(_LossNet(drop="W"), X_FN, Y_FN, workers=1)
    with pytest.raises(fastcheck.GradientMismatchError, match=r"_LossNet.loss\(X, y\)'s gradient for block 'W' is"
                                                              " complex"):
        fastcheck.check_object(_LossNet(extra=5j), X_FN, Y_FN, workers=1)
    with pytest.raises(fastcheck.GradientMismatchError, match="_ObjectNet's gradient is complex"):
        fastcheck.check_object(_ObjectNet(extra=5j), X_FN, Y_FN, workers=1)
    assert fastcheck.check_object(_ObjectNet(), X_FN, Y_FN, workers=1).passed


def _stages():
    return [(lambda a, W, b: a @ W + b, ("W", "b")), (lambda a: float(0.5 * np.sum((a - Y_FN) ** 2)), ())]


def test_check_sequential_missing_and_complex_gradients():
    grads = _sum_backward(X_FN, Y_FN, _sum_forward(X_FN, Y_FN, P_FN)[1])
    assert fastcheck.check_sequential(_stages(), P_FN, X_FN, grads, workers=1).passed  # extra key dZ ignored
    with pytest.raises(fastcheck.GradientMismatchError, match="grads for block 'b' is missing"):
        fastcheck.check_sequential(_stages(), P_FN, X_FN, {"dW": grads["dW"]}, workers=1)
    with pytest.raises(fastcheck.GradientMismatchError, match=r"grads for block 'W' \('dW'\) is complex"):
        fastcheck.check_sequential(_stages(), P_FN, X_FN, {**grads, "dW": grads["dW"] + 5j}, workers=1)


def test_check_gradient_reads_a_dict_gradient_the_same_way():
    layout = Layout.from_arrays(P_FN)
    theta = layout.flatten(P_FN)

    def cost(t):
        return _sum_forward(X_FN, Y_FN, layout.unflatten(t))[0]

    grads = _sum_backward(X_FN, Y_FN, _sum_forward(X_FN, Y_FN, P_FN)[1])
    assert fastcheck.check_gradient(cost, theta, grads, layout=layout, jit=False, workers=1).passed
    with pytest.raises(fastcheck.GradientMismatchError, match="grad for block 'W' is missing"):
        fastcheck.check_gradient(cost, theta, {"db": grads["db"]}, layout=layout, jit=False, workers=1)


def test_block_ids_of_sorted_and_unsorted_coordinates_match_a_search_among_the_edges():
    """Layout.block_ids takes sorted coordinates (a full check) by finding the blocks' edges among them;
    every coordinate searched among the edges is the reference, an empty block and repeats included."""
    lay = Layout.from_shapes({"W1": (7, 5), "b1": (5,), "empty": (0,), "W2": (5, 3), "b2": (3,)})
    edges = np.asarray(lay.offsets[1:])
    rng = np.random.default_rng(1)
    cases = [np.arange(lay.size), np.arange(lay.size)[::-1], np.array([], np.int64), np.array([57])]
    cases += [np.sort(rng.integers(0, lay.size, 40)) for _ in range(20)]
    cases += [rng.integers(0, lay.size, 40) for _ in range(20)]
    for coords in cases:
        want = np.searchsorted(edges, coords, side="right")
        got = lay.block_ids(coords)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
