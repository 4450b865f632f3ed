"""Structure-aware perturbed costs of the built-in dense networks.

The black-box kernel pays a full forward pass for every J(θ ± h·e_i).  For a
dense network most of that pass is the unperturbed one: moving ``W_l[i, j]``
(or ``b_l[j]``) by ``s`` changes only column ``j`` of layer l's
pre-activations, by ``s·A_{l−1}[:, i]`` (``s`` for a bias).  So, with the
unperturbed forward pass cached, each perturbed cost is recomputed exactly as

1. column ``j`` of layer l:  ``z'_b = Z_l[b, j] + s·x_b``, ``a'_b = act(z'_b)·M[b, j]``,
   ``d_b = a'_b − A_l[b, j]``  (B activations);
2. a rank-1 update into layer l+1: ``Z'_{l+1}[b, :] = Z_{l+1}[b, :] + d_b·W_{l+1}[j, :]``
   for the samples with ``d_b ≠ 0``, and its activations;
3. the remaining layers of those samples, through their changes:
   ``Z'_q[b, :] = Z_q[b, :] + ΔA_{q−1}[b, :]·W_q`` (units that did not move are skipped);
4. the loss by difference, ``J' = J + scale·Σ_b (ℓ'_b − ℓ_b) + ½·l2·s·(2w + s)``,
   with the exact identity ``(y − a')² − (y − a)² = (a' − a)(a' + a − 2y)`` for
   sse and mse.

Every J(θ + s·e_i) is the cost at the perturbed point, recomputed to
rounding: the pre-activations are linear in θ, so steps 1-3 are exact, and
every activation is evaluated at its new argument, nothing is linearised.
The perturbation applied is the one the black-box kernel applies,
``s = fl(θ_i + c·h) − θ_i``.  Kinks: for relu and leaky_relu layers, a
coordinate is flagged when some pre-activation changes side of 0 between θ and
any perturbed point.

Precision: everything computes in θ's dtype (float64 or float32, literals
typed by :func:`fastcheck.models.numeric.const`), one compiled
specialisation each.  The complex step (:func:`layered_complex_step`) runs
the same code with the move ``s = i·h``: the cached pass stays real, the
changed column and all downstream of it are complex (complex128, or
complex64 for float32), and ``Im ΔJ`` is the result, with no subtraction.

The modules, one algorithm each (each imports only those above it in this list):

* :mod:`.moves`: the moved activations, exact to rounding (Taylor routes of
  sigmoid and tanh for small moves), step 1 for one column, the loss change
  of one output entry, the L2 change, the slope of the piecewise activations;
* :mod:`.cache`: the unperturbed pass the kernel reads, and where a flat
  coordinate lives (layer, i, j);
* :mod:`.plan`: which path each layer takes and how the coordinates are cut
  into blocks (a function of the coordinates alone);
* :mod:`.rank1`: steps 2-4 for one coordinate (the last two layers, and the
  fallback of the others);
* :mod:`.gemm`: steps 2-4 for a block of coordinates, the layers above as
  one matrix product each;
* :mod:`.cubics`: the layers above a moved column as cubics in the
  column's change (coefficients of every activation, validity bounds, the
  loops over rows);
* :mod:`.softmax`: softmax cross-entropy on the column path, a sample's loss
  change as a polynomial in the column's change (its cumulants, with a bound
  of the rest);
* :mod:`.bce`: binary cross-entropy on the column path, likewise (softplus's
  Taylor coefficients composed with the outputs' cubics);
* :mod:`.columns`: the column path, a block of one column's coordinates
  through those cubics;
* :mod:`.kernel`: :func:`layered_costs` and :func:`layered_complex_step`,
  one setup, one block dispatch, parallel over interleaved chunks of blocks
  (and their forms for networks of at most two layers, :func:`kernels_for`).

Every block runs the same operations whatever the thread count, so the
results are identical for any number of threads.  The network code uses
NumPy's error model (no ZeroDivisionError check; see
:data:`fastcheck.config.NET`), which lets the loops that divide vectorise.
"""
from fastcheck.models.layered.cache import forward_cache, locate
from fastcheck.models.layered.columns import column_block, column_scratch
from fastcheck.models.layered.kernel import (
    kernels_for,
    layered_complex_step,
    layered_costs,
    shallow_complex_step,
    shallow_costs,
)
from fastcheck.models.layered.moves import SMALL, SMALL32
from fastcheck.models.layered.plan import BLOCK_ROWS, COLUMN_ENTRIES, column_path, column_size, plan_blocks
from fastcheck.models.layered.rank1 import perturbed_delta

# The spellings of these from before the package (tests/test_columns.py reads them).
_column_block = column_block
_column_path = column_path
_column_scratch = column_scratch
_column_size = column_size
_plan = plan_blocks

__all__ = [
    "BLOCK_ROWS",
    "COLUMN_ENTRIES",
    "SMALL",
    "SMALL32",
    "column_block",
    "column_path",
    "column_scratch",
    "column_size",
    "forward_cache",
    "kernels_for",
    "layered_complex_step",
    "layered_costs",
    "locate",
    "perturbed_delta",
    "plan_blocks",
    "shallow_complex_step",
    "shallow_costs",
]
