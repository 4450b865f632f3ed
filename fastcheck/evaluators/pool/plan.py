"""Which coordinates go into which chunk, in which order: :func:`chunk_plan`, :func:`spread_order`.

Chunks are *guided*: large ones first, then ever smaller ones down to a few
tens of milliseconds of work each, handed to whichever worker is free, so a
worker slowed by other work on the machine takes fewer of them and the
workers finish together.  Each chunk takes its coordinates spread over the
whole of θ (a bit-reversed order), so chunks of one size cost the same even
when coordinates do not (the later stages of :func:`fastcheck.check_sequential`
are cheaper to recompute than the first).
"""
from __future__ import annotations

import numpy as np

__all__ = ["DASK_CHUNKS_PER_WORKER", "DASK_MIN_CHUNK_SECONDS", "GUIDED_SHARE", "LOCAL_CHUNKS_PER_WORKER",
           "LOCAL_MIN_CHUNK_SECONDS", "MAX_CHUNKS_PER_WORKER", "chunk_plan", "spread_order"]

#: Chunks per local worker when the cost's time is unknown: a worker slowed by
#: other work on the machine takes fewer of them.
LOCAL_CHUNKS_PER_WORKER = 4
#: Chunks per Dask worker when the cost's time is unknown.
DASK_CHUNKS_PER_WORKER = 4
#: Guided chunks: each takes 1/(GUIDED_SHARE × workers) of what is left ...
GUIDED_SHARE = 2
#: ... but at least this many seconds of work on the local pool (long against
#: a chunk's round trip there, one pickle each way through a pipe; short
#: enough that the last chunks of the workers end close together) ...
LOCAL_MIN_CHUNK_SECONDS = 0.02
#: ... or on a Dask cluster (a task's round trip goes through the scheduler
#: and the network: longer chunks keep it a small share of the work) ...
DASK_MIN_CHUNK_SECONDS = 0.1
#: ... and never more than this many chunks per worker.
MAX_CHUNKS_PER_WORKER = 16


def spread_order(n: int) -> np.ndarray:
    """0 … n-1 in bit-reversed order: every run of consecutive entries is
    spread evenly over the whole range (0, n/2, n/4, 3n/4, ...)."""
    if n <= 1:
        return np.arange(n)
    bits = int(n - 1).bit_length()
    i = np.arange(1 << bits)
    r = np.zeros_like(i)
    for b in range(bits):
        r |= ((i >> b) & 1) << (bits - 1 - b)
    return r[r < n]


def chunk_plan(n_items: int, n_workers: int, item_seconds: float, min_chunk_seconds: float,
               chunks_per_worker: int = LOCAL_CHUNKS_PER_WORKER) -> list:
    """The coordinates (0 … n_items-1) of each chunk, in the order they are handed out.

    Guided: each chunk takes 1/(:data:`GUIDED_SHARE` × workers) of the items
    left, but at least ``min_chunk_seconds`` of work (at ``item_seconds`` an
    item; yet one chunk per worker at least) and at most
    :data:`MAX_CHUNKS_PER_WORKER` chunks a worker: large
    chunks first, small ones at the end, so whichever worker is free takes
    the next and all finish within a small chunk of each other.  When the
    time of an item is unknown (not finite), ``chunks_per_worker`` equal
    chunks a worker.  Each chunk takes a run of :func:`spread_order`
    (coordinates from all over θ), sorted.
    """
    n_workers = max(1, int(n_workers))
    if n_items <= 0:
        return []
    if not np.isfinite(item_seconds) or item_seconds <= 0:
        k = min(chunks_per_worker * n_workers, n_items)
        sizes = [n_items // k + (j < n_items % k) for j in range(k)]
    else:
        least = max(1, min(int(np.ceil(min_chunk_seconds / item_seconds)), -(-n_items // n_workers)),
                    -(-n_items // (MAX_CHUNKS_PER_WORKER * n_workers)))
        sizes, left = [], n_items
        while left > 0:
            size = min(left, max(least, int(np.ceil(left / (GUIDED_SHARE * n_workers)))))
            sizes.append(size)
            left -= size
    order = spread_order(n_items)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [np.sort(order[bounds[j] : bounds[j + 1]]) for j in range(len(sizes))]
