"""verdicts/resolution.py: targets, block scales and the resolution a check states."""
import numpy as np

from fastcheck.verdicts import resolution


def test_targets_follow_the_precision():
    assert resolution.target_resolution(2.0**-52, 1e-6) == 1e-6
    r32 = resolution.target_resolution(2.0**-23, 1.9e-4)
    assert 1e-3 < r32 < 1.5e-3  # 400·ε^(4/5): a 0.3 % error is four bars above it


def test_block_scales_sorted_and_unsorted_agree():
    ids = np.array([0, 0, 1, 1, 1, 2])
    a = np.array([1.0, -3.0, 0.5, 0.0, 0.2, 0.0])
    num = np.array([1.0, -3.0, 0.5, 4.0, 0.2, 0.0])
    noise = np.array([0, 0, 0, 3.5, 0, 0.0])
    live = np.ones(6, bool)
    s = resolution.block_scales(ids, a, num, noise, live, 3)
    assert s.tolist() == [3.0, 0.5, 0.0]
    p = np.array([5, 0, 3, 1, 4, 2])
    assert resolution.block_scales(ids[p], a[p], num[p], noise[p], live, 3).tolist() == s.tolist()


def test_summary_is_relative_to_each_scale():
    res = np.array([1e-6, 2e-6, 1e-3])
    per_block, overall = resolution.summarise(res, np.ones(3, bool), np.array([0, 0, 1]), np.array([1.0, 10.0]), 10.0,
                                              2)
    np.testing.assert_allclose(per_block, [2e-6, 1e-4])
    np.testing.assert_allclose(overall, 1e-4)


def test_a_low_precision_target_never_accepts_bars_wider_than_a_quarter_of_the_gradient():
    band16, band_b16 = 8 * (2.0**-10) ** (2 / 3), 8 * (2.0**-7) ** (2 / 3)
    assert 400 * (2.0**-10) ** 0.8 > 1  # the float32 rule would accept bars wider than the gradient
    assert resolution.target_resolution(2.0**-10, band16) == resolution.COARSEST == 0.25
    assert resolution.target_resolution(2.0**-7, band_b16) == band_b16  # bfloat16's band is coarser still
