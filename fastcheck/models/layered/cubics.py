"""The layers above a moved column, as a cubic in the column's change.

The series and the loops over rows of the column path; the block that drives
them is :func:`fastcheck.models.layered.columns.column_block`.

Every coordinate of column ``j`` of layer l (``W_l[i, j]`` for all i, and
``b_l[j]``) moves the network through one number per sample: the change
``D_b`` of the activation ``A_l[b, j]``.  Above it, in a sigmoid layer whose
pre-activation moves by ``δ`` (with ``g₁ = σ'(z)``, ``g₂ = σ''(z)/2``,
``g₃ = σ'''(z)/6`` cached from the unperturbed pass)

    σ(z + δ) − σ(z) = δ·(g₁ + δ·(g₂ + δ·g₃)) + R,   |R| ≤ σ'(z)·e^|δ|·δ⁴/24,

because every derivative of σ is σ' times a polynomial in σ bounded by 1 on
[0, 1] (σ'' = σ'(1 − 2σ), σ''' = σ'(1 − 6σ'), σ'''' = σ'(1 − 2σ)(1 − 12σ'))
and σ'(ξ) ≤ σ'(z)·e^|ξ − z|.  For |δ| ≤ 2⁻¹³ (2⁻⁶ in single precision) the
remainder is below 1e-17·σ'(z) (3e-9·σ'(z)), under the rounding of σ(z + δ)
itself (σ' ≤ min(σ, 1 − σ)): the cubic *is* the moved activation, to
rounding, like the Taylor polynomials of :mod:`fastcheck.models.layered.moves`.
Nothing is linearised; the cubic's error is below that of evaluating σ anew.

The other activations (:func:`unit_coefficients`): tanh(z) = 2σ(2z) − 1, so a
tanh unit moves as a sigmoid unit moved by 2δ, with half the limit, and its
remainder, at most 16·|tanh ξ|·δ⁴/24 on [z, z + δ], falls with the activation
(a tanh output never takes the quadratic below: its third term does not, :func:`quad_limit`);
softplus has σ, σ'/2, σ''/6 for coefficients and the sigmoid's remainder, under
its rounding since softplus ≥ σ ≥ σ'; identity, relu and leaky relu have the
exact cubics ``(1, 0, 0)``, ``([z > 0], 0, 0)``, ``(1 or 0.01, 0, 0)``, valid while
no pre-activation changes sign: a block is taken only when every move is under
half of |z| (:func:`keeps_sign`, :func:`weights_keep_sign`,
:func:`outputs_keep_sign`), so a unit at its kink sends its columns to the
general path, which flags the kinks.  Below, "sigmoid" stands for any of them.

Below |δ| ≤ 2⁻¹⁸ (2⁻⁹) the quadratic alone is as good (remainder below
σ'(z)·|δ|³/6 < 1e-17·σ'(z)); the output takes it when every move of a block
allows (:func:`quadratic_limit`).

So, for the coordinates of one column, stacked as rows ``r`` (a coordinate at
one move) with their column changes ``D[b, r]`` (for a sigmoid column, the
cubic in ``δ = s·x_b``, made sample by sample beside the loops that read it,
:func:`column_row`):

* one layer above (the sigmoid output): the output unit k moves by
  ``δ = D·W[j, k]``, so its change is the cubic in D with coefficients
  ``c_n = g_n·W[j, k]ⁿ``, and the loss change of sse/mse is
  ``(a' − a)(a' + a − 2y) = d·(d + 2(a − y))`` (:func:`output_rows`);
* two layers above (a sigmoid hidden layer m, then the sigmoid output): layer
  m's change is a cubic in D, ``ΔA_m[b, u] = Σ_n Dⁿ·C_n[b, u]`` with
  ``C_n = M·g_n·W_m[j, u]ⁿ``, so the output's pre-activations move by
  ``ΔZ[b, k] = Σ_n Dⁿ·P_n[b, k]`` with ``P_n = C_n·W_q``: three small products
  per column (:func:`hidden_coefficients`) instead of one product per row, and
  each row pays only the cubics (:func:`hidden_output_rows`).  The products are
  the same sums as ``ΔA_m·W_q`` in another order, exact to rounding.

For a sigmoid column (``D`` a cubic in ``x = s·x_b``) the rows need not be
evaluated one by one: each sample's loss change is a polynomial in x, and its
terms up to x⁴ (:data:`SERIES`), summed over the samples with the powers of
the inputs, ``Q_p[c] = Σ_b β_p[b]·x_b[c]ᵖ``, give every row of coordinate c as
``Σ_p Q_p[c]·sᵖ`` whatever the number of moves (:func:`_series_sample`,
:func:`_series_rows`, driven by :func:`series_taken`).  The terms left out are bounded from the coefficients
(:func:`_series_tail`, a majorant); the block takes the series only when that
bound is under 1/64 of the rounding of J(θ) itself, else the rows one by one.

The validity of every cubic (|δ| under the limit) is decided per block from
``max |D|`` and the coefficients (:func:`output_bound`), before any row is
computed; a block that fails it takes the general path.  The inner loops run
over the rows (contiguous, coefficients hoisted), so they vectorise and pay
no division.  The complex step runs the same code with complex ``D``: the
cubics are the same series, bounded through |Re δ| + |Im δ|.
"""
from __future__ import annotations

