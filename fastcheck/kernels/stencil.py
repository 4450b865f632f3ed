"""Perturbed costs of a black-box jitted cost, in parallel over coordinates.

The cost is passed in as a first-class jitted function, so one kernel serves
every cost (Numba specialises it once per cost and signature).  Each parallel
chunk works on its own copy of θ and restores each coordinate after use, so
no two threads ever write the same array and memory stays O(n × chunks).
Every evaluation is independent of the others, so the results do not depend
on the number of threads.

An exception raised inside a ``prange`` body is not propagated by Numba: on
several threads it is lost (and the output left half written), on one it
surfaces as a ``SystemError`` without the user's message.  So every cost call
goes through :func:`guarded`, which flags the row in ``failed`` instead; the
evaluator then re-runs a flagged point from Python, where the user's own
exception comes out with its type and message.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from fastcheck.config import CALL, PARALLEL, jit


@jit(CALL)
def _call(cost, work, args):
    return cost(work, *args)


@jit(CALL)
def guarded(cost, work, args):
    """``(cost(work, *args), False)``, or ``(nan, True)`` if the cost raised.

    The ``try`` lives here, not in the kernels: a ``try`` inside a ``prange``
    body would keep Numba from parallelising the loop.
    """
    try:
        v = _call(cost, work, args)
        return v, False
    except Exception:
        return np.nan, True


@jit(PARALLEL)
def stencil_costs(cost, theta, coords, steps, offsets, args, out, failed):
    """``out[j, k] = cost(θ + offsets[k]·steps[j]·e_{coords[j]}, *args)``.

    Parameters
    ----------
    cost : jitted function ``cost(theta, *args) -> float``
    theta : 1-D float array, not modified
    coords : int64 array of the coordinates to perturb
    steps : float64 array, one step per coordinate
    offsets : float64 array of stencil offsets (no zero: J(θ) is known)
    args : tuple of extra arguments for ``cost``
    out : float64 array of shape ``(len(coords), len(offsets))``
    failed : bool array of length ``len(coords)``, set where the cost raised
    """
    nc = coords.shape[0]
    n_chunks = min(nc, numba.get_num_threads())
    for c in prange(n_chunks):
        lo = c * nc // n_chunks
        hi = (c + 1) * nc // n_chunks
        work = theta.copy()
        for j in range(lo, hi):
            i = coords[j]
            x = theta[i]
            for k in range(offsets.shape[0]):
                work[i] = x + offsets[k] * steps[j]
                v, bad = guarded(cost, work, args)
                out[j, k] = v
                if bad:
                    failed[j] = True
            work[i] = x


@jit(PARALLEL)
def complex_step_costs(cost, theta, coords, steps, args, out, failed):
    """``out[j] = Im cost(θ + i·steps[j]·e_{coords[j]}, *args)`` for complex θ (``failed``: as above)."""
    nc = coords.shape[0]
    n_chunks = min(nc, numba.get_num_threads())
    for c in prange(n_chunks):
        lo = c * nc // n_chunks
        hi = (c + 1) * nc // n_chunks
        work = theta.copy()
        for j in range(lo, hi):
            i = coords[j]
            x = theta[i]
            work[i] = x + 1j * steps[j]
            v, bad = guarded(cost, work, args)
            out[j] = v.imag
            if bad:
                failed[j] = True
            work[i] = x


@jit(PARALLEL)
def direction_costs(cost, theta, lo, start, dirvals, steps, offsets, args, out, failed):
    """``out[d, k] = cost(θ + offsets[k]·steps[d]·u_d, *args)``.

    Direction ``u_d`` touches ``θ[lo[d] : lo[d] + L_d]`` only, with values
    ``dirvals[start[d] : start[d + 1]]`` (ragged storage, so a direction
    confined to one block costs that block's length, not n); ``failed[d]``
    is set where the cost raised.
    """
    m = lo.shape[0]
    for d in prange(m):
        work = theta.copy()
        a = lo[d]
        length = start[d + 1] - start[d]
        for k in range(offsets.shape[0]):
            s = offsets[k] * steps[d]
            for t in range(length):
                work[a + t] = theta[a + t] + s * dirvals[start[d] + t]
            v, bad = guarded(cost, work, args)
            out[d, k] = v
            if bad:
                failed[d] = True
