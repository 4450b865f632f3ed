"""The C heap kept open once a large check has run, so that the next one does not fault in fresh pages.

A full check of a network of 10⁵ parameters makes and drops arrays of that
length by the dozen (quotients, error bars, statuses, the kernel's scratch).
glibc's ``malloc`` hands the top of its heap back to the system whenever the
free space there grows past its trim threshold, and the next check's arrays
then fault their pages in again, one minor fault per 4 KiB: 600 to 4,300 per
check of MLP 784-128-10 and 2,000 to 7,800 at 784-256-64-10 (how many depends
on what the process allocated before), where a fault costs some microseconds
on this machine kind.  ``benchmarks/bench_heap.py`` times repeated checks in
fresh processes with ``FASTCHECK_HEAP_PAD=0`` beside the default
(``reports/heap``): 5 to 10 % faster kept there; in other processes, whose
earlier allocations left glibc trimming more, up to 40 % (54 against 31 ms a
check of 784-128-10).

:func:`keep_heap` sets glibc's ``M_TOP_PAD`` to :data:`fastcheck.config.HEAP_PAD`
bytes (64 MiB by default) the first time a check of at least :data:`LARGE`
entries runs in the process, and leaves it so: a trim then keeps that much at
the top of the heap for the next check.  Any ``mallopt`` call stops glibc from
moving its mmap threshold (which it otherwise raises, up to 32 MiB, as large
blocks are freed), so the threshold is set too, to that same ceiling
(:data:`MMAP_THRESHOLD`): arrays below it come from the heap, as glibc's own
adjustment would have them, rather than each from a fresh mapping (752 faults
per check of 784-256-64-10 with the pad alone, 256 with both).  What that costs
the process: up to ``HEAP_PAD`` bytes of freed memory stay resident.  Setting the
pad back at the end of each check would hand the memory back at once, and the
next check would fault it in again (measured: no fewer faults than without).
Elsewhere than on glibc, or with ``HEAP_PAD = 0`` (``FASTCHECK_HEAP_PAD=0``),
nothing is done.
"""
from __future__ import annotations

import ctypes
import functools
import platform
import threading

#: glibc's ``mallopt`` parameter numbers of ``M_TOP_PAD`` and ``M_MMAP_THRESHOLD``.
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
#: Blocks from this size up get a mapping of their own: the ceiling of glibc's own adjustment on 64-bit systems.
MMAP_THRESHOLD = 32 << 20
#: A check of at least this many entries keeps the heap open (its arrays are 512 KiB and more).
LARGE = 1 << 16

_LOCK = threading.Lock()
_SET = [0]  # the pad set in this process (0: none yet)


@functools.lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None where there is no glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def _pad_bytes() -> int:
    from fastcheck import config

    pad = config.HEAP_PAD
    if not isinstance(pad, int) or isinstance(pad, bool) or not 0 <= pad < 2**31:
        raise ValueError(f"fastcheck.config.HEAP_PAD must be a whole number of bytes from 0 to 2**31 - 1, got {pad!r}")
    return pad


def keep_heap(n_entries: int) -> bool:
    """Before a check of ``n_entries`` entries: keep glibc's heap open from now on if the check is
    large (see the module docstring).  Returns whether the pad is set (now or by an earlier check)."""
    if n_entries < LARGE:
        return bool(_SET[0])
    pad = _pad_bytes()
    if not pad or _SET[0] >= pad:
        return bool(_SET[0])
    mallopt = _mallopt()
    if mallopt is None:
        return False
    with _LOCK:
        if _SET[0] < pad and mallopt(M_TOP_PAD, pad) == 1:
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            _SET[0] = pad
    return bool(_SET[0])
