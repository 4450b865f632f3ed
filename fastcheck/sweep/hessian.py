"""The ε sweep of a Hessian check: error of the numerical Hessian against ε, per scheme.

The same table as :func:`fastcheck.sweep.eps_sweep` (one row per scheme and
ε), so :func:`fastcheck.sweep.fit_orders` reads its slopes and best ε, and
:func:`fastcheck.report.plot_eps` draws it.  Each point is a
:func:`fastcheck.check_hessian` at that step without refinement (the
quotients as they are), against the analytic Hessian evaluated once.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from fastcheck.checks.hessian import check_hessian_with, dense_matrix
from fastcheck.core.options import CheckOptions
from fastcheck.core.steps import StepTooSmallError
from fastcheck.core.validate import as_theta
from fastcheck.errors import PrecisionWarning
from fastcheck.sweep.grid import validate_eps_grid, validate_schemes
from fastcheck.sweep.result import SweepTable, as_sweep_table

__all__ = ["hessian_eps_sweep"]


def hessian_eps_sweep(cost, theta, hess, *, grad=None, eps=None, schemes=("forward", "central", "central4"), args=(),
                      layout=None, coords=None, sample=None, seed=0, workers=1, problem="hessian") -> SweepTable:
    """Error of the numerical Hessian against ε: columns as :func:`fastcheck.sweep.eps_sweep`'s.

    ``grad``: difference the gradient (any real scheme); without it the cost
    is differenced twice (central only).  ``eps``: absolute steps (default:
    the eps sweep's grid).  ``coords``/``sample`` pick the columns.  A
    :class:`~fastcheck.sweep.result.SweepTable`: in a notebook it shows the V.
    """
    theta = as_theta(theta)
    eps = validate_eps_grid(eps)
    schemes = [s for s in validate_schemes(schemes) if s != "complex"]
    args = args if isinstance(args, tuple) else (args,)
    n = len(theta)
    H = dense_matrix(hess(theta.copy(), *args) if callable(hess) else hess, (n, n), "the Hessian")
    if grad is None:
        schemes = [s for s in schemes if s == "central"] or ["central"]
    rows = []
    for scheme in schemes:
        for e in eps:
            row = {"problem": problem, "n_params": n, "scheme": scheme, "dtype": theta.dtype.name, "eps": float(e),
                   "difference": np.nan, "max_abs_err": np.nan, "median_rel_err": np.nan, "checked": 0, "n_evals": 0,
                   "n_nonfinite": 0, "n_kinks": 0, "step": np.nan, "seconds": np.nan, "note": ""}
            opts = CheckOptions.build("hessian_eps_sweep", {"eps": float(e), "scheme": scheme, "args": args,
                                                            "layout": layout, "coords": coords, "sample": sample,
                                                            "seed": seed, "workers": workers},
                                      {"grad": grad})
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PrecisionWarning)
                    res = check_hessian_with(cost, theta, H, opts, refine=False)
            except StepTooSmallError:
                row["note"] = f"skipped: eps below {theta.dtype} resolution"
                rows.append(row)
                continue
            a, g = res.analytic, res.numerical
            fin = np.isfinite(g)
            err = np.abs(a[fin] - g[fin])
            scale = np.abs(a[fin]) + np.abs(g[fin])
            rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
            row.update(difference=res.difference, max_abs_err=float(err.max()) if len(err) else np.nan,
                       median_rel_err=float(np.median(rel)) if len(rel) else np.nan, checked=len(a),
                       n_evals=int(res.n_evals), n_nonfinite=int(np.count_nonzero(~fin)),
                       step=float(np.median(res.steps)), seconds=time.perf_counter() - t0)
            rows.append(row)
    return as_sweep_table(pd.DataFrame(rows))
