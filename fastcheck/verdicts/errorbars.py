"""Error bars of the difference quotients, and the per-coordinate judgement they give.

A coordinate is judged in up to three passes, each paid only by the
coordinates the previous one could not settle:

1. **the check's own step** h: the quotient ĝ and its round-off bound
   ν = 4·ε·Σ|w_k·J_k|/h (ε of the precision the cost computes in).  It
   agrees when |g − ĝ| is below the ``great`` band relative to the larger of
   the two, or below ν while ν is small next to the gradient's scale S (the
   largest |g| or |ĝ| checked): a difference at the round-off level says
   nothing when the gradient itself is at that level.
2. **a second step 2h** (same scheme): the error bar becomes
   ν + |ĝ_h − ĝ_2h| (the truncation the estimate still carries, and the
   round-off the two estimates show).  Agreement within ``MARGIN`` error
   bars, with a bar that resolves the gradient, settles it.
3. **a ladder of steps** 64h … h/4096 (:mod:`fastcheck.verdicts.ladder`): Richardson's
   best estimate and its error bar; the one-sided slopes tell a kink
   (:mod:`fastcheck.verdicts.kinks`); where the bar is still too wide, or the
   coordinate looks wrong, the complex step (when the cost takes complex
   input) confirms or clears it.  A block stops being laddered as soon as one of its
   coordinates is confirmed wrong, so a failing check stays cheap.

Outcomes per coordinate: ``agree``, ``zero`` (the cost did not move and the
gradient is exactly 0), ``wrong`` (the discrepancy exceeds ``MARGIN`` error
bars), ``kink``, ``inconclusive`` (the error bar is too wide to read the
gradient at all) and ``nonfinite``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fastcheck import config
from fastcheck.core.steps import get_scheme
from fastcheck.verdicts import kinks, ladder

#: Status codes (int8 per coordinate; :data:`STATUS_NAMES` spells them).
AGREE, ZERO, WRONG, KINK, INCONCLUSIVE, NONFINITE = range(6)
STATUS_NAMES = np.array(["agree", "zero", "wrong", "kink", "inconclusive", "nonfinite"], dtype=object)
#: Statuses whose entries the difference reads (kinks and non-finite costs are left out).
COUNTED = (AGREE, ZERO, WRONG, INCONCLUSIVE)
#: Codes of why a coordinate is inconclusive (0: it is not); :data:`WHY_NAMES` keys :data:`SETTLE`.
ROUNDOFF, CONVERGE, NONFINITE_COST, ZEROS = 1, 2, 3, 4
WHY_NAMES = ("", "roundoff", "converge", "nonfinite", "zeros")

#: How to settle each kind of inconclusive coordinate (shown in the report).
SETTLE = {
    "roundoff": "round-off of the cost swamps the gradient here; a float64 cost, a larger step or scheme='complex' would settle it",
    "converge": "the difference quotients did not settle as the step shrank; a smaller step or scheme='complex' would settle it",
    "nonfinite": "the cost is not finite at perturbed points; a smaller eps, or a point inside the cost's domain, would settle it",
    "zeros": "the sample saw only zero gradients in this block; check more of its coordinates (a larger sample, or all)",
    "kinks": "every checked coordinate of this block sits at a kink; a point off the corners, or more coordinates, would settle it",
}

#: Columns of the kinks table of a result (:attr:`fastcheck.checks.result.CheckResult.kinks`).
KINK_COLUMNS = ["block", "index", "coord", "analytic", "numerical", "left", "right"]


@dataclass
class Judgement:
    """Per checked coordinate: best numerical estimate, its error bar, status; and the kinks found."""

    estimate: np.ndarray
    error: np.ndarray
    status: np.ndarray
    why: np.ndarray  # WHY code for inconclusive coordinates, 0 otherwise
    kink_left: np.ndarray
    kink_right: np.ndarray
    n_evals: int = 0
    refined: int = 0


class StencilSums(NamedTuple):
    """What :func:`stencil_sums` returns, per coordinate."""

    acc: np.ndarray  # Σ w_k·J_k
    mag: np.ndarray  # Σ |w_k·J_k| (the round-off bound's sum)
    finite: np.ndarray  # bool: every cost of the stencil is finite
    costs: np.ndarray  # (n, len(offsets)) the stencil's costs, J(θ) in the unmoved columns
    n_evals: int  # cost evaluations spent


class Quotients(NamedTuple):
    """A scheme's quotients at a given step and their round-off (:func:`_quotients`)."""

    estimate: np.ndarray
    noise: np.ndarray
    finite: np.ndarray
    n_evals: int


