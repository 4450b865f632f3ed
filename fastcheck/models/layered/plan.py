"""The plan: which path each coordinate takes, and the blocks the coordinates are cut into.

``coords`` is regrouped by a stable counting sort on the key (layer, column on
the column path) and cut into blocks (:func:`plan_blocks`): runs of
coordinates of one layer (of one column ``j`` on the column path), at most
``block_size = max(1, BLOCK_ROWS // (n_moves·B))`` coordinates, and
``column_size = max(1, COLUMN_ENTRIES // (n_moves·B))`` on the column path (a
row is one sample of one coordinate at one move).  A layer takes the column
path when it lies below the output (one or two layers, or more with the hidden layers
between composed by :mod:`fastcheck.models.layered.deep`) and the loss is sse, mse, binary
cross-entropy, or softmax cross-entropy over an identity output (:func:`column_path`; a
block whose moves the cubics cannot take leaves it).  The plan is a function of
``coords`` alone, so the thread count does not enter and every block runs the same
operations whatever the number of threads.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import NET, jit
from fastcheck.models.backprop import ACT
from fastcheck.models.functions import BCE, IDENTITY, MSE, SOFTMAX_CE, SSE
from fastcheck.models.layered.cache import locate, widest

#: Rows (coordinate × offset × sample) one block stacks for its matrix products
#: (:mod:`fastcheck.models.layered.gemm`): a few
#: hundred rows keep each thread's stacked activations (rows × width) in its L2 cache
#: while the products have BLAS-3 shapes.
BLOCK_ROWS = 256


#: Entries (row × sample) of one column block's stacked changes ``D`` (see
#: :mod:`fastcheck.models.layered.columns`): 1 MB in double precision, a whole column of a
#: 784-input layer at batch 64 (1,024 coordinates at two moves) in one block, so that the
#: column's own work (the hidden layer's products, each sample's loss polynomial) is paid
#: once per column; the series path reads one sample's inputs (8 KB) and its sums (32 KB) at
#: a time.  At 65,536 entries the columns of 784-256-64-10 took two blocks each, and its first
#: layer about 1.3× the time on one thread (45 against 34 ms, the series path in both).
COLUMN_ENTRIES = 131072


@jit(NET)
def block_size(n_moves, B):
    """Coordinates per block: about :data:`BLOCK_ROWS` stacked rows (at least one coordinate)."""
    return max(1, BLOCK_ROWS // (n_moves * B))


@jit(NET)
def column_size(n_moves, B):
    """Coordinates per column block (at least one)."""
    return max(1, COLUMN_ENTRIES // (n_moves * B))


@jit(NET)
def column_path(arch, loss, l):
    """Whether the coordinates of layer l take the column path (:mod:`fastcheck.models.layered.columns`):
    one or more layers above l (of any activation; three or more through
    :mod:`fastcheck.models.layered.deep`), under sse or mse, under softmax cross-entropy of an
    identity output (:mod:`fastcheck.models.layered.softmax`), or under binary cross-entropy
    (:mod:`fastcheck.models.layered.bce`)."""
    L = arch.shape[0]
    above = L - 1 - l
    if above < 1:
        return False
    return loss == SSE or loss == MSE or loss == BCE or (loss == SOFTMAX_CE and arch[L - 1, ACT] == IDENTITY)


@jit(NET)
def longest_block(starts):
    """The number of coordinates of the longest block (at least one)."""
    longest = 1
    for b in range(starts.shape[0] - 1):
        longest = max(longest, starts[b + 1] - starts[b])
    return longest


@jit(NET)
def plan_blocks(arch, loss, coords, n_moves, B):
    """``(order, starts)``: the order in which the coordinates are taken and the start indices
    (and the end) of the blocks, runs of ``coords[order]``.

    A block holds coordinates of one layer, at most :func:`block_size` of them; for a
    layer on the column path, of one column ``j`` (``W_l[:, j]`` and ``b_l[j]``), at most
    :func:`column_size`.  ``order`` is a stable sort by (layer, column on the column
    path), so both are functions of ``coords`` alone, whatever the thread count.
    """
    nc = coords.shape[0]
    span = widest(arch) + 1
    keys = np.empty(nc, np.int64)
    for t in range(nc):
        l, _, _, j = locate(arch, coords[t])
        keys[t] = l * span + (j + 1 if column_path(arch, loss, l) else 0)
    # a stable counting sort on the keys: O(n) (a merge sort took ~7 ms at 10⁵ coordinates)
    first = np.zeros(arch.shape[0] * span + 1, np.int64)
    for t in range(nc):
        first[keys[t] + 1] += 1
    for key in range(1, first.shape[0]):
        first[key] += first[key - 1]
    order = np.empty(nc, np.int64)
    for t in range(nc):
        order[first[keys[t]]] = t
        first[keys[t]] += 1
    gsize = block_size(n_moves, B)
    csize = column_size(n_moves, B)
    starts = np.empty(nc + 1, np.int64)
    nb = 0
    prev = -1
    count = 0
    for t in range(nc):
        key = keys[order[t]]
        size = gsize if key % span == 0 else csize
        if t == 0 or key != prev or count == size:
            starts[nb] = t
            nb += 1
            count = 0
        prev = key
        count += 1
    starts[nb] = nc
    return order, starts[: nb + 1]
