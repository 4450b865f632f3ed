"""Sweeps: error versus ε, scheme and precision; time versus size, mode and threads.

* :func:`eps_sweep` measures the classic picture (central O(ε²), one-sided
  O(ε), round-off below the best ε) for any problem, in float64 and float32;
* :func:`fit_orders` reads the slopes, the best ε and the error floor off it;
* :func:`size_sweep` times every way of checking against model size and
  Numba threads (with many models it is the batch check).

Results can be appended to a directory point by point (``out=``), resumed
(``resume=True``: refused with :class:`ResumeError` when the finished rows
were computed with other options) and computed on a Dask cluster
(``client=``); one process at a time writes a directory;
:mod:`fastcheck.report` turns a directory into tables, plots and a README.
Each sweep returns a :class:`SweepTable`, a DataFrame that shows its plot in a
notebook.
"""
from fastcheck.errors import GridError, ResultsExistError, ResumeError, SweepFileError
from fastcheck.sweep.eps import eps_sweep
from fastcheck.sweep.fit import best_rows, fit_curve, fit_notes, fit_orders
from fastcheck.sweep.grid import (
    DEFAULT_DTYPES,
    DEFAULT_EPS,
    DEFAULT_MODES,
    DEFAULT_SCHEMES,
    MODES,
    parse_eps,
)
from fastcheck.sweep.hessian import hessian_eps_sweep
from fastcheck.sweep.result import SweepTable
from fastcheck.sweep.schema import EPS_SCHEMA, SIZE_SCHEMA, TIMING_COLUMNS
from fastcheck.sweep.size import size_sweep

__all__ = [
    "DEFAULT_DTYPES",
    "DEFAULT_EPS",
    "DEFAULT_MODES",
    "DEFAULT_SCHEMES",
    "EPS_SCHEMA",
    "MODES",
    "SIZE_SCHEMA",
    "TIMING_COLUMNS",
    "GridError",
    "ResultsExistError",
    "ResumeError",
    "SweepFileError",
    "SweepTable",
    "best_rows",
    "eps_sweep",
    "fit_curve",
    "fit_notes",
    "fit_orders",
    "hessian_eps_sweep",
    "parse_eps",
    "size_sweep",
]