class LadderReading(NamedTuple):
    """The judgement :func:`read_ladder` gives laddered entries, one entry per row."""

    estimate: np.ndarray  # Richardson's best estimate
    error: np.ndarray  # its error bar, with the relative floor
    status: np.ndarray  # int8 status codes (AGREE … NONFINITE)
    why: np.ndarray  # int8 WHY code of an inconclusive entry, 0 otherwise
    left: np.ndarray  # one-sided slopes of entries at a kink (NaN elsewhere)
    right: np.ndarray


def first_pass(analytic, numerical, noise, finite, still, scale_all, great):
    """Pass 1 on the check's own quotients: which coordinates agree outright."""
    err = np.abs(analytic - numerical)
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    resolved = noise <= config.RESOLVE * scale_all
    return finite & ((err <= great * scale) | ((err <= noise) & resolved) | still)


def judge(ev, theta, coords, block_ids, scheme, steps, f0, costs, numerical, noise, finite, analytic, *,
          mach, great, exact_kinks=None, refine=True) -> Judgement:
    """Judge every checked coordinate (see the module docstring).

    ``costs`` are the perturbed costs of the check's own stencil (``None``
    for the complex step); ``exact_kinks`` the evaluator's own kink flags
    (the built-in networks), which are taken as they are.
    """
    scheme = get_scheme(scheme)
    n = len(coords)
    a = analytic
    est = np.where(finite, numerical, np.nan)
    error = np.where(finite, noise, np.nan)
    status = np.full(n, AGREE, dtype=np.int8)
    why = np.zeros(n, dtype=np.int8)
    left = np.full(n, np.nan)
    right = np.full(n, np.nan)
    status[~finite] = NONFINITE
    why[~finite] = NONFINITE_COST
    exact = np.zeros(n, bool) if exact_kinks is None else np.asarray(exact_kinks, bool) & finite
    status[exact] = KINK
    if costs is not None and exact.any():
        left[exact], right[exact] = _one_sided(costs[exact], scheme, steps[exact], f0)
    live = finite & ~exact
    # The cost did not move at all and the gradient says 0: nothing to doubt.
    still = np.zeros(n, bool)
    if costs is not None:
        still = live & (a == 0) & np.all(costs == f0, axis=1)
    status[still] = ZERO
    scale_all = gradient_scale(a, est, live, noise)
    agree = first_pass(a, est, noise, live, still, scale_all, great)
    pending = live & ~agree
    out = Judgement(est, error, status, why, left, right)
    if not pending.any():
        return out
    if not refine:
        _settle_without_refinement(out, a, pending, scale_all)
        return out
    # pass 2: the same scheme at 2h
    if not scheme.complex and costs is not None:
        idx = np.flatnonzero(pending)
        g2, noise2, fin2, n2 = _quotients(ev, theta, coords[idx], scheme, 2.0 * steps[idx], f0, mach)
        out.n_evals += n2
        bar = noise[idx] + np.abs(est[idx] - g2)
        bar = np.where(fin2, bar, np.inf)
        error[idx] = np.where(fin2, bar, error[idx])
        ok = (np.abs(a[idx] - est[idx]) <= config.MARGIN * bar) & (bar <= config.RESOLVE * scale_all)
        pending[idx[ok]] = False
        if not pending.any():
            return out
    _ladder_pass(out, ev, theta, coords, block_ids, pending, f0, a, mach, scale_all, great)
    return out


def gradient_scale(a, g, live, noise):
    """The gradient's scale S: the largest |analytic| or the largest |numerical| beyond its own
    round-off (a quotient made of round-off alone says nothing about the gradient's size)."""
    if not live.any():
        return 0.0
    beyond = np.abs(g[live]) - noise[live]
    top = max(float(np.max(np.abs(a[live]))), float(np.max(beyond, initial=0.0, where=np.isfinite(beyond))))
    return max(top, 0.0)


