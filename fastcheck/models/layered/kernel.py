"""The two parallel kernels: perturbed costs and the complex step, over the planned blocks.

Both kernels start from one setup (:func:`_setup`: the cached pass, the units'
cubic coefficients, the plan of blocks and the scratch sizes) and run the same
blocks (:func:`_block`, which picks the path of each):

* :func:`layered_costs`: ``J(θ + s·e_c) = J(θ) + ΔJ`` at the moves
  ``s = fl(θ_c + offset·h_c) − θ_c`` (the perturbation the black-box kernel
  applies), with the kink flags of relu and leaky_relu;
* :func:`layered_complex_step`: ``Im J(θ + i·h_c·e_c) = Im ΔJ`` at the move
  ``s = i·h_c`` (no subtraction of J(θ)).

Each comes in two compiled forms (:func:`kernels_for` picks): the general one,
and one for networks of at most two layers, where no layer has two layers above
it, compiled without the matrix-product path and the column path's hidden-layer
cubics (a ``deep`` flag that Numba prunes before typing).  The operations on every
block such a network has are the same in both, bit for bit; the smaller form is a
fifth less to compile on an empty cache (``benchmarks/bench_compile_inventory.py``).

A block goes by :func:`~fastcheck.models.layered.columns.column_block` on the
column path when its moves are small enough for the cubics, else by
:func:`~fastcheck.models.layered.gemm.gemm_block` when at least two layers lie
above its layer, else coordinate by coordinate
(:func:`~fastcheck.models.layered.rank1.perturbed_delta`).

Parallel over blocks, interleaved (chunk ``c`` takes blocks ``c, c + n_chunks,
…``, which balances the costlier first-layer coordinates); each chunk owns its
scratch (:func:`_chunk_scratch`: O(block rows · width), plus O(batch · width)
for the one-at-a-time path and O(:data:`~fastcheck.models.layered.plan.COLUMN_ENTRIES`
+ batch · width) for the column path), and every block runs the same
operations whatever the thread count, so the results are identical for any
number of threads.  The products run inside the parallel region, so BLAS must
be held to one thread (:class:`fastcheck.evaluators.structured.LayeredEvaluator`
does; see :func:`fastcheck.config.single_threaded_blas`).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from fastcheck.config import NET, NET_PARALLEL, jit
from fastcheck.models.layered import cubics
from fastcheck.models.layered.cache import forward_cache, locate, widest
from fastcheck.models.layered.columns import column_block, column_scratch, shallow_column_block
from fastcheck.models.layered.gemm import gemm_block, gemm_scratch
from fastcheck.models.layered.plan import block_size, column_path, column_size, longest_block, plan_blocks
from fastcheck.models.layered.rank1 import perturbed_delta, rank1_scratch
from fastcheck.models.numeric import const


@jit(NET)
def _setup(theta, X, Y, arch, loss, l2, mask, coords, n_moves, n_chunks):
    """What both kernels start from, for ``n_moves`` moves per coordinate:
    ``(cache, G, order, starts, pcoords, longest, gsize, size, n_chunks)``.

    The cached pass (:func:`~fastcheck.models.layered.cache.forward_cache`) and the
    cubic coefficients ``G`` of every unit for the column path
    (:func:`~fastcheck.models.layered.cubics.unit_coefficients`); the plan
    (:func:`~fastcheck.models.layered.plan.plan_blocks`) and the coordinates in its
    order; the number of coordinates of the longest block, of a matrix-product block
    (``gsize``) and of any block (``size``), so that the scratch is sized by the blocks
    there are (a small check allocates little); the number of chunks, at most one per block.
    """
    cache = forward_cache(theta, X, Y, arch, loss, l2, mask)
    G = cubics.unit_coefficients(arch, cache[6], cache[8], cache[5])
    B = X.shape[0]
    order, starts = plan_blocks(arch, loss, coords, n_moves, B)
    pcoords = coords[order]
    nb = starts.shape[0] - 1
    longest = longest_block(starts)
    gsize = min(block_size(n_moves, B), longest)
    size = max(gsize, min(column_size(n_moves, B), longest))
    n_chunks = max(1, min(nb, n_chunks))
    return cache, G, order, starts, pcoords, longest, gsize, size, n_chunks


def _scratch_kernel(deep):
    """:func:`_chunk_scratch` for any network (``deep``) or for one of at most two layers (no
    matrix-product blocks: their scratch is ``None`` and their code is not compiled)."""

    @jit(NET)
    def _chunk_scratch(arch, loss, B, n_moves, longest, gsize, size, zero, real):
        """One chunk's scratch ``(scratch, gscratch, cscratch, S, dJ, kink)``: that of the
        one-at-a-time path, of the matrix-product blocks (none in a network of one or two
        layers), of the column path, and a block's moves, cost changes and kink flags; in
        the type of ``zero`` (complex for the complex step), real parts in that of ``real``."""
        width = widest(arch)
        rest = (column_scratch(arch, loss, B, n_moves, zero, real, longest),
                np.full((size, n_moves), zero), np.full((size, n_moves), zero), np.zeros(size, np.bool_))
        if deep:
            gwidth = width if arch.shape[0] >= 3 else 0  # no block products in a network of one or two layers
            return (rank1_scratch(B, width, zero), gemm_scratch(B, gwidth, gsize * n_moves * B, zero, real), *rest)
        return (rank1_scratch(B, width, zero), None, *rest)

    return _chunk_scratch


def _block_kernel(deep):
    """:func:`_block` for any network (``deep``) or for one of at most two layers, where no layer
    has two layers above it: the matrix-product path (:func:`gemm_block`) and the column path's
    hidden-layer cubics are then left out of the compiled code (less to compile, the same
    operations on every block such a network has)."""

    @jit(NET)
    def _block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, scratch, gscratch, cscratch):
        """``dJ`` and ``kink`` of one block: by :func:`column_block` on the column path when its
        moves are small enough, else by :func:`gemm_block` (in blocks of at most
        :func:`~fastcheck.models.layered.plan.block_size` coordinates) when at least two layers
        lie above the block's layer, else coordinate by coordinate (:func:`perturbed_delta`)."""
        L = arch.shape[0]
        l = locate(arch, coords[t0])[0]
        anew, dvec, acc, cur, moved, DZ, CUR, DC = scratch
        if column_path(arch, loss, l):
            if deep:
                taken = column_block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, anew, dvec,
                                     cscratch)
            else:
                taken = shallow_column_block(theta, Y, arch, loss, l2, cache, G, coords, t0, t1, S, dJ, kink, anew,
                                             dvec, cscratch)
            if taken > 0:
                return
        if deep:  # noqa: SIM102 - a branch of its own: not compiled at all when deep is False
            if l <= L - 3:
                size = block_size(S.shape[1], Y.shape[0])
                for a in range(t0, t1, size):
                    e = min(t1, a + size)
                    gemm_block(theta, Y, arch, loss, l2, cache, coords, a, e, S[a - t0 :], dJ[a - t0 :],
                               kink[a - t0 :], gscratch)
                return
        for c in range(t1 - t0):
            _, _, i, j = locate(arch, coords[t0 + c])
            flag = False
            for k in range(S.shape[1]):
                d, kk = perturbed_delta(theta, Y, arch, loss, l2, cache, l, i, j, S[c, k],
                                        anew, dvec, acc, cur, moved, DZ, CUR, DC)
                dJ[c, k] = d
                flag = flag or kk
            kink[c] = flag

    return _block


