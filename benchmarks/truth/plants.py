"""Planted errors, and whether a central difference could resolve them at all.

For each correct case: one component ×(1 + δ) for δ = 1e-2 … 1e-5 (the largest |g_i| away
from kinks), one component's sign flipped, a block ×1.001, a block transposed (a square
matrix block, else a run of coordinates reversed).  A planted error is *resolvable* when a
central difference of the case's own cost, at the best of 46 steps 2^-k·max(1, |θ_i|),
comes within 1e-3 of the error at some planted coordinate (the oracle knows the exact
gradient; the checkers do not).
"""
from __future__ import annotations

import numpy as np

DELTAS = (1e-2, 1e-3, 1e-4, 1e-5)


def _eligible(case):
    ok = np.ones(len(case.x), bool)
    ok[case.kinks] = False
    return ok & np.isfinite(case.g)


def plants(case):
    """``[(label, size, g_planted, planted_coords)]`` for one correct case."""
    g = case.g
    ok = _eligible(case)
    if not ok.any() or not np.any(np.abs(g[ok]) > 0):
        return []
    top = int(np.flatnonzero(ok)[np.argmax(np.abs(g[ok]))])
    out = []
    for d in DELTAS:
        b = g.copy()
        b[top] *= 1 + d
        out.append((f"x(1+{d:g})", d, b, np.array([top])))
    big = np.flatnonzero(ok & (np.abs(g) >= 1e-2 * np.abs(g[top])))
    j = int(big[len(big) // 2])
    b = g.copy()
    b[j] = -b[j]
    out.append(("sign", 2.0, b, np.array([j])))
    # a block ×1.001: the block holding the largest coordinate, or a run of a tenth of θ
    if case.blocks:
        sizes = [int(np.prod(s)) for s in case.blocks.values()]
        offs = np.concatenate([[0], np.cumsum(sizes)])
        k = int(np.searchsorted(offs, top, side="right") - 1)
        run = np.arange(offs[k], offs[k + 1])
    else:
        m = max(1, len(g) // 10)
        start = min(top, len(g) - m)
        run = np.arange(start, start + m)
    run = run[ok[run]]
    b = g.copy()
    b[run] *= 1.001
    out.append(("block x1.001", 1e-3, b, run))
    # transposed block
    tb = None
    if case.blocks:
        offs = np.concatenate([[0], np.cumsum([int(np.prod(s)) for s in case.blocks.values()])])
        for (name, shape), a in zip(case.blocks.items(), offs[:-1]):
            if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 1:
                blk = g[a : a + shape[0] * shape[1]].reshape(shape)
                if not np.allclose(blk, blk.T, rtol=1e-3, atol=0):
                    tb = g.copy()
                    tb[a : a + blk.size] = blk.T.ravel()
                    idx = np.arange(a, a + blk.size)
                    break
    if tb is None:
        m = max(2, len(g) // 10)
        start = max(0, min(top, len(g) - m))
        idx = np.arange(start, start + m)
        idx = idx[ok[idx]]
        if len(idx) >= 2 and not np.allclose(g[idx], g[idx][::-1], rtol=1e-3, atol=0):
            tb = g.copy()
            tb[idx] = g[idx][::-1]
    if tb is not None:
        changed = idx[tb[idx] != g[idx]]
        out.append(("transposed", 1.0, tb, changed))
    return out


def best_central_error(case, i, cache):
    """The smallest error of a central difference of the case's cost at coordinate i over 46 steps."""
    if i in cache:
        return cache[i]
    x = case.x
    best = np.inf
    xi = float(x[i])
    with np.errstate(all="ignore"):
        for k in range(46):
            h = 2.0 ** -k * max(1.0, abs(xi))
            xp, xm = x.copy(), x.copy()
            xp[i] = xi + h
            xm[i] = xi - h
            hp, hm = float(xp[i]) - xi, xi - float(xm[i])
            if hp <= 0 or hm <= 0:
                break
            d = (float(case.f(xp)) - float(case.f(xm))) / (hp + hm)
            if np.isfinite(d):
                best = min(best, abs(d - case.g[i]))
    cache[i] = best
    return best


def resolvable(case, g_planted, coords, cache, factor=1e3) -> bool:
    """Some planted coordinate's error is ≥ ``factor`` × the best central difference error there."""
    for i in coords[:8]:
        err = abs(g_planted[i] - case.g[i])
        if err > 0 and factor * best_central_error(case, int(i), cache) <= err:
            return True
    return False