def _settle_without_refinement(out, a, pending, scale_all):
    """Without refinement: wrong beyond the margin, otherwise inconclusive."""
    idx = np.flatnonzero(pending)
    beyond = np.abs(a[idx] - out.estimate[idx]) > config.MARGIN * out.error[idx]
    out.status[idx] = np.where(beyond, WRONG, INCONCLUSIVE)
    out.why[idx[~beyond]] = ROUNDOFF


def _one_sided(costs, scheme, steps, f0):
    """Left and right slopes from a stencil that has offsets −1 and +1 (else NaN)."""
    offs = list(scheme.offsets)
    n = len(steps)
    left = np.full(n, np.nan)
    right = np.full(n, np.nan)
    moved = [c for c in offs if c != 0]
    if -1.0 in moved:
        left = (f0 - costs[:, moved.index(-1.0)]) / steps
    if 1.0 in moved:
        right = (costs[:, moved.index(1.0)] - f0) / steps
    return left, right


def _quotients(ev, theta, coords, scheme, h, f0, mach) -> Quotients:
    """The scheme's quotient with absolute steps ``h`` (effective steps recomputed), and its round-off."""
    x = theta[coords]
    h_eff = ((x + h.astype(theta.dtype)) - x).astype(np.float64)
    h_eff = np.where(h_eff == 0, h, h_eff)
    acc, mag, fin, _, n_evals = stencil_sums(ev, theta, coords, scheme, h_eff, f0)
    return Quotients(acc / h_eff, 4 * mach * mag / h_eff, fin, n_evals)


def stencil_sums(ev, theta, coords, scheme, steps, f0) -> StencilSums:
    """Σ w_k·J(θ + o_k·h·e_i) and Σ |w_k·J_k| per coordinate, the stencil's costs and their finiteness.

    Returns :class:`StencilSums` ``(acc, mag, finite, costs, n_evals)``.  The weights are summed
    in the scheme's fixed order, so every path rounds the combination alike.
    """
    offsets = np.asarray(scheme.offsets)
    moved = offsets != 0
    costs = np.empty((len(coords), len(offsets)))
    costs[:, ~moved] = f0
    costs[:, moved] = ev.stencil(theta, coords, steps, offsets[moved])
    finite = np.isfinite(costs).all(axis=1)
    acc = np.zeros(len(coords))
    mag = np.zeros(len(coords))
    for k, w in enumerate(scheme.weights):
        acc += w * costs[:, k]
        mag += np.abs(w * costs[:, k])
    return StencilSums(acc, mag, finite, costs, int(moved.sum()) * len(coords))


def ladder_base(theta, coords, mach):
    """Base step of a ladder: the central scheme's optimal step for this precision."""
    x = np.abs(theta[coords].astype(np.float64))
    return mach ** (1.0 / 3.0) * np.maximum(1.0, x)


