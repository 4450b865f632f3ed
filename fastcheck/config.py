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
import hashlib
import os
import sys
import threading
import types
from pathlib import Path

import numba
import numpy as np

#: Cache compiled code on disk (``FASTCHECK_CACHE=0`` turns it off).  Only
#: fastcheck's own functions are cached, never a kernel specialised on a
#: user's cost; Numba writes a cache entry to a temporary file and renames
#: it, so processes (Dask workers, pool workers) sharing a cache directory
#: do not see half-written entries.
CACHE = os.environ.get("FASTCHECK_CACHE", "1") != "0"


def user_cache_dir() -> Path:
    """Where fastcheck's own compiled functions are cached: ``FASTCHECK_CACHE_DIR``, else the platform's
    user cache directory (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
    ``%LOCALAPPDATA%`` on Windows) + ``fastcheck/numba``.

    Never the installed package: Numba's default puts cache files in ``__pycache__`` next to the source,
    which for an installed package is site-packages, where no installer records them.  A later
    ``pip install -e .`` then removes the ``.py`` files but leaves those, and the left-over
    ``site-packages/fastcheck/`` folder is an empty namespace package that hides the editable install.
    """
    explicit = os.environ.get("FASTCHECK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fastcheck" / "numba"


def cache_root() -> str:
    """Where fastcheck's own compiled functions go: a ``NUMBA_CACHE_DIR`` the user set, else
    :func:`user_cache_dir`."""
    return numba.config.CACHE_DIR or str(user_cache_dir())


#: The directory of fastcheck's sources: functions defined under it are cached in :func:`user_cache_dir`.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=1)
def package_stamp() -> str:
    """A digest of the contents of fastcheck's own ``.py`` files (names and bytes), read once per process:
    any change to any of them invalidates every cached compiled function of the package (see
    :func:`_install_cache_locator`).  Contents, not modification times: reinstalling the same sources
    (a fresh virtualenv of a CI job, ``pip install`` of the same version) keeps the cache valid."""
    digest = hashlib.sha1()
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, PACKAGE_DIR).encode())
                with open(path, "rb") as fh:
                    digest.update(fh.read())
    return digest.hexdigest()


def _install_cache_locator() -> bool:
    """Send the cache files of fastcheck's own functions to :func:`user_cache_dir`.

    Numba picks a cache locator per function when it is decorated, trying its locator classes in order
    (``numba.core.caching.CacheImpl._locator_classes``, ``_CacheImpl`` in older Numba: ``NUMBA_CACHE_DIR`` first, then the source's
    ``__pycache__``, ...).  This puts one in front that claims only functions whose source file lies in
    this package; their files go to ``NUMBA_CACHE_DIR`` when the user has set it (the user's choice of
    place wins) and to :func:`user_cache_dir` otherwise, validated in both by the whole package's stamp.
    A user's own ``cache=True`` functions are left to Numba's rules.  If Numba
    no longer has that list, ``NUMBA_CACHE_DIR`` is set for this process instead (the user's value, if
    any, is kept).  Returns whether the locator is installed.
    """
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # _CacheImpl in older Numba
        base = caching.UserProvidedCacheLocator
        impl._locator_classes  # noqa: B018 - the attribute this relies on
    except (ImportError, AttributeError):
        if not os.environ.get("NUMBA_CACHE_DIR"):
            os.environ["NUMBA_CACHE_DIR"] = str(user_cache_dir())
            numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
        return False
    if any(getattr(c, "_fastcheck", False) for c in impl._locator_classes):
        return True

    class FastcheckCacheLocator(base):
        """Cache files of fastcheck's functions in the user cache directory (see :func:`user_cache_dir`)."""

        _fastcheck = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(cache_root(), self.get_suitable_cache_subpath(py_file))

        def get_source_stamp(self):
            """The stamp of the whole package, not of the one file: Numba checks only the file a function is
            defined in, so a cached kernel whose callees live in another file (the structure-aware kernel
            spans eight) would keep running the old callees after that file changed."""
            return package_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(PACKAGE_DIR + os.sep):
                return None
            return super(base, cls).from_function(py_func, py_file)  # the source-file mixin's checks

    impl._locator_classes = [FastcheckCacheLocator, *impl._locator_classes]
    return True


_install_cache_locator()
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


def is_compiled(fn) -> bool:
    """Whether ``fn`` is a Numba dispatcher (what :func:`jit` returns)."""
    return isinstance(fn, numba.core.dispatcher.Dispatcher)


