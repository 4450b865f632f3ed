"""The moved activations: one unit, one column, one output entry, recomputed exactly.

Everything the structure-aware kernel evaluates at a perturbed point goes
through these formulas (the other modules of :mod:`fastcheck.models.layered`
arrange *which* entries move):

* :func:`moved_activation`: ``act(z + δ)`` from the cached ``z``, ``h = act(z)``
  and ``E = e^(−z)``.  For sigmoid and tanh and ``|δ| ≤ 2⁻¹⁰`` (2⁻⁵ in single
  precision, :func:`small_limit`) it takes ``σ(z + δ) = 1 / (1 + E·e^(−δ))`` and
  ``tanh(z + δ) = (h + tanh δ) / (1 + h·tanh δ)``, where ``e^(−δ)`` and ``tanh δ``
  are their Taylor polynomials (degree 4 and 5, :func:`exp_small`,
  :func:`tanh_small`), whose truncation errors (below 7.5e-18 and 5e-20
  relative) are under double rounding: the same value to an ulp or two,
  without a call to ``exp`` or ``tanh``.  Larger moves take the plain formula.
* :func:`moved_column`, step 1 of every path: column ``j`` of layer l after the
  move ``s`` of ``W_l[i, j]`` (or ``b_l[j]``), ``z'_b = Z_l[b, j] + s·x_b``,
  ``a'_b = act(z'_b)·M[b, j]``, ``d_b = a'_b − A_l[b, j]``, with the kink flag of
  relu and leaky_relu (some ``z`` changes side of 0).
* :func:`negative_slope`: the slope below 0 of a piecewise-linear activation (relu 0,
  leaky_relu :data:`~fastcheck.models.functions.LEAKY_SLOPE`, identity 1).
* :func:`output_diff`: the loss change of one output entry,
  ``(y − a')² − (y − a)² = (a' − a)(a' + a − 2y)`` for sse (halved) and mse,
  ``softplus(a') − softplus(a) − y·(a' − a)`` for bce.
* :func:`l2_change`: the penalty's change ``½·l2·s·(2w + s)`` when a weight ``w``
  moves by ``s``.

The complex step runs the same code with ``s = i·h``: the divisions have a
denominator whose real part dominates (``1 + E·e^(−δ)``, ``1 + h·tanh δ`` with
|δ| ≤ 2⁻¹⁰), so they use Smith's formula on that branch alone
(:func:`fastcheck.models.numeric.div`), and the smallness tests bound |δ| by
|Re δ| + |Im δ| (:func:`fastcheck.models.numeric.bound`): both branch-free, so
the loops vectorise as the real ones do.  The piecewise activations take the
branch of the real part.
"""
from __future__ import annotations

from fastcheck.config import NET, jit
from fastcheck.models.backprop import ACT, IN_OFF, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import (
    BCE,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    RELU,
    SIGMOID,
    SSE,
    TANH,
    activate,
    softplus,
)
from fastcheck.models.numeric import bound, const, div, is_single

#: Largest |δ| for which e^(−δ) and tanh δ are taken from their Taylor
#: polynomials in double precision (truncation below 7.5e-18 resp. 5e-20 relative) ...
SMALL = 2.0**-10


#: ... and in single precision (2⁻⁵: truncation below 2.5e-10 resp. 6e-11
#: relative, far under float32's 6e-8), so that float32's larger steps
#: (ε_mach^⅓ ≈ 5e-3 for central) still take the polynomial route.
SMALL32 = 2.0**-5


@jit(NET)
def small_limit(x):
    """The polynomial route's limit on |δ| in the precision of ``x``."""
    return SMALL32 if is_single(x) else SMALL


@jit(NET)
def exp_small(x):
    """e^x for |x| ≤ 2⁻¹⁰: 1 + x + x²/2 + x³/6 + x⁴/24 (truncation < 7.5e-18 relative;
    < 2.5e-10 for |x| ≤ 2⁻⁵, the single-precision limit)."""
    one = const(1.0, x)
    return one + x * (one + x * (const(0.5, x) + x * (const(1.0 / 6.0, x) + x * const(1.0 / 24.0, x))))


@jit(NET)
def tanh_small(x):
    """tanh x for |x| ≤ 2⁻¹⁰: x − x³/3 + 2x⁵/15 (truncation 17x⁷/315 < 5e-20 relative;
    < 6e-11 for |x| ≤ 2⁻⁵, the single-precision limit)."""
    x2 = x * x
    return x * (const(1.0, x) + x2 * (const(-1.0 / 3.0, x) + x2 * const(2.0 / 15.0, x)))


