"""The columns of the sweep tables and the keys that identify a grid point.

One home for the schemas: the sweeps write them, the store coerces to them,
the report reads them.
"""
from __future__ import annotations

import numba
import numpy as np

from fastcheck._version import __version__

__all__ = ["EPS_KEY", "EPS_SCHEMA", "SIZE_KEY", "SIZE_SCHEMA", "TIMING_COLUMNS", "VERSIONS"]

#: Versions recorded in every row (a result table says what computed it).
VERSIONS = {"fastcheck_version": __version__, "numba_version": numba.__version__, "numpy_version": np.__version__}

EPS_SCHEMA = {
    "problem": "str", "n_params": "int", "scheme": "str", "dtype": "str", "eps": "float",
    "difference": "float", "max_abs_err": "float", "median_rel_err": "float",
    "checked": "int", "n_evals": "int", "n_nonfinite": "int", "n_kinks": "int", "step": "float",
    "seconds": "float", "threads": "int", "path": "str", "note": "str",
    "fastcheck_version": "str", "numba_version": "str", "numpy_version": "str",
}
EPS_KEY = ("problem", "scheme", "dtype", "eps")

SIZE_SCHEMA = {
    "problem": "str", "n_params": "int", "mode": "str", "threads": "int",
    "checked": "int", "n_evals": "int", "seconds": "float", "evals_per_s": "float", "peak_mem_mb": "float",
    "difference": "float", "verdict": "str", "passed": "bool", "path": "str", "note": "str",
    "fastcheck_version": "str", "numba_version": "str", "numpy_version": "str",
}
SIZE_KEY = ("problem", "mode", "threads")

#: Columns that measure time (they differ between runs; everything else does not).
TIMING_COLUMNS = ("seconds", "evals_per_s", "peak_mem_mb", "threads")
