import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
