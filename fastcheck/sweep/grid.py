"""Sweep grids: validation of every axis before any work, and the point keys.

A grid is the product of its axes.  Everything a user can get wrong (an
empty axis, eps ≤ 0, an unknown scheme, dtype or mode, a thread count Numba
cannot run) is rejected here with one sentence, so a long sweep never dies
halfway on a typo.
"""
from __future__ import annotations

import numba
import numpy as np

from fastcheck.core.steps import SCHEMES
from fastcheck.errors import GridError

#: The default ε grid: 29 log-spaced steps from 1 to 1e-14 (two per decade).
DEFAULT_EPS = tuple(float(e) for e in np.logspace(0, -14, 29))
DEFAULT_SCHEMES = ("forward", "central", "central4", "complex")
DEFAULT_DTYPES = ("float64", "float32")
DTYPES = ("float64", "float32")
#: The ways of checking a size sweep times: the two kernels of a built-in
#: model's full check (:data:`fastcheck.evaluators.structured.MODES`, the black-box one
#: also for any other problem), a directional check, and a sampled check.
MODES = ("structured", "blackbox", "directional", "sampled")
DEFAULT_MODES = MODES


def _names(values, what: str, known) -> tuple:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise GridError(f"no {what} given: the grid is empty")
    bad = [v for v in values if v not in known]
    if bad:
        raise GridError(f"unknown {what} {bad[0]!r}; choose from {list(known)}")
    if len(set(values)) != len(values):
        raise GridError(f"{what} repeated: {list(values)}")
    return values


def validate_schemes(schemes) -> tuple:
    return _names(schemes, "scheme", tuple(SCHEMES))


def validate_dtypes(dtypes) -> tuple:
    if isinstance(dtypes, (str, type, np.dtype)):
        dtypes = (dtypes,)
    names = []
    for d in dtypes:
        try:
            names.append(np.dtype(d).name)
        except TypeError:
            raise GridError(f"unknown dtype {d!r}; choose from {list(DTYPES)}") from None
    return _names(names, "dtype", DTYPES)


def validate_modes(modes) -> tuple:
    return _names(modes, "mode", MODES)


def validate_eps_grid(eps) -> tuple:
    """A tuple of positive finite floats, in the order given."""
    if eps is None:
        return DEFAULT_EPS
    arr = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if arr.ndim != 1:
        raise GridError(f"eps must be a 1-D sequence of steps, got shape {arr.shape}")
    if arr.size == 0:
        raise GridError("no eps given: the grid is empty")
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if bad.size:
        raise GridError(f"eps must be positive and finite, got {float(bad[0])!r}")
    if len(np.unique(arr)) != len(arr):
        raise GridError("eps values are repeated")
    return tuple(float(e) for e in arr)


def parse_eps(text: str) -> tuple:
    """Read ε from the command line.

    ``"1e0:1e-14:29"`` is 29 log-spaced steps from 1 to 1e-14;
    ``"1e-2,1e-4,1e-6"`` is a list.
    """
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise GridError(f"--eps range must be START:STOP:NUM, got {text!r}")
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise GridError(f"--eps needs at least one point, got NUM={num}")
            if start <= 0 or stop <= 0:
                raise GridError(f"eps must be positive and finite, got {text!r}")
            return validate_eps_grid(np.logspace(np.log10(start), np.log10(stop), num))
        return validate_eps_grid([float(v) for v in text.split(",") if v.strip()])
    except ValueError as exc:
        if isinstance(exc, GridError):
            raise
        raise GridError(f"cannot read --eps {text!r}: use START:STOP:NUM or a comma list") from None


def eps_count(text: str) -> int:
    """How many steps ``--eps text`` asks for, without making them (see :func:`parse_eps`)."""
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        try:
            return int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            return 0  # parse_eps says what is wrong
    return sum(1 for v in text.split(",") if v.strip())


def validate_threads(threads, *, allow_none: bool = True) -> tuple:
    """Thread counts Numba can run in this process (1 … NUMBA_NUM_THREADS)."""
    limit = numba.config.NUMBA_NUM_THREADS
    if threads is None and allow_none:
        return (None,)
    if isinstance(threads, (int, np.integer)) and not isinstance(threads, bool):
        threads = (int(threads),)
    threads = tuple(threads)
    if not threads:
        raise GridError("no thread counts given: the grid is empty")
    for t in threads:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= limit:
            raise GridError(f"threads must be integers between 1 and {limit} (NUMBA_NUM_THREADS), got {t!r}")
    if len(set(threads)) != len(threads):
        raise GridError(f"thread counts repeated: {list(threads)}")
    return tuple(int(t) for t in threads)


def validate_positive_int(value, what: str, *, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GridError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
