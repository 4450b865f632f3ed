"""Resolution: the smallest error a check would have caught, and the bar a coordinate must reach to pass.

A pass says "every coordinate agrees within its error bar"; that is worth as
much as the bars are narrow.  So every check states its **resolution**, per
coordinate, per block and overall: the smallest error of the analytic
gradient, relative to the gradient's scale, that would have failed it.

Per coordinate, with bar β (the numerical estimate's uncertainty: truncation
left plus round-off), the coordinate reads wrong when
``|g − ĝ| > max(MARGIN·β, band·max(|g|, |ĝ|))`` (``band``: the relative
agreement that settles a coordinate outright, the ``great`` band or what a
central difference can reach in the cost's precision, whichever is larger).
So its resolution is that tolerance, ``max(MARGIN·β, band·max(|g|, |ĝ|))``.
A block's is the largest over its checked coordinates divided by the
block's scale (its largest |g| or |ĝ| beyond round-off), the check's the
largest over all coordinates divided by the whole gradient's scale.

The **target** is what a pass must reach: relative resolution
:func:`target_resolution` of the precision the cost computes in,

* float64: the ``great`` band, 1e-6 (what the classic recipe calls a
  correct gradient; a central difference reaches 1e-10 and better);
* float32: ``400·ε^(4/5)`` ≈ 1.2e-3: Richardson extrapolation reaches
  about ``ε^(4/5)`` ≈ 3e-6 of the cost's own scale |J|/|θ|; a cost that
  is a sum of a hundred terms of the gradient's size has a scale 100 times
  the gradient's, and the target asks for four bars (``MARGIN``) below it.
* float16, bfloat16: that rule gives more than 1 (bars wider than the
  gradient), so the target is capped at :data:`COARSEST`, 0.25, or the band
  (``8·ε^(2/3)``: 0.079 in float16, 0.31 in bfloat16) where that is coarser.

A coordinate whose bar is wider than ``target·scale / MARGIN`` is refined
(smaller and larger steps, Richardson, the complex step) before it may
agree; if it cannot get there it is inconclusive, never passed.
"""
from __future__ import annotations

import numpy as np

from fastcheck import config

__all__ = ["block_max", "block_scales", "coordinate_resolution", "summarise", "target_bar", "target_resolution"]

#: Richardson's reach in units of ε^(4/5), times the margin and a cost-to-gradient scale of 100.
REACH = 400.0
#: The coarsest target a pass may have (unless the band is coarser still): an error of a quarter of the
#: gradient's scale must read wrong.  ``REACH·ε^(4/5)`` passes it below float32 (float16: 1.6, bfloat16: 8.2,
#: bars wider than the gradient), where a pass would otherwise accept a factor of 2.
COARSEST = 0.25


def target_resolution(mach: float, band: float) -> float:
    """The relative resolution a pass must reach in a precision of machine epsilon ``mach``.

    ``band`` is the coordinate band (the relative agreement that settles a coordinate
    outright); the target is never below it, and never above :data:`COARSEST` unless the band is.
    """
    return max(float(band), min(REACH * float(mach) ** 0.8, COARSEST))


def block_scales(block_ids, analytic, numerical, noise, live, n_blocks: int) -> np.ndarray:
    """Per block: the largest |g| or |ĝ| beyond its round-off over its live coordinates (0 when none)."""
    if live.all() and np.isfinite(numerical).all() and np.isfinite(noise).all():
        # every coordinate live and finite (a passing check): the same values, without the masks and copies
        top = np.abs(numerical) - noise
        np.maximum(top, 0.0, out=top)
        np.maximum(np.abs(analytic), top, out=top)
        return np.maximum(block_max(top, block_ids, n_blocks), 0.0)
    a = np.where(live, np.abs(analytic), 0.0)
    with np.errstate(invalid="ignore"):
        beyond = np.where(live & np.isfinite(numerical), np.abs(numerical) - np.nan_to_num(noise, nan=np.inf), 0.0)
    top = np.maximum(a, np.maximum(beyond, 0.0))
    return np.maximum(block_max(top, block_ids, n_blocks), 0.0)


def block_max(values, block_ids, n_blocks: int) -> np.ndarray:
    """Per block the largest of ``values`` (-inf for a block with no entry)."""
    ids = np.asarray(block_ids, np.int64)
    out = np.full(max(int(n_blocks), int(ids.max()) + 1 if len(ids) else 0), -np.inf)
    if not len(ids):
        return out
    if np.all(ids[1:] >= ids[:-1]):  # sorted by block (a full check): one pass
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        out[ids[starts]] = np.maximum.reduceat(values, starts)
    else:
        np.maximum.at(out, ids, values)
    return out


def target_bar(scales, target: float) -> np.ndarray:
    """The widest bar that may agree: ``target·scale / MARGIN``."""
    return float(target) / config.MARGIN * np.asarray(scales, np.float64)


def coordinate_resolution(analytic, estimate, error, band: float, outright=None) -> np.ndarray:
    """Per coordinate: the smallest absolute error of the analytic value that reads wrong.

    ``outright`` marks coordinates that agreed at the check's own step within the band: an error
    up to the band plus the round-off of that one quotient could have agreed there too."""
    scale = np.maximum(np.abs(analytic), np.abs(_finite_or_nan_to_num(estimate)))
    err = _finite_or_nan_to_num(error, nan=np.inf)
    res = np.maximum(config.MARGIN * err, float(band) * scale)
    if outright is not None:
        res = np.where(outright, float(band) * scale + 2.0 * err, res)
    return res


def _finite_or_nan_to_num(x, **kw):
    """``np.nan_to_num(x, **kw)``, or ``x`` itself when every entry is finite (the same values, no copy)."""
    return x if np.isfinite(x).all() else np.nan_to_num(x, **kw)


def summarise(resolution, counted, block_ids, scales, overall_scale, n_blocks: int):
    """``(per_block, overall)`` relative resolutions over the counted entries (NaN where there are none,
    inf where a bar is infinite, 0 where the scale is 0 and so is every error caught)."""
    res = np.where(counted, resolution, -np.inf)
    worst = block_max(res, block_ids, n_blocks)[:n_blocks]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_block = np.where(worst == -np.inf, np.nan,
                             np.where(worst == 0, 0.0, worst / np.where(scales > 0, scales, 0.0)))
        top = float(res.max(initial=-np.inf))
        overall = np.nan if top == -np.inf else (0.0 if top == 0 else top / overall_scale if overall_scale > 0
                                                  else np.inf)
    return per_block, float(overall)
