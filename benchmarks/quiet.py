"""Wait for a quiet machine before timing: the benchmarks' ratios need free cores.

On a shared machine other work (a test run, another benchmark not under the
lock) takes cores from the parallel variants but not from the serial
reference in the same way, which depresses every parallel ratio.  The
benchmarks call :func:`wait_for_quiet` before timing; the CPU share used by
others is sampled from ``/proc/stat``.
"""
from __future__ import annotations

import os
import time


def _busy_share(interval: float = 2.0) -> float | None:
    """Share of all cores busy at normal priority over ``interval`` seconds (0…1), or None where
    /proc/stat is absent."""
    def read():
        with open("/proc/stat") as fh:
            parts = [float(v) for v in fh.readline().split()[1:]]
        # idle and iowait are free; so is niced work (it yields the core to the benchmark at once)
        free = parts[1] + parts[3] + (parts[4] if len(parts) > 4 else 0.0)
        return sum(parts), free

    try:
        t0, i0 = read()
        time.sleep(interval)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / max(t1 - t0, 1e-9)


def wait_for_quiet(max_wait: float, busy_below: float = 0.15) -> str:
    """Wait up to ``max_wait`` seconds until under ``busy_below`` of the cores are busy.

    Returns a note for the report: how busy the machine was when timing began.
    """
    start = time.monotonic()
    share = _busy_share()
    while share is not None and share >= busy_below and time.monotonic() - start < max_wait:
        share = _busy_share()
    waited = time.monotonic() - start
    if share is None:
        return "machine load unknown"
    state = "quiet" if share < busy_below else "still busy"
    return (f"{state} when timing began: {100 * share:.0f}% of the {os.cpu_count()} cores busy with other work "
            f"(waited {waited:.0f} s, up to {max_wait:.0f} s)")
