"""Memory estimates made before anything big is allocated, and the refusal above what the machine has.

A check holds a handful of arrays of θ's length (θ, the analytic and the
numerical gradient, steps, noise levels, the checked indices) plus one
working copy of θ per thread; a sweep also holds one row per grid point.
Asking for a network of 20000×20000 weights or a grid of 10⁸ steps should
say so at once, not after minutes of swapping or a ``MemoryError`` at 5 GB.
"""
from __future__ import annotations

import os

__all__ = ["ResourceError", "available_memory", "check_bytes", "grid_bytes", "mlp_bytes", "require_memory"]

#: n-length float64 arrays a check holds besides the per-thread copies of θ.
ARRAYS_PER_CHECK = 10
#: Memory of one finished grid point of a sweep (a row dict, its DataFrame row, the grid key).
BYTES_PER_ROW = 2048
#: Share of the available memory an estimate may take before it is refused.
SHARE = 0.8


class ResourceError(ValueError):
    """The work asked for would need more memory than the machine has."""


def available_memory() -> int | None:
    """Bytes the machine can give without swapping (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} PB"  # pragma: no cover


def require_memory(nbytes: float, what: str, *, force: bool = False) -> None:
    """Refuse (``ResourceError``) when ``what`` needs more than a safe share of the available memory.

    ``force=True`` (the ``--force`` option) skips the refusal.
    """
    if force:
        return
    avail = available_memory()
    if avail is None or nbytes <= SHARE * avail:
        return
    raise ResourceError(
        f"{what} needs about {_size(nbytes)} of memory but this machine has {_size(avail)} available; "
        "refused before allocating anything (make it smaller, or insist with --force / force=True)"
    )


def check_bytes(n_params: int, threads: int = 1) -> int:
    """Memory of a per-coordinate check of ``n_params`` parameters on ``threads`` threads."""
    return 8 * int(n_params) * (ARRAYS_PER_CHECK + max(1, int(threads)))


def mlp_bytes(sizes, batch: int, threads: int = 1) -> tuple:
    """``(n_params, bytes)`` of checking a dense network of layer ``sizes`` on ``batch`` samples.

    The parameters (see :func:`check_bytes`) plus the data and the cached
    activations of the structure-aware kernel (a few batch × width arrays per layer).
    """
    sizes = [int(s) for s in sizes]
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    return n_params, check_bytes(n_params, threads) + 8 * 4 * int(batch) * sum(sizes)


def grid_bytes(n_points: int) -> int:
    """Memory of the rows of a sweep grid of ``n_points`` points."""
    return BYTES_PER_ROW * int(n_points)
