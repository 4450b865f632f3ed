"""Timing helper shared by the stand-alone benchmark scripts (run as ``python benchmarks/bench_*.py``)."""
from __future__ import annotations

import statistics
import time


def median_time(fn, repeat):
    """Median wall time of ``repeat`` calls of ``fn``, and every time."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times
