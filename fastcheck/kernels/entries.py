"""Pass 1 of the judgement of matrix entries in one compiled sweep (see :mod:`fastcheck.verdicts.entries`).

A Hessian of n = 2,000 has 4,000,000 entries, and pass 1 reads each of them
in some twenty NumPy operations, each a sweep over the matrix (chunked to stay
in the cache).  :func:`first_pass` does the same arithmetic entry by entry, in
the same order and with the same rounding, in one sweep: the quotient, its
round-off bound, the statuses, the scale of the matrix, then the entries
agreeing within their round-off settled against that scale.  It runs in the
user's process after every column has come back from the workers, so on the
pool it is time no worker shares (the serial part of a pooled check).  The
NumPy version stays in :func:`fastcheck.verdicts.entries._first_pass`, and
the tests compare the two bit for bit.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NUMERIC, jit

__all__ = ["COLD_SECONDS", "NUMPY_ENTRY_SECONDS", "first_pass"]

#: Seconds compiling :func:`first_pass` takes on an empty cache (about 0.8 s measured), and one entry of
#: the NumPy pass (0.13 s for 4,000,000 entries, measured in CPU time).
COLD_SECONDS = 1.0
NUMPY_ENTRY_SECONDS = 3e-8


@jit(NUMERIC)
def first_pass(acc, mag, have_mag, h, a, abs_f0, nu, across, f_scale, moved_w, spread, mach4, great, resolve,
               est, noise, finite, status, why, pending, agree, nonfinite, nonfinite_cost, zero):
    """Pass 1 over ``(m, n)`` column sums; returns the matrix's scale.

    Per entry (column j, row i), with ``A = acc[j, i]``::

        M = (have_mag ? mag[j, i] : |A|·moved_w + abs_f0[i])·mach4 + spread·(ν_i + across_j·f_scale)
        acc[j, i] = A / h_j                       (the quotient; est too, NaN where A is not finite)
        noise[j, i] = M / h_j                     (its round-off bound; NaN where A is not finite)
        status: nonfinite where A is not finite, zero where A and the analytic entry are 0, else agree
        pending: finite, not zero, and |a − est| > great·max(|a|, |est|)

    The scale is the largest |a| of a finite entry and of |est| − bound (0 where not finite).  A pending
    entry with |a − est| ≤ its bound and a bound ≤ ``resolve``·scale agrees within its round-off: no
    longer pending.  ``agree``, ``nonfinite``, ``nonfinite_cost`` and ``zero`` are the status codes.
    """
    m, n = acc.shape
    scale = 0.0
    top_a = 0.0
    for j in range(m):
        hj = h[j]
        extra = across[j] * f_scale
        for i in range(n):
            A = acc[j, i]
            if have_mag:
                M = mag[j, i]
            else:
                M = np.abs(A)
                M = M * moved_w
                M = M + abs_f0[i]
            M = M * mach4
            M = M + spread * (nu[i] + extra)
            M = M / hj
            A = A / hj
            acc[j, i] = A
            fin = np.isfinite(A)
            finite[j, i] = fin
            ai = a[j, i]
            why[j, i] = 0
            if not fin:
                est[j, i] = np.nan
                noise[j, i] = np.nan
                status[j, i] = nonfinite
                why[j, i] = nonfinite_cost
                pending[j, i] = False
                continue
            est[j, i] = A
            noise[j, i] = M
            abs_a = np.abs(ai)
            if abs_a > top_a:
                top_a = abs_a
            abs_e = np.abs(A)
            beyond = abs_e - M
            if np.isfinite(beyond) and beyond > scale:
                scale = beyond
            still = ai == 0 and A == 0
            status[j, i] = zero if still else agree
            err = np.abs(ai - A)
            within = err <= great * (abs_a if abs_a >= abs_e else abs_e)
            pending[j, i] = not (within or still)
    scale = top_a if top_a > scale else scale
    limit = resolve * scale
    for j in range(m):
        for i in range(n):
            if pending[j, i] and np.abs(a[j, i] - est[j, i]) <= noise[j, i] and noise[j, i] <= limit:
                pending[j, i] = False
    return scale