import numpy as np

from fastcheck.config import jit
from fastcheck.models.backprop import ACT, N_OUT, OUT_OFF, W_OFF
from fastcheck.models.functions import LEAKY_RELU, LEAKY_SLOPE, NET, RELU, SIGMOID, SOFTPLUS, TANH
from fastcheck.models.numeric import const, is_complex, is_single

#: Largest |δ| for which a sigmoid's change is taken from its cubic in double
#: precision (remainder below 1e-17·σ'(z)) ...
CUBIC = 2.0**-13
#: ... and in single precision (below 3e-9·σ'(z), float32's rounding is 6e-8).
CUBIC32 = 2.0**-6


#: Largest |δ| for which the output's change is taken from the quadratic alone, the
#: cubic's last term dropped (remainder below σ'(z)·e^|δ|·|δ|³/6: 1e-17·σ'(z) in double
#: precision, 2e-9·σ'(z) in single); the default steps of a central check at weights
#: below 1 usually move the output by less.
QUADRATIC = 2.0**-18
QUADRATIC32 = 2.0**-9


#: Degree in the move s up to which the series path (:func:`_series_sample`) keeps the terms
#: of a sigmoid column's cost change; the rest is bounded by :func:`_series_tail`.
SERIES = 4
#: The points ``t'`` at which :func:`_series_tail` evaluates the majorant: the terms of degree
#: above :data:`SERIES` at ``t`` are at most ``(t/t')⁵`` of the majorant's value at any ``t' > t``.
SERIES_POINTS = (2.0**-3, 2.0**-8)
#: The series path's bound on the terms it leaves out, as a fraction of the rounding of J(θ).
SERIES_SHARE = 2.0**-6
#: Coefficients of a sample's loss polynomial in the column's change D, at most: degree 3·6 for a
#: column two layers below the output (:func:`hidden_output_rows`).
LOSS_TERMS = 18


@jit(NET)
def cubic_limit(x):
    """The cubic's limit on |δ| in the precision of ``x``."""
    return CUBIC32 if is_single(x) else CUBIC


@jit(NET)
def quadratic_limit(x):
    """The quadratic's limit on |δ| in the precision of ``x``."""
    return QUADRATIC32 if is_single(x) else QUADRATIC


@jit(NET)
def piecewise_linear(code):
    """Whether activation ``code`` is relu or leaky relu: its change is exactly linear in the move while
    the pre-activation keeps its sign (:func:`keeps_sign`), with no remainder to limit the move."""
    return code == RELU or code == LEAKY_RELU


@jit(NET)
def layer_limit(code, x):
    """The largest |δ| for which a unit of activation ``code`` changes by its cubic (precision of ``x``):
    :func:`cubic_limit` for sigmoid and softplus, half of it for tanh (tanh(z) = 2σ(2z) − 1 moves as a
    sigmoid moved by 2δ), no limit (inf) for identity, relu and leaky relu, whose cubic is exact (the
    piecewise linear ones while no pre-activation changes sign, :func:`keeps_sign`)."""
    if code == SIGMOID or code == SOFTPLUS:
        return cubic_limit(x)
    if code == TANH:
        return 0.5 * cubic_limit(x)
    return np.inf


@jit(NET)
def quad_limit(code, x):
    """The largest |δ| for which the quadratic alone is as good: :func:`quadratic_limit` for sigmoid and
    softplus (the third term left out, at most σ'(z)·|δ|³/6, is under their rounding), inf for the
    activations whose cubic has no third term, and 0 for tanh: its third term, tanh'''(z)·δ³/6, is
    −δ³/3 at z = 0, where tanh itself is near 0, so no step makes it small against the activation."""
    if code == SIGMOID or code == SOFTPLUS:
        return quadratic_limit(x)
    if code == TANH:
        return 0.0
    return np.inf


@jit(NET)
def keeps_sign(code, ZT, u, B, dz):
    """For a piecewise linear unit ``u``: whether every sample's pre-activation keeps its sign under
    moves of at most ``dz`` (``2·dz < |z|``, a margin the rounding of z + δ cannot cross; z = 0
    never keeps it).  True for every other activation."""
    if not piecewise_linear(code):
        return True
    for b in range(B):
        if not 2.0 * dz < abs(ZT[u, b]):
            return False
    return True


