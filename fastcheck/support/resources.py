"""Memory and time estimates made before the work starts: a refusal above the machine's memory, a
heads-up before a long check; the cores and memory this process may use.

A check holds a handful of arrays of θ's length (θ, the analytic and the
numerical gradient, steps, noise levels, the checked indices) plus one
working copy of θ per thread; a sweep also holds one row per grid point.
Asking for a network of 20000×20000 weights or a grid of 10⁸ steps should
say so at once, not after minutes of swapping or a ``MemoryError`` at 5 GB.

Time is estimated from a probe: the evaluation of J(θ) every check makes
first (timed by the evaluators), times the evaluations the scheme needs,
over the workers.  A check expected to run longer than
:data:`ANNOUNCE_SECONDS` says so before it starts (a
:class:`LongRunWarning` with the estimate and how to shorten it).  It is a
heads-up, never a refusal: the user asked for this check, and the estimate
is only as good as one timed evaluation (the machine may be busier later).
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass

from fastcheck.errors import LongRunWarning, ResourceError

__all__ = ["TimeEstimate", "announce", "available_cores", "available_memory", "check_bytes", "estimate_check_time",
           "grid_bytes", "mlp_bytes", "require_memory"]

#: n-length float64 arrays a check holds besides the per-thread copies of θ.
ARRAYS_PER_CHECK = 10
#: Memory of one finished grid point of a sweep (a row dict, its DataFrame row, the grid key).
BYTES_PER_ROW = 2048
#: Share of the available memory an estimate may take before it is refused.
SHARE = 0.8
#: A check estimated to take at least this many seconds says so before it starts.
ANNOUNCE_SECONDS = 30.0


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the system has one, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


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


# -- time ---------------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class TimeEstimate:
    """Expected seconds of ``n_evals`` cost evaluations of ``eval_seconds`` each, spread over ``workers``."""

    n_evals: int
    eval_seconds: float
    workers: int = 1

    @property
    def seconds(self) -> float:
        return self.n_evals * self.eval_seconds / max(1, self.workers)

    def __str__(self) -> str:
        on = f" on {self.workers} workers" if self.workers > 1 else ""
        return (f"about {_duration(self.seconds)} ({self.n_evals:,} evaluations of the cost × "
                f"{_duration(self.eval_seconds)} each{on})")

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{**asdict(self), "seconds": self.seconds}])


def estimate_check_time(ev, n_evals: int):
    """A :class:`TimeEstimate` for ``n_evals`` evaluations on the evaluator ``ev``, or None when its cost was not
    timed (``ev.eval_seconds``, the fastest J(θ) it has seen).

    Spread over its ``parallel_workers`` (the pool's workers, or the kernel's
    threads): a check long enough to be announced is long enough for
    ``workers="auto"`` to use them.
    """
    t, workers = float(ev.eval_seconds), max(1, int(ev.parallel_workers or 1))
    if not math.isfinite(t) or t <= 0 or n_evals <= 0:
        return None
    return TimeEstimate(int(n_evals), t, workers)


def announce(estimate, *, what: str = "this check", limit: float | None = None, stacklevel: int = 3) -> bool:
    """Warn (:class:`LongRunWarning`) when ``estimate`` is at least ``limit`` seconds
    (:data:`ANNOUNCE_SECONDS` by default).  Returns whether it warned."""
    limit = ANNOUNCE_SECONDS if limit is None else limit
    if estimate is None or estimate.seconds < limit:
        return False
    warnings.warn(f"{what} will take {estimate}; for a first answer in seconds check a sample of the "
                  "coordinates (sample=k per block, --sample k)", LongRunWarning, stacklevel=stacklevel)
    return True


def heads_up(ev, n_coords: int, evals_per_coord: int) -> None:
    """The hook a check calls once J(θ) is timed: announce a long check before it starts."""
    announce(estimate_check_time(ev, int(n_coords) * int(evals_per_coord)), stacklevel=5)
