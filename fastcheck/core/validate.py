"""Validation of what a check is handed: θ, thread counts, the layout, the coordinates.

Each function returns the value in the form the core uses (never modifying
the caller's object) or raises one clear error naming what is wrong.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from numbers import Real

import numba
import numpy as np

from fastcheck import config
from fastcheck.core.layout import Layout
from fastcheck.errors import PrecisionWarning

__all__ = ["LOW_PRECISION", "as_theta", "is_low_precision", "layout_for", "select_coords", "validate_threads",
           "validate_thresholds"]

#: Formats below float32 that a per-coordinate check takes θ in (bfloat16 is ml_dtypes' NumPy type, as JAX
#: hands it out): the steps, the error bars and the bands are then those of the format's own epsilon.
LOW_PRECISION = ("float16", "bfloat16")


def is_low_precision(dtype) -> bool:
    """float16 or bfloat16 (ml_dtypes' type)."""
    return np.dtype(dtype).name in LOW_PRECISION


def refuse_function(theta, name: str = "theta") -> None:
    """A clear error when a function arrives where θ goes: the gradient passed in SciPy's order."""
    if callable(theta):
        raise TypeError(f"{name} is a function ({getattr(theta, '__name__', type(theta).__name__)}), not the parameter "
                        "vector: fastcheck's checks take θ right after the cost, check_gradient(cost, theta, grad) "
                        "(scipy.optimize.check_grad takes (func, grad, x0))")


def as_theta(theta, name: str = "theta", *, low_precision: bool = False) -> np.ndarray:
    """θ as a 1-D float array (no copy when it already is one; never modified).

    ``low_precision``: float16 and bfloat16 are taken too (the per-coordinate check, which chooses its
    steps and error bars from θ's format; the other checks take float32 and float64)."""
    if isinstance(theta, dict):
        raise TypeError(f"{name} must be a 1-D array; flatten a dict of arrays with fastcheck.Layout.from_arrays(d).flatten(d)")
    refuse_function(theta, name)
    arr = np.asarray(theta)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}; flatten your parameters with fastcheck.Layout")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "f" and not arr.dtype.isnative:  # big-endian data: same numbers, native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    low = low_precision and is_low_precision(arr.dtype)
    if arr.dtype not in (np.float64, np.float32) and not low:
        more = ", float32, float16 or bfloat16" if low_precision else ", or float32"
        raise TypeError(f"{name} must be a floating array (float64{more}), got dtype {arr.dtype}")
    bad = np.flatnonzero(~np.isfinite(arr.astype(np.float32) if low else arr))
    if len(bad):
        raise ValueError(f"{name} contains NaN or inf at {len(bad)} coordinate(s), first {bad[:5].tolist()}")
    if arr.dtype == np.float32:
        warnings.warn(
            "theta is float32: differences of float32 costs lose about half the digits; float64 is advised",
            PrecisionWarning,
            stacklevel=3,
        )
    elif low:
        warnings.warn(
            f"theta is {arr.dtype.name}: steps and error bars are {arr.dtype.name}'s (eps "
            f"{float(np.finfo(arr.dtype).eps):.2g}), so only coarse errors can be told apart from round-off",
            PrecisionWarning,
            stacklevel=3,
        )
    return np.ascontiguousarray(arr)


def validate_threads(threads):
    """``None`` or a thread count Numba can run (1 … NUMBA_NUM_THREADS), on every path."""
    if threads is None:
        return None
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= limit:
        raise ValueError(
            f"threads must be between 1 and {limit} (NUMBA_NUM_THREADS), or None for all, got {threads!r}"
        )
    return int(threads)