@jit(NET)
def weights_keep_sign(code, ZT, u0, n, B, theta, w0, dmax):
    """For a piecewise linear layer whose unit ``u0 + k`` moves by ``D·θ[w0 + k]`` (k < n), every
    |D| at most ``dmax``: whether every pre-activation keeps its sign (:func:`keeps_sign`)."""
    if not piecewise_linear(code):
        return True
    for k in range(n):
        if not keeps_sign(code, ZT, u0 + k, B, dmax * abs(theta[w0 + k])):
            return False
    return True


@jit(NET)
def outputs_keep_sign(code, ZT, oL, P, B, dmax):
    """For a piecewise linear output whose pre-activations move by ``Σ_n Dⁿ·P_n[b, k]`` (see
    :func:`hidden_coefficients`), every |D| at most ``dmax``: whether each keeps its sign."""
    if not piecewise_linear(code):
        return True
    K = P.shape[1]
    for b in range(B):
        for k in range(K):
            z = dmax * (abs(P[b, k]) + dmax * (abs(P[B + b, k]) + dmax * abs(P[2 * B + b, k])))
            if not 2.0 * z < abs(ZT[oL + k, b]):
                return False
    return True


@jit(NET)
def _sigmoid_terms(h, e, one, half, six, sixth):
    """``(g₁, g₂, g₃)`` = σ⁽ⁿ⁾(z)/n! from ``h = σ(z)`` and ``e = e^(−z)``: ``q = 1 − σ(z)`` is taken as ``e·h`` when
    h ≥ ½ (no cancellation) and ``1 − h`` below, ``g₁ = h·q``, ``g₂ = g₁(q − h)/2``, ``g₃ = g₁(1 − 6g₁)/6``."""
    q = e * h if h >= half else one - h
    g1 = h * q
    return g1, g1 * (q - h) * half, g1 * (one - six * g1) * sixth


@jit(NET)
def unit_coefficients(arch, HT, ET, ZT):
    """``G[n − 1, u, b]``, the coefficient of δⁿ (n = 1, 2, 3) in the change of every unit of every
    layer, unit-major ``(3, T, B)`` (0 for the inputs):

    * sigmoid: σ⁽ⁿ⁾(z)/n! (:func:`_sigmoid_terms`);
    * tanh: ``2ⁿ⁺¹·σ⁽ⁿ⁾(2z)/n!`` (tanh(z + δ) − tanh(z) = 2·(σ(2z + 2δ) − σ(2z))), with σ(2z) =
      1/(1 + E²) and ``E = e^(−z)`` (no cancellation near saturation);
    * softplus: σ(z), σ'(z)/2, σ''(z)/6: its remainder, σ'''(ξ)·δ⁴/24, is the sigmoid's, and
      softplus(z) ≥ σ(z) ≥ σ'(z), so it is under the rounding of the moved activation below :data:`CUBIC`;
    * identity: 1, 0, 0; relu: [z > 0], 0, 0; leaky relu: 1 or 0.01, 0, 0 (exact while z keeps its
      sign, :func:`keeps_sign`).
    """
    T, B = HT.shape
    G = np.zeros((3, T, B), HT.dtype)
    one = const(1.0, HT[0, 0])
    zero = const(0.0, one)
    half = const(0.5, one)
    six = const(6.0, one)
    sixth = const(1.0 / 6.0, one)
    for l in range(arch.shape[0]):
        code = arch[l, ACT]
        for u in range(arch[l, OUT_OFF], arch[l, OUT_OFF] + arch[l, N_OUT]):
            for b in range(B):
                if code == SIGMOID:
                    g1, g2, g3 = _sigmoid_terms(HT[u, b], ET[u, b], one, half, six, sixth)
                elif code == TANH:
                    e2 = ET[u, b] * ET[u, b]
                    s1, s2, s3 = _sigmoid_terms(one / (one + e2), e2, one, half, six, sixth)
                    g1, g2, g3 = const(4.0, one) * s1, const(8.0, one) * s2, const(16.0, one) * s3
                elif code == SOFTPLUS:
                    h = one / (one + ET[u, b])
                    s1, s2, s3 = _sigmoid_terms(h, ET[u, b], one, half, six, sixth)
                    # the coefficients of σ at z, shifted by one power: σ(z), σ'(z)/2, σ''(z)/6 = g₂(σ)/3
                    g1, g2, g3 = h, s1 * half, s2 * const(1.0 / 3.0, one)
                elif code == RELU:
                    g1, g2, g3 = (one if ZT[u, b] > 0.0 else zero), zero, zero
                elif code == LEAKY_RELU:
                    g1, g2, g3 = (one if ZT[u, b] > 0.0 else const(LEAKY_SLOPE, one)), zero, zero
                else:
                    g1, g2, g3 = one, zero, zero
                G[0, u, b] = g1
                G[1, u, b] = g2
                G[2, u, b] = g3
    return G