def _ladder_pass(out, ev, theta, coords, block_ids, pending, f0, a, mach, scale_all, great):
    """Pass 3, block by block in rounds of ``config.REFINE_BATCH`` worst-first coordinates.

    The error bars here get a relative floor, ``great``·max(|g|, |ĝ|): a cost's own
    rounding is not always noise (1 − cos x is exactly 0 in float64 for |x| < 1e-8),
    and a systematic deviation that small is no evidence of a bug.
    """
    est, error, status, why = out.estimate, out.error, out.status, out.why
    ratio = np.abs(a - est) / np.where(error > 0, error, np.inf)
    order = np.flatnonzero(pending)
    order = order[np.argsort(-np.nan_to_num(ratio[order], nan=np.inf), kind="stable")]
    queues = {}
    for j in order:
        queues.setdefault(int(block_ids[j]), []).append(j)
    closed = set()
    first_rung = ladder.REFINE_RUNGS.index(1)  # steps up to 2h tell a kink
    while True:
        batch = []
        for b, q in queues.items():
            if b in closed or not q:
                continue
            batch += q[: config.REFINE_BATCH]
            del q[: config.REFINE_BATCH]
        if not batch:
            break
        idx = np.asarray(batch, np.int64)
        base = ladder_base(theta, coords[idx], mach)
        lad, n_ev = ladder.evaluate(ev, theta, coords[idx], base, f0, mach)
        out.n_evals += n_ev
        out.refined += len(idx)
        g, e, st, wy, kl, kr = read_ladder(a[idx], lad, first_rung, great, scale_all)
        fin = lad.finite
        est[idx[fin]], error[idx[fin]] = g[fin], e[fin]
        status[idx], why[idx] = st, wy
        out.kink_left[idx], out.kink_right[idx] = kl, kr
        undecided = idx[status[idx] == INCONCLUSIVE]
        undecided = undecided[why[undecided] != NONFINITE_COST]
        doubted = idx[status[idx] == WRONG]
        if len(undecided) or len(doubted):
            out.n_evals += _complex_pass(out, ev, theta, coords, np.concatenate([undecided, doubted]), a, mach,
                                         scale_all, great)
        for j in idx:
            if status[j] == WRONG:
                closed.add(int(block_ids[j]))
    # coordinates left in closed blocks: their block is wrong already; keep the two-step reading
    for b in closed:
        for j in queues.get(b, []):
            beyond = abs(a[j] - est[j]) > config.MARGIN * error[j]
            status[j] = WRONG if beyond else INCONCLUSIVE
            if not beyond:
                why[j] = CONVERGE


def read_ladder(a, lad, first_rung, great, scale_all, near_corner_sides=False) -> LadderReading:
    """Judge laddered entries (coordinates or directions) against their analytic values ``a``.

    The error bars get a relative floor, ``great``·max(|g|, |ĝ|).  With
    ``near_corner_sides`` a corner within the step also accepts an analytic
    value between its one-sided slopes (θ's own side is one of them), as a
    corner at θ does: for a ladder too short to reach below the corner.  Returns
    :class:`LadderReading` ``(estimate, error, status, why, left, right)``; ``left``/``right``
    are the one-sided slopes of entries at a kink (NaN elsewhere).
    """
    kink, at_theta, kl, kr = kinks.find(lad, first_rung)
    g = lad.estimate
    e = np.maximum(lad.error, great * np.maximum(np.abs(g), np.abs(a)))
    n = len(a)
    status = np.full(n, AGREE, dtype=np.int8)
    why = np.zeros(n, dtype=np.int8)
    left, right = np.full(n, np.nan), np.full(n, np.nan)
    for r in range(n):
        if not lad.finite[r]:
            status[r], why[r] = INCONCLUSIVE, NONFINITE_COST
            continue
        dev = abs(a[r] - g[r])
        lo, hi = min(kl[r], kr[r]), max(kl[r], kr[r])
        tol = config.MARGIN * e[r] + 0.05 * (hi - lo)
        inside = lo - tol <= a[r] <= hi + tol
        if kink[r] and at_theta[r]:
            # a corner at θ: backprop may take either side's slope (or one between)
            left[r], right[r] = kl[r], kr[r]
            status[r] = KINK if (inside or dev <= config.MARGIN * e[r]) else WRONG
        elif kink[r]:
            # a corner within the step: below it the cost is smooth and the small steps decide
            left[r], right[r] = kl[r], kr[r]
            status[r] = KINK if (dev <= config.MARGIN * e[r] or (near_corner_sides and inside)) else WRONG
        elif dev > config.MARGIN * e[r]:
            status[r] = WRONG
        elif e[r] <= config.RESOLVE * scale_all:
            status[r] = AGREE
        else:
            status[r], why[r] = INCONCLUSIVE, (ROUNDOFF if lad.roundoff[r, -1] >= e[r] / 4 else CONVERGE)
    return LadderReading(g, e, status, why, left, right)


