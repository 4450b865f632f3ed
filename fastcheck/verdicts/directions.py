"""The judgement of a directional check: each direction's derivative against its error bar.

A direction u is judged like a coordinate: it agrees outright within the
``great`` band, else a second step 2h gives an error bar (round-off plus the
change between h and 2h); wrong beyond ``config.MARGIN`` bars, inconclusive
when the bar is too wide to resolve the gradient; what is still undecided
goes down the ladder of steps, where kinks along u are found.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.verdicts import errorbars

__all__ = ["DirectionJudgement", "judge_directions"]


class DirectionJudgement(NamedTuple):
    """Per direction: status and reason codes, error bar, estimate and the one-sided slopes at a kink."""

    status: np.ndarray
    why: np.ndarray
    error: np.ndarray
    n_evals: int
    estimate: np.ndarray
    kink_left: np.ndarray
    kink_right: np.ndarray


def judge_directions(ev, theta, lo, start, dirvals, steps, f0, costs, num, noise, finite, grad, ana, mach, great):
    """Passes 1 to 3 of :mod:`fastcheck.verdicts.errorbars` for directions: a direction that does not
    agree at h gets a second step 2h; wrong beyond ``MARGIN`` error bars, inconclusive when
    the bar is too wide to resolve the gradient."""
    n = len(lo)
    status = np.full(n, errorbars.AGREE, dtype=np.int8)
    why = np.zeros(n, dtype=np.int8)
    status[~finite] = errorbars.NONFINITE
    why[~finite] = errorbars.NONFINITE_COST
    still = finite & (ana == 0) & np.all(costs == f0, axis=1)
    status[still] = errorbars.ZERO
    est = np.where(finite, num, np.nan)
    scale_all = errorbars.gradient_scale(ana, est, finite, noise)
    error = np.where(finite, noise, np.nan)
    agree = errorbars.first_pass(ana, est, noise, finite, still, scale_all, great)
    idx = np.flatnonzero(finite & ~agree)
    if len(idx):
        sub = np.concatenate([dirvals[start[d] : start[d + 1]] for d in idx])
        sub_start = np.concatenate([[0], np.cumsum(np.diff(start)[idx])]).astype(np.int64)
        c2 = ev.directions(theta, lo[idx], sub_start, sub, 2 * steps[idx], np.array([-1.0, 1.0]))
        g2 = (0.5 * c2[:, 1] - 0.5 * c2[:, 0]) / (2 * steps[idx])
        bar = noise[idx] + np.abs(est[idx] - g2)
        bar = np.where(np.isfinite(bar), bar, np.inf)
        error[idx] = bar
        dev = np.abs(ana[idx] - est[idx])
        wrong = dev > config.MARGIN * bar
        resolved = bar <= config.RESOLVE * scale_all
        status[idx] = np.where(wrong, errorbars.WRONG, np.where(resolved, errorbars.AGREE, errorbars.INCONCLUSIVE))
        why[idx[~wrong & ~resolved]] = errorbars.ROUNDOFF
    n3, left, right = errorbars.ladder_directions(ev, theta, lo, start, dirvals, steps, f0, grad, ana, finite, status,
                                                  why, error, est, mach, scale_all, great)  # pass 3
    return DirectionJudgement(status, why, error, 2 * len(idx) + n3, est, left, right)