@jit(NET)
def column_bound(G, MT, u, dx):
    """A bound of every |D| of a sigmoid column ``u`` whose moves |δ| are at most ``dx``:
    ``max_b |M|·(|g₁| + dx·(|g₂| + dx·|g₃|))·dx`` (taken from the coefficients, so that the
    row loops carry no max)."""
    dmax = 0.0
    for b in range(MT.shape[1]):
        m = abs(MT[u, b])
        dmax = max(dmax, dx * m * (abs(G[0, u, b]) + dx * (abs(G[1, u, b]) + dx * abs(G[2, u, b]))))
    return dmax


@jit(NET)
def column_row(b, DT, cubic, SK, nc, XG, G, MT, u, row):
    """Sample b's column changes of every row: ``DT[b]`` when step 1 was taken row by row,
    else (``cubic``) ``row[k·nc + c] = M[b, u]·(σ(z + δ) − σ(z))`` by the cubic in
    ``δ = SK[k, c]·XG[b, c]`` (``XG[b, c]`` is the input that coordinate c multiplies on
    sample b, 1 for the bias), computed here so that it stays in the L1 cache."""
    if not cubic:
        return DT[b]
    c1 = MT[u, b] * G[0, u, b]
    c2 = MT[u, b] * G[1, u, b]
    c3 = MT[u, b] * G[2, u, b]
    ncu = np.uint64(nc)
    for k in range(SK.shape[0]):
        base = np.uint64(k * nc)
        for c in range(ncu):
            x = SK[k, c] * XG[b, c]
            row[base + c] = x * (c1 + x * (c2 + x * c3))
    return row


@jit(NET)
def _series_sample(b, a, x, n, G, MT, u, Q):
    """Add sample b to the series of a sigmoid column ``u``: ``Q[p − 1, c] += β_p·x[c]ᵖ`` for
    ``c < n`` (``x``: the sample's inputs of the block's coordinates; p = 1 … :data:`SERIES`),
    where ``β_p`` is the coefficient of xᵖ in ``Σ_m a[m − 1]·D(x)ᵐ``, ``D(x) = x·(c1 + x·(c2 +
    x·c3))`` the column's cubic.  Returns ``(β_1, …, β_4)``."""
    c1 = MT[u, b] * G[0, u, b]
    c2 = MT[u, b] * G[1, u, b]
    c3 = MT[u, b] * G[2, u, b]
    a1, a2, a3, a4 = a[0], a[1], a[2], a[3]
    two = const(2.0, c1)
    three = const(3.0, c1)
    c11 = c1 * c1
    b1 = a1 * c1
    b2 = a1 * c2 + a2 * c11
    b3 = a1 * c3 + two * a2 * c1 * c2 + a3 * c11 * c1
    b4 = a2 * (c2 * c2 + two * c1 * c3) + three * a3 * c11 * c2 + a4 * c11 * c11
    _series_accumulate(x, Q[0], Q[1], Q[2], Q[3], b1, b2, b3, b4, n)
    return b1, b2, b3, b4


@jit(NET)
def _series_majorant(b, a, na, G, MT, u, tails):
    """Add to ``tails[j]`` sample b's majorant ``Σ_m |a_m|·D̂(t'_j)ᵐ`` (``na`` coefficients; ``D̂``
    the column's cubic with |c1|, |c2|, |c3|) at the points of :data:`SERIES_POINTS`."""
    m1 = abs(MT[u, b] * G[0, u, b])
    m2 = abs(MT[u, b] * G[1, u, b])
    m3 = abs(MT[u, b] * G[2, u, b])
    for j in range(len(SERIES_POINTS)):
        tp = SERIES_POINTS[j]
        d = tp * (m1 + tp * (m2 + tp * m3))
        f = 0.0
        for m in range(na - 1, -1, -1):
            f = d * (abs(a[m]) + f)
        tails[j] += f


@jit(NET)
def series_taken(cubic, acc, AB, na, nc, inputs, G, MT, u, SK, Q, t, J0, scale):
    """The rows of a block from the series in the move, when it may take it: a sigmoid column
    (``cubic``), real moves, and the left-out terms under rounding (:func:`_series_tail`,
    :func:`series_ok`); ``AB[b]`` holds sample b's loss polynomial in D (``na`` coefficients).
    ``inputs`` as :func:`column_inputs` takes them: rows that run on are read in place from
    the layer's activations, others gathered first.  Returns whether it did (else it has
    written nothing the caller reads)."""
    if not cubic or is_complex(acc[0]):
        return False
    B = AB.shape[0]
    tails = np.zeros(len(SERIES_POINTS))
    for b in range(B):
        _series_majorant(b, AB[b], na, G, MT, u, tails)
    if not series_ok(J0, scale, _series_tail(tails, t)):
        return False
    XG, A, i0, ii, nw, run = inputs
    Q[:, :nc] = 0.0
    if run:  # the inputs of the weights are a run of A's row; a bias (input 1) last, if any
        s0 = i0 + ii[0]
        for b in range(B):
            b1, b2, b3, b4 = _series_sample(b, AB[b], A[b, s0 : s0 + nw], nw, G, MT, u, Q)
            if nw < nc:
                Q[0, nw] += b1
                Q[1, nw] += b2
                Q[2, nw] += b3
                Q[3, nw] += b4
    else:
        column_inputs(inputs, nc)
        for b in range(B):
            _series_sample(b, AB[b], XG[b], nc, G, MT, u, Q)
    _series_rows(Q, SK, nc, acc)
    return True


