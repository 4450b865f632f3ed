"""Defaults, verdict bands and Numba flags, read once.

Every compiled function in fastcheck is compiled through :func:`jit` (or
:func:`jit_options` for an ``@overload``) with one of the flag sets below, so
the choice of parallel target, caching, error model and fastmath is made in
this one place: ``numba.njit`` is spelled nowhere else.  fastmath stays
off: reassociation changes the rounding of ``f(θ+h) − f(θ−h)``, which is the
very quantity a gradient check measures.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numba

#: Cache compiled code on disk (``FASTCHECK_CACHE=0`` turns it off).  Only
#: fastcheck's own functions are cached, never a kernel specialised on a
#: user's cost; Numba writes a cache entry to a temporary file and renames
#: it, so processes (Dask workers, pool workers) sharing a cache directory
#: do not see half-written entries.
CACHE = os.environ.get("FASTCHECK_CACHE", "1") != "0"
#: Flags for the serial functions (the built-in test problems).
NJIT = dict(cache=CACHE, fastmath=False, nogil=True)
#: Serial numeric kernels whose divisions may meet 0 (NaN and inf as in NumPy, no exception).
NUMERIC = dict(NJIT, error_model="numpy")
#: Flags for the parallel (``prange``) kernels.  Kernels that take a cost
#: function as an argument are specialised per cost and cannot be cached.
PARALLEL = dict(parallel=True, fastmath=False, nogil=True)

#: Flags of the small helpers that call a user's cost inside the kernels
#: (specialised per cost like the kernels that use them, so not cached).
CALL = dict(fastmath=False, nogil=True)

#: Flags of the network code (models and the structure-aware kernel): the
#: above with NumPy's error model (x/0 gives inf or nan instead of raising),
#: which lets LLVM vectorise loops that divide (about 3× faster there); no
#: division in that code can be by zero.
NET = dict(NJIT, error_model="numpy")
#: The same for the parallel structure-aware kernel (it takes no function
#: argument, so it can be cached).
NET_PARALLEL = dict(PARALLEL, error_model="numpy", cache=CACHE)
#: Options of the ``@overload`` helpers of the network code.
NET_OVERLOAD = dict(error_model="numpy")


def jit(flags: dict):
    """The decorator compiling a fastcheck function with the flag set ``flags`` (one of the above).

    >>> @jit(NJIT)
    ... def twice(x):
    ...     return 2 * x
    """
    return numba.njit(**flags)


def jit_options(flags: dict) -> dict:
    """``jit_options`` for ``numba.extending.overload`` from a flag set."""
    return dict(flags)


def compile_cost(cost):
    """A user's cost compiled lazily with Numba's defaults (no flags: it is the user's code)."""
    return numba.njit(cost)

#: Verdict bands on the normalised difference ||g − ĝ|| / (||g|| + ||ĝ||),
#: centred (one decade wide) on the classic recipe's 1e-7 / 1e-5 / 1e-3 reading table.
#: A difference below ``great`` is "great", below ``ok`` "ok", below
#: ``suspect`` "suspect", otherwise "wrong".
THRESHOLDS = {"great": 1e-6, "ok": 1e-4, "suspect": 1e-2}
VERDICTS = ("great", "ok", "suspect", "wrong", "inconclusive")
PASSING = ("great", "ok")

#: A coordinate is wrong when its discrepancy exceeds this many error bars.
MARGIN = 4.0
#: An error bar resolves a coordinate when it is at most this fraction of the
#: gradient's scale (the largest |g| checked); a wider one cannot tell a right
#: gradient from a wrong one, and the coordinate is refined, then inconclusive.
RESOLVE = 1e-3
#: Suspicious coordinates laddered per block and round (a block stops once
#: one of them is confirmed wrong).
REFINE_BATCH = 32

#: Hold BLAS to one thread while a parallel kernel runs (see
#: :func:`single_threaded_blas`); a switch so benchmarks can measure both.
LIMIT_BLAS = os.environ.get("FASTCHECK_LIMIT_BLAS", "1") != "0"

#: Default number of random directions for :func:`fastcheck.check_directional`.
N_DIRS = 8


def num_threads() -> int:
    """Number of threads Numba's parallel kernels use right now."""
    return numba.get_num_threads()


@contextlib.contextmanager
def threads(n: int | None):
    """Run the block with ``n`` Numba threads (``None``: leave as is).

    The previous setting is restored on exit, also when the block raises.
    """
    if n is None:
        yield numba.get_num_threads()
        return
    n = int(n)
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"threads must be between 1 and {limit} (NUMBA_NUM_THREADS), got {n}")
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def single_threaded_blas():
    """Limit BLAS libraries to one thread while a parallel kernel runs.

    A cost that calls ``@``/``np.dot`` inside a ``prange`` body would otherwise
    start a BLAS thread pool per Numba thread and oversubscribe the cores
    (with OpenMP and OpenBLAS it also floods stderr with warnings).
    """
    if not LIMIT_BLAS:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # Load the BLAS that Numba calls (SciPy's) before looking for libraries,
    # then keep the controller: building one costs far more than using it.
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