def compiled_count(fn) -> int:
    """How many specialisations the dispatcher ``fn`` holds (``len(fn.signatures)`` without building the list:
    that hashes every argument type, ~6-30 µs a call, paid on every round of a small check)."""
    return len(fn.overloads)


_INTERPRETED: dict = {}


def interpreted(fn):
    """The same function run by the Python interpreter: ``fn``'s own source (its ``py_func``) with every
    compiled fastcheck function it calls, directly or through a module, replaced by its interpreted
    version in turn.

    It computes what the compiled function computes (the same operations in the same order, on NumPy
    scalars; only the last bits of library functions such as ``exp`` may differ), slower per operation
    but with nothing to compile: the path of checks far smaller than one compilation (see
    :func:`compile_pays`).  ``prange`` runs as ``range``.  Not for ``parallel=False`` semantics beyond
    that: fastcheck's kernels give the same results for any thread count.
    """
    if not is_compiled(fn):
        return fn
    quiet = _QUIET.get(fn.py_func)
    if quiet is None:
        raw = _interpreted_raw(fn)

        @functools.wraps(fn.py_func)
        def quiet(*args):
            # as compiled with NumPy's error model: x/0 gives inf or nan, silently
            with np.errstate(all="ignore"):
                return raw(*args)

        _QUIET[fn.py_func] = quiet
    return quiet


_QUIET: dict = {}


def _interpreted_raw(fn):
    """:func:`interpreted` without the error state (what interpreted code calls)."""
    py = fn.py_func
    done = _INTERPRETED.get(py)
    if done is None:
        scope = {}
        done = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
        done.__doc__, done.__wrapped__ = py.__doc__, py
        _INTERPRETED[py] = done
        scope.update({k: _interpreted_value(v) for k, v in py.__globals__.items()})
    return done


#: :func:`on_disk`'s answers in this process, per (function, specialisations compiled here).
_ON_DISK: dict = {}


def on_disk(fn) -> bool:
    """Whether the cache holds a compiled version of ``fn`` (valid for these sources): loading it then
    costs a fraction of a second instead of a compilation.

    Reading the cache's index costs 50-500 µs (a file opened and unpickled), paid on every call of a
    small check that runs interpreted: the answer is kept per function and count of specialisations
    compiled in this process (a compilation here may write the index)."""
    key = (fn, compiled_count(fn) if is_compiled(fn) else 0)
    known = _ON_DISK.get(key)
    if known is None:
        cache = getattr(fn, "_cache", None)  # the Numba dispatcher's cache (a NullCache when not cached)
        try:
            known = bool(cache._cache_file._load_index())
        except (AttributeError, OSError, EOFError, ValueError, TypeError):  # not cached, or no readable index
            known = False
        _ON_DISK[key] = known
    return known


#: What :func:`announce_compiling` has announced in this process (each once).
_ANNOUNCED: set = set()