@jit(NET)
def input_run(ii, nc):
    """``(nw, run)``: the block's weights (all but a bias, which the plan puts last), and whether their
    rows ``ii`` run on by one (as in a full check), so that their inputs are a slice of A's rows."""
    nw = nc - 1 if ii[nc - 1] < 0 else nc
    run = nw > 0 and ii[0] >= 0
    for c in range(1, nw):
        if ii[c] != ii[c - 1] + 1:
            return nw, False
    return nw, run


@jit(NET)
def column_inputs(inputs, nc):
    """Fill ``XG[b, c]``, the input that coordinate c multiplies on sample b, ``A[b, i0 + ii[c]]`` (1 for a
    bias, ``ii[c] < 0``), from ``inputs = (XG, A, i0, ii, nw, run)``: rows that run on as slices of
    A's rows, any others entry by entry."""
    XG, A, i0, ii, nw, run = inputs
    B = A.shape[0]
    if run:
        s0 = i0 + ii[0]
        for b in range(B):
            XG[b, :nw] = A[b, s0 : s0 + nw]
            if nw < nc:
                XG[b, nw] = 1.0
        return
    for b in range(B):
        for c in range(nc):
            XG[b, c] = 1.0 if ii[c] < 0 else A[b, i0 + ii[c]]


@jit(NET)
def _series_accumulate(x, q1, q2, q3, q4, b1, b2, b3, b4, nc):
    """``q_p[c] += β_p·x[c]ᵖ`` over ``c < nc`` (one-dimensional rows, so that the loop vectorises)."""
    for c in range(np.uint64(nc)):
        v = x[c]
        v2 = v * v
        q1[c] += b1 * v
        q2[c] += b2 * v2
        q3[c] += b3 * v2 * v
        q4[c] += b4 * v2 * v2


@jit(NET)
def _series_tail(tails, t):
    """A bound of the terms of degree above :data:`SERIES` at ``|x| ≤ t``, summed over the samples:
    ``min_j (t/t'_j)⁵·tails[j]`` over the points ``t'_j > t`` (each term of degree p > 4 of a series
    of non-negative coefficients is at most ``(t/t')⁵`` of its value at t'); inf when none is."""
    best = np.inf
    for j in range(len(SERIES_POINTS)):
        tp = SERIES_POINTS[j]
        if tp > t:
            r = t / tp
            best = min(best, r * r * r * r * r * tails[j])
    return best


@jit(NET)
def _series_rows(Q, SK, nc, acc):
    """``acc[k·nc + c] = Σ_p Q[p − 1, c]·SK[k, c]ᵖ`` (Horner in the move), every row of the block."""
    ncu = np.uint64(nc)
    for k in range(SK.shape[0]):
        base = np.uint64(k * nc)
        for c in range(ncu):
            s = SK[k, c]
            acc[base + c] = s * (Q[0, c] + s * (Q[1, c] + s * (Q[2, c] + s * Q[3, c])))


@jit(NET)
def series_ok(J0, scale, bound):
    """Whether the series' left-out terms (``bound``, before the loss ``scale``) are under
    :data:`SERIES_SHARE` of the rounding of J(θ) (machine epsilon of its precision times |J(θ)|)."""
    eps = 2.0**-23 if is_single(J0) else 2.0**-52
    return scale * bound <= SERIES_SHARE * eps * abs(J0)


@jit(NET)
def _loss_polynomial(c1, c2, c3, t, quad, a):
    """Add to ``a`` the coefficients of ``d·(d + t)`` as a polynomial in x, ``d = x·(c1 + x·(c2 + x·c3))``
    (``c3`` left out when ``quad``): ``a[n − 1]`` multiplies xⁿ, n = 1 … 4 (… 6 for the cubic)."""
    a[0] += t * c1
    a[1] += t * c2 + c1 * c1
    a[2] += c1 * c2 + c1 * c2
    a[3] += c2 * c2
    if not quad:
        a[2] += t * c3
        a[3] += c1 * c3 + c1 * c3
        a[4] += c2 * c3 + c2 * c3
        a[5] += c3 * c3


