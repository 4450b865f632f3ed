"""Reading the error-versus-ε picture: truncation order, round-off slope, best ε.

For a difference scheme of order p the error of the numerical gradient is
roughly

    E(ε) ≈ C_t·ε^p  +  C_r·u/ε,

truncation on the right (large ε, slope p in log-log) and round-off on the
left (small ε, slope −1; u is the unit round-off of the dtype), meeting in a
V whose bottom is the best ε and the error floor.  The complex step has no
subtraction, hence no round-off branch: its error falls as ε² and then stays
at the floor.

:func:`fit_curve` reads one such curve in four steps, each built to survive
what real curves do near the bottom:

1. **Usable points.**  A step whose stencil produced a non-finite cost at some
   coordinate scores only the finite coordinates, so its error says nothing
   about the step: it is left out of everything below (and counted).  So are
   steps with no error at all (below the dtype's resolution, say).
2. **Lucky points.**  Near the bottom the errors are round-off: they come in
   quanta of an ulp of the gradient and scatter by factors of 2–4, and any
   one of them may land far below the rest (0, or 1e-18 on a 1e-16 plateau:
   which one does depends on the CPU's rounding).  A point more than
   ``lucky`` times below the median of itself and its two neighbours (the
   window shifted inwards at the ends, never padded with copies of the end
   point) is such a point, and so is an error of exactly 0: they are kept
   out of the floor, the best ε and the branches.
3. **Floor and best ε.**  The floor is the smallest remaining error; the best
   ε is the largest step whose error is within a factor ``tie`` of it: the
   bottom of a V, or the start of a plateau (every step on a plateau is as
   good; the largest is the safest).
4. **Branches.**  A point is on the truncation branch if it lies right of the
   best ε, at least ``margin`` times above the floor, and is not
   pre-asymptotic (its relative error, when given, is below
   ``max_relative``: there the expansion behind the slope does not hold yet);
   on the round-off branch if it lies left of the best ε and ``margin`` times
   above the floor.  "Above the floor" means above the typical level around
   the best ε (not its smallest quantum), and a branch runs without a gap
   from its end of the curve, so round-off stragglers beyond a dip stay out.  Each branch is fitted by Theil–Sen (the median of
   pairwise slopes), and kept only if it has ``min_points`` points and its
   slope has the branch's sign with a confidence interval that excludes 0 —
   round-off scatter on a plateau has no slope to report.

Every NaN slope comes with a note saying why (too few points, an exact
scheme, no subtraction, scatter), and the table counts the points left out.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastcheck.core.steps import SCHEMES

if TYPE_CHECKING:
    import pandas as pd

FIT_COLUMNS = [
    "problem", "n_params", "scheme", "dtype", "order", "truncation_slope", "truncation_points",
    "roundoff_slope", "roundoff_points", "best_eps", "floor", "predicted_eps",
    "truncation_note", "roundoff_note", "usable_points", "nonfinite_points", "missing_points",
    "preasymptotic_points", "truncation_intercept", "truncation_eps_min", "truncation_eps_max",
    "roundoff_intercept", "roundoff_eps_min", "roundoff_eps_max", "metric",
]

_BRANCH_KEYS = ("slope", "intercept", "points", "eps_min", "eps_max", "note")

#: Why a slope is NaN (the ``*_note`` columns).
NOTES = {
    "few": "too few points on the branch ({k} < {m})",
    "exact": "no truncation branch: the error does not grow with ε over the steps swept "
             "(the scheme is exact on this function up to round-off, or every step is too small to see truncation)",
    "no_roundoff": "no round-off branch: the error does not grow as ε shrinks (no subtraction, or steps not small enough)",
    "complex": "no round-off branch: the complex step has no subtraction",
    "scatter": "no clear slope: the points above the floor scatter (round-off), they do not follow a line",
    "none": "no usable points",
}


def _median3(r: np.ndarray) -> np.ndarray:
    """Median of each point and its two neighbours; at the ends the window is shifted inwards."""
    n = len(r)
    if n < 3:  # too few neighbours to call any point an outlier
        return r.copy()
    lo = np.clip(np.arange(n) - 1, 0, n - 3)
    return np.median(np.stack([r[lo], r[lo + 1], r[lo + 2]]), axis=0)


def _branch(log_eps, log_err, mask, min_points, sign) -> dict:
    k = int(mask.sum())
    out = dict.fromkeys(_BRANCH_KEYS[:2] + _BRANCH_KEYS[3:5], np.nan)
    out.update(points=k, note="")
    if k < min_points:
        out["note"] = "few"
        return out
    x, y = log_eps[mask], log_err[mask]
    from scipy import stats

    slope, intercept, low, high = stats.theilslopes(y, x, alpha=0.90)
    if not (sign * low > 0 and sign * high > 0):  # a line with the branch's sign, or nothing
        out["note"] = "scatter"
        return out
    out.update(slope=float(slope), intercept=float(intercept), eps_min=float(10 ** x.min()),
               eps_max=float(10 ** x.max()))
    return out


def fit_curve(eps, err, *, nonfinite=None, relative=None, margin: float = 3.0, tie: float = 1.25, lucky: float = 4.0,
              min_points: int = 3, max_relative: float = 0.1, roundoff: bool = True) -> dict:
    """Slopes, best ε and floor of one error curve.

    Parameters
    ----------
    eps, err : array
        Steps and errors.  Points with a NaN, infinite or negative error, or a
        non-positive step, are left out (counted in ``missing_points``).
    nonfinite : array of int, optional
        Per step, how many coordinates had a non-finite perturbed cost; steps
        with any are left out of the best ε, the floor and both branches
        (counted in ``nonfinite_points``).
    relative : array, optional
        Per step, the relative size of the error (e.g. the sweep's
        ``difference``); truncation points above ``max_relative`` are
        pre-asymptotic and not fitted (counted in ``preasymptotic_points``).
    margin : float
        A branch point lies at least ``margin`` times above the floor.
    lucky : float
        A point this many times below the median of its neighbourhood is
        round-off luck, not the floor.
    tie : float
        Steps whose error is within ``tie`` times the floor tie for the best
        ε; the largest wins.
    min_points : int
        Fewer points on a branch give a NaN slope.
    max_relative : float
        See ``relative``.
    roundoff : bool
        False for a scheme without a round-off branch (the complex step): its
        round-off slope is NaN by construction.

    Returns
    -------
    dict
        ``truncation_slope`` / ``_intercept`` / ``_points`` / ``_eps_min`` /
        ``_eps_max`` / ``_note``, the same for ``roundoff``, ``best_eps``,
        ``floor``, ``usable_points``, ``nonfinite_points``,
        ``missing_points``, ``preasymptotic_points``.  Intercepts are of
        log10(err) against log10(eps); a note is empty when its slope is
        fitted and says why when it is NaN.
    """
    eps = np.asarray(eps, dtype=np.float64).reshape(-1)
    err = np.asarray(err, dtype=np.float64).reshape(-1)
    if eps.shape != err.shape:
        raise ValueError(f"eps and err must have the same length, got {eps.size} and {err.size}")
    bad_costs = np.zeros(eps.size, bool) if nonfinite is None else np.asarray(nonfinite).reshape(-1) > 0
    rel = np.zeros(eps.size) if relative is None else np.asarray(relative, dtype=np.float64).reshape(-1)
    if bad_costs.shape != eps.shape or rel.shape != eps.shape:
        raise ValueError("nonfinite and relative must have one value per step")
    measured = np.isfinite(err) & (err >= 0) & np.isfinite(eps) & (eps > 0)
    ok = measured & ~bad_costs
    out = {f"{b}_{k}": (0 if k == "points" else np.nan) for b in ("truncation", "roundoff") for k in _BRANCH_KEYS}
    out.update(best_eps=np.nan, floor=np.nan, usable_points=int(ok.sum()),
               nonfinite_points=int(bad_costs.sum()), missing_points=int((~measured & ~bad_costs).sum()),
               preasymptotic_points=0, truncation_note=NOTES["none"],
               roundoff_note=NOTES["none"] if roundoff else NOTES["complex"])
    if not ok.any():
        return out
    order = np.argsort(eps[ok], kind="stable")
    e, r, rr = eps[ok][order], err[ok][order], rel[ok][order]
    positive = r > 0
    # Exact zeros (an error below the gradient's last bit) and lucky points
    # are kept out of the floor and the best ε: only positive errors near
    # their neighbours' level say where the bottom is.
    level = np.zeros_like(r)
    level[positive] = _median3(r[positive])
    lucky_point = ~positive | (r * lucky < level)
    if lucky_point.all():  # nothing but zeros: the error is below resolution at every step
        out.update(best_eps=float(e[-1]), floor=float(r.min()))
        out["truncation_note"] = NOTES["exact"]
        if roundoff:
            out["roundoff_note"] = NOTES["no_roundoff"]
        return out
    floor = float(r[~lucky_point].min())
    best = int(np.flatnonzero(~lucky_point & (r <= tie * floor))[-1])
    out.update(best_eps=float(e[best]), floor=floor)
    # Branches start clearly above the bottom's typical level (the median
    # around the best ε, not its smallest quantum) and run without a gap from
    # the ends of the curve: a round-off straggler on the far side of a dip
    # below the threshold belongs to the bottom, not to a branch.
    threshold = margin * max(floor, float(level[best]))
    log_e = np.log10(e)
    log_r = np.log10(np.where(positive, r, 1.0))

    def run(indices):
        on = np.zeros(len(r), bool)
        for i in indices:
            if lucky_point[i]:
                continue
            if r[i] < threshold:
                break
            on[i] = True
        return on

    right = run(range(len(r) - 1, best, -1))
    pre = right & (rr > max_relative)
    out["preasymptotic_points"] = int(pre.sum())
    branches = {"truncation": (right & ~pre, +1)}
    if roundoff:
        branches["roundoff"] = (run(range(best)), -1)
    for name, (mask, sign) in branches.items():
        fit = _branch(log_e, log_r, mask, min_points, sign)
        note = fit.pop("note")
        if note == "few" and fit["points"] == 0:
            note = "exact" if name == "truncation" else "no_roundoff"
        out.update({f"{name}_{k}": v for k, v in fit.items()})
        out[f"{name}_note"] = NOTES[note].format(k=fit["points"], m=min_points) if note else ""
    return out


def fit_orders(df: pd.DataFrame, *, metric: str = "max_abs_err", margin: float = 3.0, tie: float = 1.25,
               lucky: float = 4.0, min_points: int = 3, max_relative: float = 0.1) -> pd.DataFrame:
    """Fit each (problem, scheme, dtype) curve of an eps sweep.

    Parameters
    ----------
    df : DataFrame
        The table of :func:`fastcheck.sweep.eps_sweep`.  Steps with
        non-finite perturbed costs (``n_nonfinite`` > 0) are left out of the
        fit; steps whose ``difference`` exceeds ``max_relative`` are left off
        the truncation branch.
    metric : str
        Error column to fit (``max_abs_err``, ``difference`` or ``median_rel_err``).
    margin, tie, lucky, min_points, max_relative
        See :func:`fit_curve`.

    Returns
    -------
    DataFrame
        One row per (problem, scheme, dtype): the scheme's theoretical
        ``order``; ``truncation_slope`` (≈ 1 forward, 2 central and complex,
        4 central4); ``roundoff_slope`` (≈ −1; NaN for the complex step,
        which has no round-off branch); the points on each branch and a note
        saying why a slope is NaN; ``best_eps`` (every coordinate finite
        there) and the error ``floor``; ``predicted_eps``, the textbook
        optimum u^(1/(p+1)) for a unit-scale cost (the scheme's default
        relative step); the steps left out (``nonfinite_points``,
        ``missing_points``, ``preasymptotic_points``) and the fitted lines
        for plotting.
    """
    import pandas as pd

    need = {"problem", "scheme", "dtype", "eps", metric}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"fit_orders needs an eps sweep table; missing columns {sorted(missing)}")
    rows = []
    for (problem, scheme, dtype), g in df.groupby(["problem", "scheme", "dtype"], sort=False):
        s = SCHEMES.get(scheme)
        fit = fit_curve(
            g["eps"].to_numpy(), g[metric].to_numpy(),
            nonfinite=g["n_nonfinite"].to_numpy() if "n_nonfinite" in g else None,
            relative=g["difference"].to_numpy() if "difference" in g else None,
            margin=margin, tie=tie, lucky=lucky, min_points=min_points, max_relative=max_relative,
            roundoff=not (s is not None and s.complex),
        )
        rows.append({
            "problem": problem,
            "n_params": int(g["n_params"].iloc[0]) if "n_params" in g else 0,
            "scheme": scheme,
            "dtype": dtype,
            "order": s.order if s else np.nan,
            "predicted_eps": s.relative_step(np.dtype(dtype)) if s and not s.complex else np.nan,
            "metric": metric,
            **fit,
        })
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def fit_notes(fits: pd.DataFrame) -> list[str]:
    """One line per NaN slope or left-out step of a :func:`fit_orders` table, saying why."""
    lines = []
    for _, f in fits.iterrows():
        label = f"{f['problem']} {f['scheme']} {f['dtype']}"
        for branch in ("truncation", "roundoff"):
            if f[f"{branch}_note"]:
                lines.append(f"{label}: {f[f'{branch}_note']}")
        if f["nonfinite_points"]:
            lines.append(f"{label}: {f['nonfinite_points']} step(s) left out: non-finite cost at some coordinate")
        if f["preasymptotic_points"]:
            lines.append(f"{label}: {f['preasymptotic_points']} large step(s) left off the truncation branch: "
                         "relative error above 0.1, before the expansion holds")
    return lines


def best_rows(df: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """The rows of an eps sweep at each curve's fitted best ε."""
    key = ["problem", "scheme", "dtype"]
    best = fits[key + ["best_eps"]].dropna(subset=["best_eps"]).rename(columns={"best_eps": "eps"})
    return df.merge(best, on=key + ["eps"], how="inner")
