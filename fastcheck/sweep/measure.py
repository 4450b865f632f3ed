"""Measuring a check: its peak memory, and the time a full check would take.

The size sweep times every way of checking; before it runs a full check it
estimates the time from small probes (and skips what would blow its budget),
and it records the peak resident memory of the first timed run.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["PeakMemory", "estimate_full"]


class PeakMemory:
    """Peak resident memory above the level at entry, in MB (Linux: VmHWM reset)."""

    def __enter__(self):
        self.mb = np.nan
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.before = _status_kb("VmRSS")
        except OSError:
            self.before = None
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            self.mb = max(0.0, (_status_kb("VmHWM") - self.before) / 1024.0)
        return False


def _status_kb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise OSError(field)


def estimate_full(call, threads, n: int) -> float:
    """Seconds a full-coordinate check would take, from growing probes.

    A check of m evenly spread coordinates takes about ``a + b·m`` (a: the
    fixed part, such as a cached forward pass, which can dwarf b·m for small
    m).  m grows fourfold until the per-coordinate part is at least as large
    as the fixed part (and the probe takes 0.2 s), so that timing noise in
    ``a`` cannot pass for ``b``; the last two probes then give ``a + b·n``.
    """
    def probe(m):
        coords = np.unique(np.linspace(0, n - 1, m).round().astype(np.int64))
        t0 = time.perf_counter()
        call(threads, coords=coords)
        return len(coords), time.perf_counter() - t0

    m1, t1 = probe(min(n, 8))
    fixed = t1
    while m1 < n:
        m2, t2 = probe(min(n, 4 * m1))
        if m2 >= n:
            return t2
        if t2 >= max(0.2, 2 * fixed):
            return t2 + max(t2 - t1, 0.0) / (m2 - m1) * (n - m2)
        m1, t1 = m2, t2
    return t1