_chunk_scratch = _scratch_kernel(True)
_shallow_chunk_scratch = _scratch_kernel(False)
_block = _block_kernel(True)
_shallow_block = _block_kernel(False)


def _kernels(deep):
    """:func:`layered_costs` and :func:`layered_complex_step` for any network (``deep``), or for
    networks of at most two layers (:func:`kernels_for` picks): the same operations, with the
    code of the paths such a network never takes left out of the compilation."""

    @jit(NET_PARALLEL)
    def layered_costs(theta, X, Y, arch, loss, l2, mask, coords, steps, offsets, n_chunks, out, kinks):
        """``out[j, k] = J(θ + s_jk·e_{coords[j]})`` with ``s_jk = fl(θ_c + offsets[k]·steps[j]) − θ_c``,
        and ``kinks[j]`` = some relu/leaky_relu pre-activation changes side at one of those points.

        Parameters
        ----------
        theta, X, Y, arch, loss, l2, mask
            The network, as :func:`fastcheck.models.backprop.mlp_cost` takes it,
            all in one precision (float64 or float32), which the whole
            computation keeps; ``fl`` rounds to it.
        coords : int64 array
        steps : float64 array, one step per coordinate
        offsets : float64 array of stencil offsets (no zero)
        n_chunks : int
            Number of interleaved chunks of blocks (the thread count; any value gives the same results).
        out : float64 array ``(len(coords), len(offsets))``
        kinks : bool array ``(len(coords),)``

        BLAS must be held to one thread while this runs (see
        :func:`fastcheck.config.single_threaded_blas`): the blocks' products run inside the
        parallel region.
        """
        B = X.shape[0]
        n_off = offsets.shape[0]
        cache, G, order, starts, pcoords, longest, gsize, size, n_chunks = _setup(
            theta, X, Y, arch, loss, l2, mask, coords, n_off, n_chunks)
        nb = starts.shape[0] - 1
        J0 = cache[-1]
        zero = const(0.0, J0)
        for c in prange(n_chunks):
            if deep:
                scratch, gscratch, cscratch, S, dJ, kink = _chunk_scratch(arch, loss, B, n_off, longest, gsize, size,
                                                                          zero, zero)
            else:
                scratch, gscratch, cscratch, S, dJ, kink = _shallow_chunk_scratch(arch, loss, B, n_off, longest, gsize,
                                                                                  size, zero, zero)
            for blk in range(c, nb, n_chunks):
                t0, t1 = starts[blk], starts[blk + 1]
                for t in range(t0, t1):
                    x = theta[pcoords[t]]
                    for k in range(n_off):
                        S[t - t0, k] = const(x + offsets[k] * steps[order[t]], x) - x
                if deep:
                    _block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch, gscratch,
                           cscratch)
                else:
                    _shallow_block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch,
                                   gscratch, cscratch)
                for t in range(t0, t1):
                    for k in range(n_off):
                        out[order[t], k] = J0 + dJ[t - t0, k]
                    kinks[order[t]] = kink[t - t0]


    @jit(NET_PARALLEL)
    def layered_complex_step(theta, X, Y, arch, loss, l2, mask, coords, steps, unit, n_chunks, out):
        """``out[j] = Im J(θ + i·h_j·e_{coords[j]})``, ``h_j = fl(steps[j])``: the complex step.

        The same recomputation as :func:`layered_costs` with the move ``s = i·h``:
        the cached pass stays real, the changed column and everything downstream
        of it are complex (``unit`` is 1j in complex64 for a float32 network,
        complex128 for float64), and ``Im ΔJ`` is read off directly, with no
        subtraction of J(θ).  The piecewise activations take the branch of the
        real part (see :mod:`fastcheck.models.functions`), so every built-in
        activation and loss has a complex step.  The blocks' products split each
        complex matrix into its real and imaginary rows (one real product).
        """
        B = X.shape[0]
        cache, G, order, starts, pcoords, longest, gsize, size, n_chunks = _setup(
            theta, X, Y, arch, loss, l2, mask, coords, 1, n_chunks)
        nb = starts.shape[0] - 1
        real = const(0.0, theta[0])
        zero = unit * real
        for c in prange(n_chunks):
            if deep:
                scratch, gscratch, cscratch, S, dJ, kink = _chunk_scratch(arch, loss, B, 1, longest, gsize, size,
                                                                          zero, real)
            else:
                scratch, gscratch, cscratch, S, dJ, kink = _shallow_chunk_scratch(arch, loss, B, 1, longest, gsize,
                                                                                  size, zero, real)
            for blk in range(c, nb, n_chunks):
                t0, t1 = starts[blk], starts[blk + 1]
                for t in range(t0, t1):
                    S[t - t0, 0] = unit * const(steps[order[t]], theta[0])
                if deep:
                    _block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch, gscratch,
                           cscratch)
                else:
                    _shallow_block(theta, Y, arch, loss, l2, cache, G, pcoords, t0, t1, S, dJ, kink, scratch,
                                   gscratch, cscratch)
                for t in range(t0, t1):
                    out[order[t]] = dJ[t - t0, 0].imag

    return layered_costs, layered_complex_step


layered_costs, layered_complex_step = _kernels(True)
#: The kernels for networks of at most two layers (see :func:`kernels_for`).
shallow_costs, shallow_complex_step = _kernels(False)


def kernels_for(arch):
    """``(costs, complex_step)``: the kernels for the network ``arch`` (:func:`layered_costs` and
    :func:`layered_complex_step`, or their forms for at most two layers, which compile less)."""
    if arch.shape[0] >= 3:
        return layered_costs, layered_complex_step
    return shallow_costs, shallow_complex_step
