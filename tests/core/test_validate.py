"""Validation of θ, threads, layouts and coordinates: the form the core uses, or one clear error."""
import numba
import numpy as np
import pytest

import fastcheck

from fastcheck.core.layout import Layout
from fastcheck.core.validate import as_theta, layout_for, select_coords, validate_threads
from fastcheck.errors import PrecisionWarning


def test_as_theta_never_copies_a_good_theta_and_never_modifies_one():
    theta = np.linspace(0.0, 1.0, 5)
    assert as_theta(theta) is theta
    big_endian = theta.astype(">f8")
    native = as_theta(big_endian)
    assert native.dtype.isnative and np.array_equal(native, theta) and big_endian.dtype.byteorder == ">"
    with pytest.warns(PrecisionWarning, match="float32"):
        as_theta(theta.astype(np.float32))


@pytest.mark.parametrize("bad, error, match", [
    ({"W": np.zeros(2)}, TypeError, "flatten a dict"),
    (np.zeros(0), ValueError, "empty"),
    (np.arange(3), TypeError, "floating"),
    (np.array([1.0, np.nan]), ValueError, "NaN or inf at 1 coordinate"),
])
def test_as_theta_names_what_is_wrong(bad, error, match):
    with pytest.raises(error, match=match):
        as_theta(bad)


def test_validate_threads_accepts_1_to_numba_num_threads():
    assert validate_threads(None) is None
    assert validate_threads(numba.config.NUMBA_NUM_THREADS) == numba.config.NUMBA_NUM_THREADS
    for bad in (0, numba.config.NUMBA_NUM_THREADS + 1, True, 1.0):
        with pytest.raises(ValueError, match="threads must be between 1 and"):
            validate_threads(bad)


def test_layout_for_builds_from_arrays_and_checks_the_size():
    theta = np.zeros(5)
    assert layout_for(theta, None).names == ("theta",)
    lay = layout_for(theta, {"a": np.zeros((2, 1)), "b": np.zeros(3)})
    assert lay.names == ("a", "b") and lay.shapes == ((2, 1), (3,))
    with pytest.raises(ValueError, match="layout has 4 parameters but theta has 5"):
        layout_for(theta, {"a": np.zeros(4)})


def test_sample_draws_from_every_block_reproducibly_and_without_repeats():
    layout = Layout(("W", "b"), ((40, 10), (3,)))
    a = select_coords(layout.size, layout, sample=5, seed=7)
    b = select_coords(layout.size, layout, sample=5, seed=7)
    np.testing.assert_array_equal(a, b)
    in_w, in_b = a[a < 400], a[a >= 400]
    assert len(in_w) == 5 and len(in_b) == 3 and len(np.unique(a)) == len(a)  # the small bias is never left out
    assert not np.array_equal(a, select_coords(layout.size, layout, sample=5, seed=8))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"coords": [0, 0]}, ValueError, "repeats"),
    ({"coords": [9]}, IndexError, "outside theta of length 4"),
    ({"coords": [0.5]}, ValueError, "integer indices"),
    ({"coords": []}, ValueError, "empty"),
    ({"sample": 0}, ValueError, "positive integer"),
    ({"coords": [0], "sample": 1}, ValueError, "not both"),
])
def test_select_coords_names_what_is_wrong(kwargs, error, match):
    with pytest.raises(error, match=match):
        select_coords(4, Layout.single(4), **kwargs)


def test_a_function_passed_as_theta_is_named_with_the_argument_order():
    # SciPy's check_grad takes (func, grad, x0): a user used to it passes the gradient where θ goes
    def rosen_der(x):
        return 2 * x

    with pytest.raises(TypeError, match=r"theta is a function \(rosen_der\).*check_gradient\(cost, theta, grad\)"):
        as_theta(rosen_der)
    with pytest.raises(TypeError, match="theta is a function"):
        fastcheck.check_gradient(lambda x: float(x @ x), rosen_der, np.ones(3))