@jit(NET)
def polynomial_rows(D, Ru, a, quad, acc):
    """``acc[r] += Σ_n a[n − 1]·D[r]ⁿ`` (Horner; degree 4 when ``quad``, else 6), over rows ``r < Ru``."""
    a1, a2, a3, a4, a5, a6 = a[0], a[1], a[2], a[3], a[4], a[5]
    if quad:
        for r in range(Ru):
            x = D[r]
            acc[r] += x * (a1 + x * (a2 + x * (a3 + x * a4)))
    else:
        for r in range(Ru):
            x = D[r]
            acc[r] += x * (a1 + x * (a2 + x * (a3 + x * (a4 + x * (a5 + x * a6)))))


@jit(NET)
def output_rows(DT, cubic, SK, nc, inputs, MT, u0, R, theta, wrow, G, AT, YT, oL, K, quad, acc, row, Q, AB, t, J0,
                scale):
    """``acc[r] = Σ_b Σ_k d·(d + 2(a − y))``, ``d = σ(z + D[b, r]·w_k) − σ(z)`` by the cubic
    (by the quadratic when ``quad``: every |δ| is under :func:`quadratic_limit`),
    for a column whose next layer is the sigmoid output (``w = θ[wrow : wrow + K]``).

    The column's changes ``D[b, r]`` come from ``DT`` (``(B, ≥ R)``) or, for a sigmoid
    column ``u0`` by its cubic, sample by sample from :func:`column_row`, with the inputs
    ``XG`` that :func:`column_inputs` fills from ``inputs = (XG, A, i0, ii, nw, run)``.  For one sample,
    the sum over the K outputs is one polynomial in D (degree 4, or 6 for the cubic): its
    coefficients ``Σ_k`` are taken once per sample (:func:`_loss_polynomial`), and each row pays
    one Horner evaluation instead of K (the same terms, summed over k before the powers of D
    rather than after; the rounding error is bounded by the same ``ε·Σ_k |d_k·(d_k + t_k)|``).
    The loop over rows is innermost, so it vectorises.

    A sigmoid column (``cubic``, real moves) takes the series in the move instead when its
    left-out terms are under rounding (see the module doc): ``Q`` is its ``(SERIES, ≥ nc)``
    scratch, ``t`` a bound of every |s·x_b| of the block, ``J0`` the cost at θ and ``scale``
    the loss scale that multiplies ``acc``.  ``AB`` (``(B, LOSS_TERMS)`` real scratch) keeps each
    sample's polynomial for whichever route the rows take.  Returns whether it took the series.
    """
    B = DT.shape[0]
    two = const(2.0, AT[0, 0])
    for b in range(B):
        _output_polynomial(b, theta, wrow, G, AT, YT, oL, K, quad, two, AB[b])
    return loss_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, acc, row, Q, AB, 4 if quad else 6, t, J0, scale)


@jit(NET)
def loss_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, acc, row, Q, AB, na, t, J0, scale):
    """``acc[r] = Σ_b Σ_m AB[b, m − 1]·D[b, r]ᵐ`` for the ``R`` rows of a block, from each sample's loss
    polynomial in the column's change (``na`` coefficients): by the series in the move when the block may
    take it (:func:`series_taken`), else row by row, one Horner evaluation of degree 4, 6, 12 or 18 (the
    least that holds ``na``) per row and sample, the changes D from ``DT`` or the column's cubic
    (:func:`column_row`).  Returns whether it took the series."""
    if series_taken(cubic, acc, AB, na, nc, inputs, G, MT, u0, SK, Q, t, J0, scale):
        return True
    XG = inputs[0]
    if cubic:
        column_inputs(inputs, nc)
    Ru = np.uint64(R)
    for r in range(Ru):
        acc[r] = 0.0
    for b in range(DT.shape[0]):
        D = column_row(b, DT, cubic, SK, nc, XG, G, MT, u0, row)
        if na <= 6:
            polynomial_rows(D, Ru, AB[b], na <= 4, acc)
        else:
            composed_rows(D, Ru, AB[b], na <= 12, acc)
    return False


@jit(NET)
def _output_polynomial(b, theta, wrow, G, AT, YT, oL, K, quad, two, a):
    """``a``: sample b's loss change over the K sigmoid outputs as a polynomial in the column's
    change D (see :func:`output_rows`)."""
    a[:] = 0.0
    for k in range(K):
        u = oL + k
        w = theta[wrow + k]
        _loss_polynomial(G[0, u, b] * w, G[1, u, b] * w * w, G[2, u, b] * w * w * w,
                         two * (AT[u, b] - YT[k, b]), quad, a)


@jit(NET)
def hidden_cubics(theta, arch, m, j, G, MT, C):
    """``C[(n − 1)·B + b, u] = M[b, u]·g_n[b, u]·W_m[j, u]ⁿ``: the change of layer m's unit u as a cubic in
    the change D of column j below it (``C`` is ``(3B, n_m)``).  Returns ``max_u |W_m[j, u]|`` (the
    layer-m cubics hold while ``max|D|`` times it is under :func:`cubic_limit`)."""
    n = arch[m, N_OUT]
    om = arch[m, OUT_OFF]
    row = arch[m, W_OFF] + j * n
    B = MT.shape[1]
    wmax = 0.0
    for u in range(n):
        w = theta[row + u]
        wmax = max(wmax, abs(w))
        for b in range(B):
            mask = MT[om + u, b]
            C[b, u] = mask * G[0, om + u, b] * w
            C[B + b, u] = mask * G[1, om + u, b] * w * w
            C[2 * B + b, u] = mask * G[2, om + u, b] * w * w * w
    return wmax