def ladder_directions(ev, theta, lo, start, dirvals, steps, f0, grad, ana, finite, status, why, error, est, mach,
                      scale_all, great):
    """Pass 3 for a directional check: the directions still wrong or undecided after the second
    step get a ladder of steps along u (:func:`fastcheck.verdicts.ladder.evaluate_directions`):
    Richardson's estimate, its error bar, and the kink test on the one-sided slopes along u.

    ``grad`` is the analytic gradient (θ-long), ``ana`` the analytic u·g of every direction;
    ``status``, ``why``, ``error`` and ``est`` are updated in place (a direction whose ladder
    had no finite costs keeps the two-step reading).  Returns ``(n_evals, left, right)``, the
    one-sided slopes of the directions at a kink (NaN elsewhere).
    """
    n = len(lo)
    left, right = np.full(n, np.nan), np.full(n, np.nan)
    idx = np.flatnonzero(np.isin(status, (WRONG, INCONCLUSIVE)) & finite)
    if not len(idx):
        return 0, left, right
    sub = np.concatenate([dirvals[start[d] : start[d + 1]] for d in idx])
    sub_start = np.concatenate([[0], np.cumsum(np.diff(start)[idx])]).astype(np.int64)
    lad, n_ev = ladder.evaluate_directions(ev, theta, lo[idx], sub_start, sub, steps[idx], f0, mach, grad)
    first_rung = ladder.DIRECTION_RUNGS.index(1)  # steps up to 2h tell a kink
    g, e, st, wy, left[idx], right[idx] = read_ladder(ana[idx], lad, first_rung, great, scale_all)
    keep = wy != NONFINITE_COST
    sel = idx[keep]
    est[sel], error[sel], status[sel], why[sel] = g[keep], e[keep], st[keep], wy[keep]
    return n_ev, left, right


def direction_kinks(names, dblock, status, ana, est, left, right):
    """``result.kinks`` of a directional check: one row per direction at a kink, indexed ``u<d>``."""
    import pandas as pd


    d = np.flatnonzero(status == KINK)
    return pd.DataFrame({"block": [names[b] for b in dblock[d]], "index": [f"u{k}" for k in d], "coord": d,
                         "analytic": ana[d], "numerical": est[d], "left": left[d], "right": right[d]},
                        columns=KINK_COLUMNS)


def _complex_pass(out, ev, theta, coords, idx, a, mach, scale_all, great) -> int:
    """The complex step, for coordinates the ladder left undecided or found wrong.

    It differentiates the cost *as written* (its analytic continuation), with no
    cancellation, so it sees what a real step cannot when the cost's rounding is
    systematic rather than noise (1 − cos x is exactly 0 in float64 for |x| < 1e-8,
    yet its derivative is not).  It is trusted only to confirm: an undecided
    coordinate is settled when the complex step agrees with the ladder's estimate;
    a wrong one is cleared only when the complex step matches the analytic value to
    its own precision (a cost that is not complex-safe, say through ``abs``, cannot
    fake that).
    """
    if not ev.caps.complex_step or not len(idx):
        return 0
    cs = get_scheme("complex")
    x = np.abs(theta[coords[idx]].astype(np.float64))
    h = cs.relative_step(theta.dtype) * np.maximum(1.0, x)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a cost that casts complex to real (float(), np.real) drops the step: not complex-safe
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            gc = np.asarray(ev.complex_step(theta, coords[idx], h), np.float64) / h
    except Exception:  # the cost does not take complex input: the ladder's reading stands
        return 0
    for r, j in enumerate(idx):
        if not np.isfinite(gc[r]):
            continue
        ec = max(8 * mach, great) * max(abs(gc[r]), abs(a[j]))
        matches = abs(a[j] - gc[r]) <= config.MARGIN * ec
        if out.status[j] == WRONG:
            # clear only with a non-zero complex derivative near the real steps' reading (a cost
            # that drops the imaginary part gives exactly 0, which a buggy 0 would "match")
            near = abs(gc[r] - out.estimate[j]) <= 1e-3 * abs(out.estimate[j]) + config.MARGIN * out.error[j]
            if matches and gc[r] != 0 and near:
                out.estimate[j], out.error[j] = gc[r], ec
                out.status[j], out.why[j] = AGREE, 0
            continue
        if abs(gc[r] - out.estimate[j]) > config.MARGIN * out.error[j]:
            continue  # not consistent with the real steps: do not trust it
        out.estimate[j], out.error[j] = gc[r], ec
        if not matches and ec <= config.RESOLVE * scale_all:
            out.status[j], out.why[j] = WRONG, 0
        elif ec <= config.RESOLVE * scale_all:
            out.status[j], out.why[j] = AGREE, 0
    return len(idx)