@jit(NET)
def is_kinked(code):
    """Whether activation ``code`` has a kink at 0 (relu, leaky_relu)."""
    return code == RELU or code == LEAKY_RELU


@jit(NET)
def negative_slope(act, one):
    """The slope below 0 of the piecewise-linear activation ``act`` (relu, leaky_relu or
    identity), in the type of ``one``."""
    return const(0.0 if act == RELU else (LEAKY_SLOPE if act == LEAKY_RELU else 1.0), one)


@jit(NET)
def moved_activation(z0, h0, e0, delta, act):
    """act(z0 + δ), from the cached z0, h0 = act(z0) and e0 = e^(−z0).

    For |δ| ≤ 2⁻¹⁰ (2⁻⁵ in single precision): σ(z0 + δ) = 1 / (1 + e0·e^(−δ)) and
    tanh(z0 + δ) = (h0 + tanh δ) / (1 + h0·tanh δ), with the small-argument
    polynomials (exact to rounding); otherwise the activation itself.
    """
    if bound(delta) <= small_limit(delta):
        one = const(1.0, delta)
        if act == SIGMOID:
            return div(one, one + e0 * exp_small(-delta))
        if act == TANH:
            t = tanh_small(delta)
            return div(h0 + t, one + h0 * t)
    return activate(z0 + delta, act)


@jit(NET)
def moved_column(arch, l, i, j, s, ZT, HT, AT, ET, MT, colmax, anew, dvec):
    """Step 1: column j of layer l after the move ``s`` of W_l[i, j] (``i < 0``: b_l[j]).

    Writes ``anew`` (the column's new activations, after dropout) and
    ``dvec = anew − A_l[:, j]``; returns whether a pre-activation changed side
    of a kink.  Sigmoid and tanh columns whose every |δ_b| = |s·x_b| is at
    most 2⁻¹⁰ (2⁻⁵ in single precision) take branch-free loops (they vectorise).
    """
    act = arch[l, ACT]
    u = arch[l, OUT_OFF] + j
    xu = arch[l, IN_OFF] + i
    B = ZT.shape[1]
    one = const(1.0, ZT[0, 0])  # real, also in the complex step
    small = bound(s) * (1.0 if i < 0 else colmax[xu]) <= small_limit(s)
    if small and act == SIGMOID:
        for b in range(B):
            delta = s * (one if i < 0 else AT[xu, b])
            anew[b] = div(MT[u, b], one + ET[u, b] * exp_small(-delta))
            dvec[b] = anew[b] - AT[u, b]
        return False
    if small and act == TANH:
        for b in range(B):
            t = tanh_small(s * (one if i < 0 else AT[xu, b]))
            anew[b] = MT[u, b] * div(HT[u, b] + t, one + HT[u, b] * t)
            dvec[b] = anew[b] - AT[u, b]
        return False
    if is_kinked(act) or act == IDENTITY:
        slope = negative_slope(act, one)
        crossed = 0
        for b in range(B):
            z0 = ZT[u, b]
            z = z0 + s * (one if i < 0 else AT[xu, b])
            anew[b] = MT[u, b] * (z if z.real > 0.0 else slope * z)
            dvec[b] = anew[b] - AT[u, b]
            crossed += (z.real > 0.0) != (z0 > 0.0)
        return is_kinked(act) and crossed > 0
    for b in range(B):
        delta = s * (one if i < 0 else AT[xu, b])
        anew[b] = moved_activation(ZT[u, b], HT[u, b], ET[u, b], delta, act) * MT[u, b]
        dvec[b] = anew[b] - AT[u, b]
    return False


@jit(NET)
def output_diff(a_new, a_old, y, loss):
    """Unnormalised loss change of one output entry for the separable losses."""
    if loss == BCE:
        return softplus(a_new) - softplus(a_old) - y * (a_new - a_old)
    d = (a_new - a_old) * (a_new + a_old - const(2.0, y) * y)
    return const(0.5, d) * d if loss == SSE else d


@jit(NET)
def l2_change(theta, arch, l, i, j, s, l2):
    """``½·l2·s·(2w + s)``: the change of the L2 penalty ``½·l2·w²`` when the weight
    ``w = W_l[i, j]`` moves by ``s`` (the callers add it for weights only, and only
    when ``l2 ≠ 0``)."""
    w = theta[arch[l, W_OFF] + i * arch[l, N_OUT] + j]
    return const(0.5, s) * l2 * s * (const(2.0, w) * w + s)