@jit(NET)
def hidden_coefficients(theta, arch, m, j, G, MT, C, P):
    """``P[(n − 1)·B + b, k] = Σ_u C_n[b, u]·W_q[u, k]`` with ``C_n[b, u] = M[b, u]·g_n[b, u]·W_m[j, u]ⁿ``
    (:func:`hidden_cubics`): the output's pre-activation change is ``Σ_n Dⁿ·P_n`` when column ``j`` below
    the sigmoid hidden layer ``m`` changes by D (``q = m + 1`` is the output layer).

    Returns ``max_u |W_m[j, u]|`` (the layer-m cubics hold while ``max|D|`` times it is
    under :func:`cubic_limit`).  ``C`` is ``(3B, n_m)``, ``P`` ``(3B, K)`` scratch.
    """
    n = arch[m, N_OUT]
    q = m + 1
    K = arch[q, N_OUT]
    wq = arch[q, W_OFF]
    W = theta[wq : wq + n * K].reshape((n, K))
    wmax = hidden_cubics(theta, arch, m, j, G, MT, C)
    np.dot(C, W, P)
    return wmax


@jit(NET)
def output_bound(P, B, dmax):
    """``max_{b,k} Σ_n dmaxⁿ·|P_n[b, k]|``: a bound of the output's |ΔZ| over the block."""
    K = P.shape[1]
    top = 0.0
    for b in range(B):
        for k in range(K):
            z = dmax * (abs(P[b, k]) + dmax * (abs(P[B + b, k]) + dmax * abs(P[2 * B + b, k])))
            top = max(top, z)
    return top


@jit(NET)
def composed_loss_polynomial(p1, p2, p3, e, ne, a, pw, nxt):
    """Add to ``a`` the coefficients of ``Σ_n e[n − 1]·zⁿ`` (n = 1 … ``ne``) as a polynomial in x,
    ``z = x·(p1 + x·(p2 + x·p3))``: ``a[m − 1]`` multiplies xᵐ, m = 1 … 3·ne.  ``pw`` and ``nxt`` are
    scratch of 3·ne + 1 entries (the coefficients of zⁿ, then of zⁿ⁺¹)."""
    pw[:] = 0.0
    pw[1] = p1
    pw[2] = p2
    pw[3] = p3
    for n in range(1, ne + 1):
        en = e[n - 1]
        for m in range(n, 3 * n + 1):
            a[m - 1] += en * pw[m]
        if n < ne:
            nxt[:] = 0.0
            for m in range(n, 3 * n + 1):
                v = pw[m]
                nxt[m + 1] += v * p1
                nxt[m + 2] += v * p2
                nxt[m + 3] += v * p3
            pw[:] = nxt


@jit(NET)
def _composed_quartic(p1, p2, p3, e1, e2, e3, e4, a):
    """:func:`composed_loss_polynomial` for ``ne = 4`` (the quadratic output route), written out:
    the coefficients of z², z³, z⁴ (``qn_m`` multiplies xᵐ in zⁿ) in registers rather than in scratch arrays."""
    q2_2 = p1 * p1
    q2_3 = p1 * p2 + p2 * p1
    q2_4 = p1 * p3 + p2 * p2 + p3 * p1
    q2_5 = p2 * p3 + p3 * p2
    q2_6 = p3 * p3
    q3_3 = q2_2 * p1
    q3_4 = q2_2 * p2 + q2_3 * p1
    q3_5 = q2_2 * p3 + q2_3 * p2 + q2_4 * p1
    q3_6 = q2_3 * p3 + q2_4 * p2 + q2_5 * p1
    q3_7 = q2_4 * p3 + q2_5 * p2 + q2_6 * p1
    q3_8 = q2_5 * p3 + q2_6 * p2
    q3_9 = q2_6 * p3
    q4_4 = q2_2 * q2_2
    q4_5 = q2_2 * q2_3 + q2_3 * q2_2
    q4_6 = q2_2 * q2_4 + q2_3 * q2_3 + q2_4 * q2_2
    q4_7 = q2_2 * q2_5 + q2_3 * q2_4 + q2_4 * q2_3 + q2_5 * q2_2
    q4_8 = q2_2 * q2_6 + q2_3 * q2_5 + q2_4 * q2_4 + q2_5 * q2_3 + q2_6 * q2_2
    q4_9 = q2_3 * q2_6 + q2_4 * q2_5 + q2_5 * q2_4 + q2_6 * q2_3
    q4_10 = q2_4 * q2_6 + q2_5 * q2_5 + q2_6 * q2_4
    q4_11 = q2_5 * q2_6 + q2_6 * q2_5
    q4_12 = q2_6 * q2_6
    a[0] += e1 * p1
    a[1] += e1 * p2 + e2 * q2_2
    a[2] += e1 * p3 + e2 * q2_3 + e3 * q3_3
    a[3] += e2 * q2_4 + e3 * q3_4 + e4 * q4_4
    a[4] += e2 * q2_5 + e3 * q3_5 + e4 * q4_5
    a[5] += e2 * q2_6 + e3 * q3_6 + e4 * q4_6
    a[6] += e3 * q3_7 + e4 * q4_7
    a[7] += e3 * q3_8 + e4 * q4_8
    a[8] += e3 * q3_9 + e4 * q4_9
    a[9] += e4 * q4_10
    a[10] += e4 * q4_11
    a[11] += e4 * q4_12



