"""verdicts/converge.py: what a ladder of steps may conclude (unit tests on constructed quotients)."""
import numpy as np

from fastcheck.verdicts import converge

T = 1e-3 * 2.0 ** -np.arange(19)  # rungs 1e-3 … 1e-3/2^18, largest first
EPS = np.finfo(float).eps


def _read(D, rnd):
    return converge.read(np.atleast_2d(D), np.atleast_2d(rnd))


def test_a_smooth_sequence_converges_to_its_limit():
    g, c = 1.7, 3.0
    D = g + c * T**2 + 0.5 * T**4
    rd = _read(D, 4 * EPS / T)
    assert rd.converged[0]
    # Richardson removes the t² terms: the bar covers the distance to the limit, and is small
    assert abs(rd.estimate[0] - g) <= rd.error[0] and rd.error[0] < 1e-9


def test_agreeing_large_steps_refuted_by_small_ones_are_no_evidence():
    """max(t, 0) + 2t at 1e-8 from its corner: every step above 1e-8 reads ~2.5, the smaller ones 2."""
    d = 1e-8
    D = np.where(T > d, 2.5 - d / (2 * T), 2.0)
    rd = _read(D, 4 * EPS * 0.03 / T)
    assert rd.converged[0] and abs(rd.estimate[0] - 2.0) < 1e-6, rd


def test_quotients_growing_like_one_over_t_never_converge():
    """A bounded cost seen through steps far beyond its length scale: D = C/t (and no smaller step)."""
    D = 0.05 / T[:8]
    rd = converge.read(D[None, :], (1e-3 / T[:8])[None, :])
    assert not rd.converged[0]


def test_noise_alone_converges_with_a_bar_that_covers_it():
    rng = np.random.default_rng(0)
    eta = 1e-12
    D = 0.3 + eta * rng.standard_normal(19) / T
    rd = _read(D, 2 * eta / T)
    assert rd.converged[0] and abs(rd.estimate[0] - 0.3) <= 4 * rd.error[0]


def test_decide_is_wrong_only_on_converged_evidence():
    a = np.array([1.0, 1.0, 1.0])
    rd = converge.Reading(np.array([2.0, 2.0, 1.0]), np.array([1e-6, 1e-6, 1e-9]), np.zeros(3),
                          np.array([True, False, True]), np.zeros(3, bool))
    st, why = converge.decide(a, rd, np.full(3, 1e-7), 1e-6)
    from fastcheck.verdicts import errorbars as eb

    assert st.tolist() == [eb.WRONG, eb.INCONCLUSIVE, eb.AGREE]