def _is_shape(value) -> bool:
    """An int, or a tuple (or list) of ints: a block's shape in ``{name: shape}``, as the command line takes it."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    return is_int(value) or (isinstance(value, (tuple, list)) and all(is_int(v) for v in value))


def layout_for(theta, layout) -> Layout:
    """The layout of θ: the one given (a Layout, ``{name: shape}`` or built from arrays), else a single block;
    its size must match."""
    if layout is None:
        return Layout.single(len(theta))
    if isinstance(layout, Mapping) and layout and all(_is_shape(v) for v in layout.values()):
        layout = Layout.from_shapes({k: tuple(v) if isinstance(v, list) else v for k, v in layout.items()})
    elif not isinstance(layout, Layout):
        layout = Layout.from_arrays(layout)
    if layout.size != len(theta):
        raise ValueError(f"layout has {layout.size} parameters but theta has {len(theta)}")
    return layout


def select_coords(n: int, layout: Layout, coords=None, sample=None, seed=0) -> np.ndarray:
    """The flat coordinates to check.

    ``sample=k`` draws k coordinates (or all, if fewer) from every block,
    without replacement, reproducibly from ``seed``, so a small bias vector is
    never left out next to a big weight matrix.
    """
    if coords is not None and sample is not None:
        raise ValueError("give coords or sample, not both")
    if coords is not None:
        c = np.asarray(coords)
        if c.ndim != 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
            raise ValueError(f"coords must be a 1-D array of integer indices, got {c.dtype} of shape {c.shape}")
        if c.size == 0:
            raise ValueError("coords is empty")
        out = c.astype(np.int64)
        bad = out[(out < 0) | (out >= n)]
        if len(bad):
            raise IndexError(f"coords {bad[:5].tolist()} are outside theta of length {n}")
        values, counts = np.unique(out, return_counts=True)
        if len(values) < len(out):
            raise ValueError(f"coords repeats {values[counts > 1][:5].tolist()}; each coordinate is checked once"
                             " (pass np.unique(coords))")
        return out
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
            raise ValueError(f"sample must be a positive integer (coordinates per block), got {sample!r}")
        rng = np.random.default_rng(seed)
        picks = []
        for a, b in zip(layout.offsets[:-1], layout.offsets[1:]):
            size = b - a
            k = min(int(sample), size)
            picks.append(a + np.sort(rng.choice(size, size=k, replace=False)))
        return np.concatenate(picks).astype(np.int64)
    return np.arange(n, dtype=np.int64)


def validate_thresholds(thresholds) -> dict:
    """The verdict bands: ``thresholds`` (any of "great", "ok", "suspect") merged into the defaults.

    They must be finite numbers that increase strictly (great < ok < suspect), the passing bands at
    most :data:`fastcheck.config.MAX_PASSING_DIFFERENCE` (a laxer "ok" passes gradients that are
    clearly wrong; "great" is also the relative band of one coordinate) and "suspect" at most 1 (no
    difference exceeds 1, so a larger one would leave nothing "wrong").
    """
    t = dict(config.THRESHOLDS)
    if thresholds is None:
        return t
    if not isinstance(thresholds, Mapping):
        raise TypeError(f"thresholds must be a dict such as {t}, got {type(thresholds).__name__}")
    unknown = set(thresholds) - set(t)
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(map(str, unknown))}; known: {list(t)}")
    for k, v in thresholds.items():
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)) or not float(v) > 0:
            raise ValueError(f"thresholds must be positive and increasing, great < ok < suspect: "
                             f"{k!r} is {v!r}, not a positive finite number")
        t[k] = float(v)
    great, ok, suspect = (t[k] for k in ("great", "ok", "suspect"))
    if not great < ok < suspect:
        raise ValueError(f"thresholds must be positive and increasing, great < ok < suspect (each band "
                         f"above the one before), got {t}")
    limit = config.MAX_PASSING_DIFFERENCE
    if ok > limit:
        raise ValueError(f"thresholds['ok'] = {ok:g} would pass clearly wrong gradients (a gradient 1.25× too "
                         f"large differs by 0.11; twice too large by 0.33): the passing bands must be at most "
                         f"{limit:g}, got {t}")
    if suspect > 1:
        raise ValueError(f"thresholds['suspect'] = {suspect:g} leaves nothing 'wrong': no difference exceeds 1; "
                         f"give at most 1, got {t}")
    return t
