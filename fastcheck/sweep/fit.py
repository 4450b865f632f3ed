"""Reading the error-versus-ε picture: truncation order, round-off slope, best ε.

For a difference scheme of order p the error of the numerical gradient is
roughly

    E(ε) ≈ C_t·ε^p  +  C_r·u/ε,

truncation on the right (large ε, slope p in log-log) and round-off on the
left (small ε, slope −1; u is the unit round-off of the dtype), meeting in a
V whose bottom is the best ε and the error floor.  The complex step has no
subtraction, hence no round-off branch: its error falls as ε² and then stays
at the floor.

:func:`fit_orders` measures both slopes on each curve of an eps sweep with a
Theil–Sen fit (the median of pairwise slopes, robust to the odd noisy point)
over the points clearly on each branch: on the correct side of the best ε
and at least ``margin`` times above the bottom level, so the bottom of the V
where both terms matter is left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..steps import SCHEMES

FIT_COLUMNS = [
    "problem", "n_params", "scheme", "dtype", "order", "truncation_slope", "truncation_points",
    "roundoff_slope", "roundoff_points", "best_eps", "floor", "predicted_eps",
    "truncation_intercept", "truncation_eps_min", "truncation_eps_max",
    "roundoff_intercept", "roundoff_eps_min", "roundoff_eps_max", "metric",
]


def _branch(log_eps, log_err, mask, min_points):
    if int(mask.sum()) < min_points:
        return np.nan, np.nan, int(mask.sum()), np.nan, np.nan
    x, y = log_eps[mask], log_err[mask]
    slope, intercept, _, _ = stats.theilslopes(y, x)
    return float(slope), float(intercept), int(mask.sum()), float(10 ** x.min()), float(10 ** x.max())


def fit_curve(eps, err, *, margin: float = 3.0, min_points: int = 3) -> dict:
    """Slopes, best ε and floor of one error curve.

    The best ε is where the error is smallest (the largest such step on a
    tie) and the floor that error.

    Parameters
    ----------
    eps, err : array
        Steps and errors (NaN or non-positive errors are ignored).
    margin : float
        A point belongs to a branch only if its error is at least ``margin``
        times the bottom level (the lowest running median of three errors).
    min_points : int
        Fewer points on a branch give a NaN slope.

    Returns
    -------
    dict
        truncation_slope / _intercept / _points / _eps_min / _eps_max,
        the same for roundoff, best_eps and floor.  Intercepts are of
        log10(err) against log10(eps).
    """
    eps = np.asarray(eps, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    ok = np.isfinite(err) & np.isfinite(eps) & (eps > 0) & (err >= 0)
    out = {k: np.nan for k in ("truncation_slope", "truncation_intercept", "truncation_eps_min", "truncation_eps_max",
                               "roundoff_slope", "roundoff_intercept", "roundoff_eps_min", "roundoff_eps_max",
                               "best_eps", "floor")}
    out.update(truncation_points=0, roundoff_points=0)
    if not ok.any():
        return out
    order = np.argsort(eps[ok])
    e, r = eps[ok][order], err[ok][order]
    best = int(np.flatnonzero(r == r.min())[-1])  # ties: the largest step
    out.update(best_eps=float(e[best]), floor=float(r[best]))
    positive = r > 0
    if not positive.any():
        return out
    # Branch membership is measured from the bottom *level*, the lowest value
    # of a running median of three: one lucky point on a flat bottom (an error
    # that happens to round to almost 0, as on the complex step's plateau)
    # must not make the plateau look like a slope.
    padded = np.concatenate([r[:1], r, r[-1:]])
    level = float(np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0).min())
    threshold = margin * (level if level > 0 else float(r[positive].min()))
    log_e = np.log10(e)
    log_r = np.log10(np.where(positive, r, np.nan))
    trunc = positive & (e > e[best]) & (r >= threshold)
    round_ = positive & (e < e[best]) & (r >= threshold)
    (out["truncation_slope"], out["truncation_intercept"], out["truncation_points"],
     out["truncation_eps_min"], out["truncation_eps_max"]) = _branch(log_e, log_r, trunc, min_points)
    (out["roundoff_slope"], out["roundoff_intercept"], out["roundoff_points"],
     out["roundoff_eps_min"], out["roundoff_eps_max"]) = _branch(log_e, log_r, round_, min_points)
    return out


def fit_orders(df: pd.DataFrame, *, metric: str = "max_abs_err", margin: float = 3.0, min_points: int = 3) -> pd.DataFrame:
    """Fit each (problem, scheme, dtype) curve of an eps sweep.

    Parameters
    ----------
    df : DataFrame
        The table of :func:`fastcheck.sweep.eps_sweep`.
    metric : str
        Error column to fit (``max_abs_err``, ``difference`` or ``median_rel_err``).
    margin, min_points
        See :func:`fit_curve`.

    Returns
    -------
    DataFrame
        One row per (problem, scheme, dtype): the scheme's theoretical
        ``order``; ``truncation_slope`` (≈ 1 forward, 2 central and complex,
        4 central4); ``roundoff_slope`` (≈ −1; NaN for the complex step,
        which has no round-off branch); the points on each branch;
        ``best_eps`` and the error ``floor`` there; ``predicted_eps``, the
        textbook optimum u^(1/(p+1)) for a unit-scale cost (the scheme's
        default relative step); and the fitted lines for plotting.
    """
    need = {"problem", "scheme", "dtype", "eps", metric}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"fit_orders needs an eps sweep table; missing columns {sorted(missing)}")
    rows = []
    for (problem, scheme, dtype), g in df.groupby(["problem", "scheme", "dtype"], sort=False):
        fit = fit_curve(g["eps"].to_numpy(), g[metric].to_numpy(), margin=margin, min_points=min_points)
        s = SCHEMES.get(scheme)
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