@jit(NET)
def composed_rows(D, Ru, a, quad, acc):
    """``acc[r] += Σ_m a[m − 1]·D[r]ᵐ`` (Horner; degree 12 when ``quad``, else 18), over rows ``r < Ru``."""
    if quad:
        a1, a2, a3, a4, a5, a6 = a[0], a[1], a[2], a[3], a[4], a[5]
        a7, a8, a9, a10, a11, a12 = a[6], a[7], a[8], a[9], a[10], a[11]
        for r in range(Ru):
            x = D[r]
            acc[r] += x * (a1 + x * (a2 + x * (a3 + x * (a4 + x * (a5 + x * (a6 + x * (a7 + x * (a8 + x * (a9 +
                  x * (a10 + x * (a11 + x * a12)))))))))))
    else:
        a1, a2, a3, a4, a5, a6, a7, a8, a9 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
        a10, a11, a12, a13, a14, a15, a16, a17, a18 = a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]
        for r in range(Ru):
            x = D[r]
            acc[r] += x * (a1 + x * (a2 + x * (a3 + x * (a4 + x * (a5 + x * (a6 + x * (a7 + x * (a8 + x * (a9 +
                  x * (a10 + x * (a11 + x * (a12 + x * (a13 + x * (a14 + x * (a15 + x * (a16 + x * (a17 +
                  x * a18)))))))))))))))))


@jit(NET)
def hidden_output_rows(DT, cubic, SK, nc, inputs, MT, u0, R, P, G, AT, YT, oL, K, quad, acc, row, Q, AB, t, J0,
                       scale):
    """``acc[r] = Σ_b Σ_k d·(d + 2(a − y))`` for a column two layers below the sigmoid output:
    ``δ = Σ_n D[b, r]ⁿ·P_n[b, k]`` (see :func:`hidden_coefficients`), ``d`` the output's
    cubic in δ (quadratic when ``quad``); ``D`` as in :func:`output_rows`.

    As there, the sum over the K outputs is one polynomial in D per sample: each output's
    loss change is a polynomial in δ (:func:`_loss_polynomial`), composed with δ's cubic in D
    (:func:`composed_loss_polynomial`; degree 12, or 18 for the cubic), the K of them summed
    coefficient by coefficient, and each row pays one Horner evaluation (:func:`composed_rows`)
    instead of K cubics and K loss polynomials.  A sigmoid column takes the series in the move
    when it may, as in :func:`output_rows` (and returns whether it did)."""
    B = DT.shape[0]
    two = const(2.0, AT[0, 0])
    e = np.zeros(6, AT.dtype)
    pw = np.zeros(19, AT.dtype)
    nxt = np.zeros(19, AT.dtype)
    ne = 4 if quad else 6
    for b in range(B):
        _hidden_polynomial(b, P, G, AT, YT, oL, K, quad, two, ne, e, AB[b], pw, nxt)
    return loss_rows(DT, cubic, SK, nc, inputs, MT, G, u0, R, acc, row, Q, AB, 3 * ne, t, J0, scale)


@jit(NET)
def _hidden_polynomial(b, P, G, AT, YT, oL, K, quad, two, ne, e, a, pw, nxt):
    """``a``: sample b's loss change over the K sigmoid outputs as a polynomial in the column's
    change D, through the hidden layer's cubics ``P`` (see :func:`hidden_output_rows`)."""
    B = P.shape[0] // 3
    a[:] = 0.0
    for k in range(K):
        u = oL + k
        e[:] = 0.0
        _loss_polynomial(G[0, u, b], G[1, u, b], G[2, u, b], two * (AT[u, b] - YT[k, b]), quad, e)
        if quad:
            _composed_quartic(P[b, k], P[B + b, k], P[2 * B + b, k], e[0], e[1], e[2], e[3], a)
        else:
            composed_loss_polynomial(P[b, k], P[B + b, k], P[2 * B + b, k], e, ne, a, pw, nxt)
