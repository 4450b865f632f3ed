"""Steps: the scheme table, the step rule per scheme, the effective step actually taken, ε validation."""
import numpy as np
import pytest

from fastcheck.core.steps import (
    ADAPTIVE,
    SCHEMES,
    StepTooSmallError,
    absolute_steps,
    direction_steps,
    get_scheme,
    resolve_eps,
    validate_eps,
)


@pytest.mark.parametrize("name", [n for n in SCHEMES if not SCHEMES[n].complex])
def test_every_real_stencil_differentiates_polynomials_up_to_its_order_exactly(name):
    """Σ w_k c_k^p = [p == 1] for p = 0 … order: the stencil's weights are the finite-difference weights."""
    s = SCHEMES[name]
    c, w = np.asarray(s.offsets), np.asarray(s.weights)
    for p in range(s.order + 1):
        assert np.sum(w * c**p) == pytest.approx(1.0 if p == 1 else 0.0, abs=1e-14), (name, p)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_default_step_is_the_optimal_relative_step_times_max_1_abs_theta(name):
    s = get_scheme(name)
    theta = np.array([0.25, -3.0, 1e3])
    h = absolute_steps(theta, np.arange(3), s, None)
    rel = s.relative_step(theta.dtype)
    expected = rel * np.maximum(1.0, np.abs(theta))
    if not s.complex:  # the effective step (θ+h) − θ, the representable one
        expected = (theta + expected) - theta
    np.testing.assert_array_equal(h, expected)


def test_the_effective_step_is_representable_and_exact():
    theta = np.array([1.0 / 3.0, 1e8 + 0.1])
    h = absolute_steps(theta, np.arange(2), get_scheme("central"), 1e-7)
    assert np.all((theta + h) - theta == h)


def test_a_step_that_does_not_move_theta_is_refused():
    with pytest.raises(StepTooSmallError, match=r"theta_i \+ eps == theta_i"):
        absolute_steps(np.array([1e20]), np.arange(1), get_scheme("central"), 1e-3)
    with pytest.raises(StepTooSmallError, match="underflows"):
        absolute_steps(np.array([1.0]), np.arange(1), get_scheme("complex"), 1e-320)


@pytest.mark.parametrize("bad", [0.0, -1e-3, np.inf, np.nan, "small", True, np.ones((2, 2))])
def test_validate_eps_refuses_what_is_not_a_positive_step(bad):
    with pytest.raises(ValueError, match="eps must"):
        validate_eps(bad)


def test_resolve_eps_takes_full_length_or_per_coordinate_arrays():
    theta, coords = np.zeros(5), np.array([1, 3])
    np.testing.assert_array_equal(resolve_eps(np.arange(1.0, 6.0), theta, coords), [2.0, 4.0])
    np.testing.assert_array_equal(resolve_eps([1e-3, 2e-3], theta, coords), [1e-3, 2e-3])
    assert resolve_eps(None, theta, coords) is None and resolve_eps(ADAPTIVE, theta, coords) == ADAPTIVE
    with pytest.raises(ValueError, match="eps has length 3"):
        resolve_eps([1e-3] * 3, theta, coords)


def test_direction_steps_scale_with_the_rms_of_the_directions_slice():
    theta = np.array([3.0, 4.0, 0.1, 0.1])
    steps = direction_steps(theta, np.array([0, 2]), np.array([2, 2]), get_scheme("central"), None)
    rel = get_scheme("central").relative_step(theta.dtype)
    np.testing.assert_allclose(steps, [rel * np.sqrt(12.5), rel], rtol=1e-15)
    np.testing.assert_array_equal(direction_steps(theta, np.array([0]), np.array([4]), get_scheme("central"), 1e-4),
                                  [1e-4])