def announce_compiling(what: str, seconds: float, stream=None) -> bool:
    """Say on ``stream`` (standard error) that fastcheck is about to compile ``what`` with no copy in the
    cache, and about how long that takes (``seconds``), once per ``what`` and process: a first check that
    compiles for tens of seconds says so while it does, not only in its summary afterwards.  Only on a
    terminal (a log or a test's captured stream gets the summary's figure alone); ``FASTCHECK_QUIET=1``
    silences it.  Returns whether it said anything."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get("FASTCHECK_QUIET", "0") != "0" or what in _ANNOUNCED:
        return False
    if not getattr(stream, "isatty", lambda: False)():
        return False
    _ANNOUNCED.add(what)
    where = f"cached in {cache_root()} for next time" if CACHE else "not cached: FASTCHECK_CACHE=0"
    print(f"fastcheck: compiling {what}, about {seconds:.0f} s once ({where}) ...", file=stream, flush=True)
    return True


#: Seconds loading one of fastcheck's kernels from the cache is assumed to take.
LOAD_SECONDS = 0.3
#: Set ``FASTCHECK_COMPILE=always`` (or ``never``) to take the compiled (or interpreted) path whatever
#: :func:`compile_pays` estimates (``auto``, the default, estimates).
COMPILE = os.environ.get("FASTCHECK_COMPILE", "auto")


def compile_pays(fn, interpreted_seconds: float, cold_seconds: float) -> bool:
    """Whether calling the compiled ``fn`` is expected to finish sooner than :func:`interpreted` ``fn``.

    ``interpreted_seconds``: the estimated time of the work interpreted; ``cold_seconds``: what compiling
    ``fn`` (and what it calls) takes on an empty cache.  A function compiled in this process costs
    nothing more, one in the cache :data:`LOAD_SECONDS`; the compiled work itself is counted as free.
    """
    if COMPILE in ("always", "never"):
        return COMPILE == "always"
    if not is_compiled(fn):
        return False
    if compiled_count(fn):
        return True
    return interpreted_seconds > (LOAD_SECONDS if on_disk(fn) else cold_seconds)


#: Estimated interpreted seconds run so far per function (see :func:`runner`).
_SPENT: dict = {}


def runner(fn, interpreted_seconds: float, cold_seconds: float):
    """``fn`` or :func:`interpreted` ``fn``, whichever :func:`compile_pays` expects to be done first.

    The interpreted time of the earlier calls counts too: a function called again and again is
    compiled once its interpreted calls would have paid for the compilation (so repeated work costs at
    most about twice what compiling at once would have).
    """
    return fn if compiling_pays(fn, interpreted_seconds, cold_seconds) else interpreted(fn)


def compiling_pays(fn, other_seconds: float, cold_seconds: float) -> bool:
    """Whether to call the compiled ``fn`` for work that another path (``fn`` interpreted, or a NumPy form
    of it) would do in ``other_seconds``; the other path's seconds of the earlier calls count too (see
    :func:`runner`), and a call that does not compile adds its ``other_seconds`` to them."""
    key = getattr(fn, "py_func", fn)
    spent = _SPENT.get(key, 0.0)
    if compile_pays(fn, other_seconds + spent, cold_seconds):
        return True
    _SPENT[key] = spent + other_seconds
    return False


_MODULES: dict = {}


def _interpreted_module(module):
    """A fastcheck module seen from interpreted code: a namespace of its attributes, its compiled
    functions interpreted."""
    space = _MODULES.get(module.__name__)
    if space is None:
        space = _MODULES[module.__name__] = types.SimpleNamespace()
        vars(space).update({k: _interpreted_value(v) for k, v in vars(module).items()})
    return space


def _interpreted_value(value):
    if is_compiled(value):
        return _interpreted_raw(value)
    if isinstance(value, types.ModuleType) and value.__name__.startswith("fastcheck."):
        return _interpreted_module(value)
    return value


def compile_cost(cost):
    """A user's cost compiled lazily with Numba's defaults (no flags: it is the user's code)."""
    return numba.njit(cost)

#: Verdict bands on the normalised difference ||g − ĝ|| / (||g|| + ||ĝ||),
#: centred (one decade wide) on the classic recipe's 1e-7 / 1e-5 / 1e-3 reading table.
#: A difference below ``great`` is "great", below ``ok`` "ok", below
#: ``suspect`` "suspect", otherwise "wrong".
THRESHOLDS = {"great": 1e-6, "ok": 1e-4, "suspect": 1e-2}
#: The most a passing band (``ok``, and so ``great``, which is also the relative band of one
#: coordinate) may be: the difference of c·g against g is |c − 1| / (c + 1), so 0.1 still fails
#: a gradient 1.25× too large or too small (0.11); a laxer band would pass clearly wrong gradients.
MAX_PASSING_DIFFERENCE = 0.1
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
#: The largest batch of a block's coordinates one refinement round ladders (:mod:`fastcheck.verdicts.converge`):
#: the batches double from 4, so that a block whose every coordinate needs the ladder (a deep sigmoid
#: network's first layer, its gradient a thousandth of the last one's) takes a few rounds, each one call of
#: the evaluator, rather than one round per 32 coordinates (6,000 calls of the structure-aware kernel for
#: 784-256-128-64-10, 44 s of 45); a wrong block still stops after the round that proves it, having spent
#: at most as much again as before it.
REFINE_BATCH_MAX = 16384

#: Hold BLAS to one thread while a parallel kernel runs (see
#: :func:`single_threaded_blas`); a switch so benchmarks can measure both.
LIMIT_BLAS = os.environ.get("FASTCHECK_LIMIT_BLAS", "1") != "0"

#: Bytes glibc's heap keeps at its top from the first large check on (``M_TOP_PAD``, see
#: :mod:`fastcheck.support.heap`); 0 leaves the allocator alone.
HEAP_PAD = int(os.environ.get("FASTCHECK_HEAP_PAD", str(64 << 20)))

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
    if not LIMIT_BLAS or getattr(_HELD, "held", False):  # already held by an enclosing call in this thread
        yield
        return
    _HELD.held = True
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _HELD.held = False


#: Per thread: whether :func:`single_threaded_blas` holds BLAS right now (limiting it again inside costs
#: ~0.1 ms a call and changes nothing).
_HELD = threading.local()


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # Load the BLAS that Numba calls (SciPy's) before looking for libraries,
    # then keep the controller: building one costs far more than using it.
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
