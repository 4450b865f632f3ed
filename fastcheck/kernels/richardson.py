"""The Richardson table of a step ladder, row by row (see :mod:`fastcheck.verdicts.ladder`).

One compiled pass per row replaces some sixty small NumPy operations on
the whole table: for a check of a few coordinates those cost far more than
the table's arithmetic (``eps="adaptive"`` builds one table per round).
The operations, their order and the rounding are those of the plain NumPy
table (``tests/naive.py`` keeps it, and the tests compare the two).
"""
from __future__ import annotations

import numpy as np

from fastcheck import config
from fastcheck.config import NUMERIC, jit

#: Seconds compiling :func:`table` takes on an empty cache, and one operation of it interpreted.
COLD_SECONDS = 1.0
INTERPRETED_OP = 1e-6


@jit(NUMERIC)
def _nanmax(a, b):
    """``np.maximum``: NaN if either is NaN."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a >= b else b


@jit(NUMERIC)
def table(costs, disp, f0, mach, ratio, cost_noise, levels, rounding, tail_noise,
          best, best_err, best_rnd, central, right, left, rnd, steps):
    """Fill the per-row outputs from ``costs``/``disp`` (columns ``[−t_0, +t_0, −t_1, +t_1, …]``).

    ``best``, ``best_err``, ``best_rnd`` (n,) and ``central``, ``right``,
    ``left``, ``rnd``, ``steps`` (n, K) are written; ``best_err`` is NaN where
    no entry had a finite error.  The cost's noise is estimated from the four smallest rungs: the larger
    of two readings when ``tail_noise`` (a whole ladder, whose smallest rungs carry no truncation), else
    (a ladder cut short above them) the smaller one when they fall from one to the next as truncation
    does (by more than ``ratio``³, and not to exactly 0; t·R¹'s truncation falls by ``ratio``⁵, noise
    does not fall, and a cost that rounds coarsely repeats its quotients exactly), or the reading of the
    twice-extrapolated quotients of the same rungs if that is smaller still and not 0 (truncation left in
    the once-extrapolated ones is no noise).
    """
    n, K = central.shape
    span = np.empty(K)
    level = np.empty(K)
    level_rnd = np.empty(K)
    for i in range(n):
        for k in range(K):
            dm, dp = disp[i, 2 * k], disp[i, 2 * k + 1]
            minus, plus = costs[i, 2 * k], costs[i, 2 * k + 1]
            span[k] = dp - dm
            central[i, k] = (plus - minus) / span[k]
            right[i, k] = (plus - f0) / dp
            left[i, k] = (f0 - minus) / (-dm)
            r = rounding * mach * (abs(plus) + abs(minus)) / span[k]
            r = r + 2.0 * cost_noise[i] / span[k]
            rnd[i, k] = r if np.isfinite(central[i, k]) else np.nan
            steps[i, k] = 0.5 * span[k]
        if K >= 4:
            # the cost's absolute noise from the smallest rungs' once-extrapolated quotients: R¹ of the
            # last three pairs of rungs, read as t·|R¹_k − R¹_{k+1}| at the smaller rung of each reading
            w = ratio**2
            r1a = (w * central[i, K - 3] - central[i, K - 4]) / (w - 1)
            r1b = (w * central[i, K - 2] - central[i, K - 3]) / (w - 1)
            r1c = (w * central[i, K - 1] - central[i, K - 2]) / (w - 1)
            tail0 = abs(r1a - r1b) * (0.5 * span[K - 2])
            tail1 = abs(r1b - r1c) * (0.5 * span[K - 1])
            tail0 = tail0 if np.isfinite(tail0) else 0.0
            tail1 = tail1 if np.isfinite(tail1) else 0.0
            noise = max(tail0, tail1)
            if not tail_noise and 0.0 < tail1 < tail0 / ratio**3:
                # falling as truncation does (t·R¹ as t⁵), not as noise: the smaller bounds it (an exact
                # 0 is a cost that rounds coarsely, whose quotients repeat: not truncation)
                noise = tail1
                # truncation still, most likely: the twice-extrapolated quotients of the same rungs (t⁴
                # removed too) bound the noise as well, and more tightly, unless they are exactly equal
                w2 = ratio**4
                t2 = abs((w2 * r1b - r1a) / (w2 - 1) - (w2 * r1c - r1b) / (w2 - 1)) * (0.5 * span[K - 1])
                if np.isfinite(t2) and 0.0 < t2 < noise:
                    noise = t2
            for k in range(K):
                rnd[i, k] = _nanmax(rnd[i, k], 2.0 * noise / span[k])
        m = K
        for k in range(K):
            level[k] = central[i, k]
            level_rnd[k] = rnd[i, k]
        pick_b, pick_e, pick_r = np.nan, np.inf, np.nan
        any_sure = False
        first = True
        for lev in range(levels + 1):
            conv = ratio ** (2 * (lev + 1))
            if m < 2:
                break
            prev_diff = np.nan
            for k in range(m - 1):
                step_diff = abs(level[k] - level[k + 1])
                floor = 0.0 if k == 0 else prev_diff / conv
                prev_diff = step_diff
                err = _nanmax(step_diff, floor) + level_rnd[k]
                if not np.isfinite(err):
                    err = np.inf
                cand = level[k]
                sure = err <= 0.5 * abs(cand)
                # the smallest error, among the entries that know their sign if any does;
                # the first such entry in table order on ties
                if first or (sure and not any_sure) or (sure == any_sure and err < pick_e):
                    pick_b, pick_e, pick_r = cand, err, level_rnd[k]
                    first = False
                any_sure = any_sure or sure
            if lev == levels:
                break
            w = ratio ** (2 * (lev + 1))
            for k in range(m - 1):
                level[k] = (w * level[k + 1] - level[k]) / (w - 1)
                level_rnd[k] = (w * level_rnd[k + 1] + level_rnd[k]) / (w - 1)
            m -= 1
        best[i] = pick_b
        best_err[i] = pick_e if np.isfinite(pick_e) else np.nan
        best_rnd[i] = pick_r


def table_runner(n: int, K: int, levels: int):
    """:func:`table` compiled, or interpreted while that is quicker (see :func:`fastcheck.config.runner`) for
    ``n`` rows of ``K`` rungs and ``levels`` extrapolations."""
    return config.runner(table, INTERPRETED_OP * n * K * (30 + 20 * levels), COLD_SECONDS)
