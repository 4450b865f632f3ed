"""What runs in a worker process, and what a worker needs to run it.

A chunk is ``evaluator.<method>(θ, *arrays)`` on the worker's own copy of the
evaluator, unpickled from the bytes cloudpickle made of it in the user's
process (:func:`run_chunk`; on the local pool :func:`run_keyed_chunk`, which
keeps the evaluator and θ for the worker's next chunks).  The user's process
prepares those bytes with :func:`by_value_where_needed` (modules a worker could
not import by name travel by value) and :func:`import_paths` (the folders the
user's modules import their neighbours from).
"""
from __future__ import annotations

import os
import pickle
import sys
import threading

from fastcheck.errors import MissingStateError

__all__ = ["WORKER_ENV", "by_value_where_needed", "import_paths", "in_a_worker", "init_worker",
           "ping", "run_chunk", "run_keyed_chunk"]

#: Each worker holds BLAS, OpenMP and Numba (and torch) to one thread: the workers are the parallelism.
#: loky recycles a worker that grew by 300 MB since its first task, which is what importing torch or jax
#: does (a cost of a framework op unpickled in the worker): the bound is raised so that a worker imports
#: them once, not once per chunk.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "FASTCHECK_IN_WORKER": "1", "LOKY_MAX_MEMORY_LEAK_SIZE": str(int(2e9))}


def init_worker():
    """Runs once in every new local worker: BLAS held to one thread (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    global _LIMITS
    _LIMITS = threadpool_limits(limits=1)


def ping(_):
    """A task that only answers: a worker that returns it has started."""
    return os.getpid()


def in_a_worker() -> bool:
    """True inside one of our pool's workers or a Dask worker."""
    if os.environ.get("FASTCHECK_IN_WORKER") == "1":
        return True
    if "distributed" in sys.modules:
        try:
            sys.modules["distributed"].get_worker()
            return True
        except (ValueError, AttributeError):
            return False
    return False


# -- the evaluator and θ, kept between chunks -------------------------------------------
_LOADED = threading.local()  # one copy of the evaluator per worker thread (Dask may run threads)


def _load(digest, payload):
    cache = getattr(_LOADED, "cache", None)
    if cache is None or cache[0] != digest:
        if payload is None:
            raise MissingStateError(digest)
        payload, paths = pickle.loads(payload)
        for p in paths:  # the user's folders, so their modules import here too
            if p not in sys.path:
                sys.path.append(p)
        cache = (digest, pickle.loads(payload))
        _LOADED.cache = cache
    return cache[1]


def run_keyed_chunk(key, state, method, *arrays):
    """A chunk on the local pool: ``state`` = (digest, payload, θ) the first
    time this worker sees ``key``, else None (see :meth:`~fastcheck.evaluators.pool.runners.LocalRunner.map`)."""
    held = getattr(_LOADED, "keyed", None)
    if held is None or held[0] != key:
        if state is None:
            raise MissingStateError(key)
        held = (key, state[2])
        _LOADED.keyed = held
        _load(state[0], state[1])
    return run_chunk(getattr(_LOADED, "cache")[0], None, method, held[1], *arrays)


def run_chunk(digest, payload, method, theta, *arrays):
    """Evaluate one chunk: ``evaluator.<method>(theta, *arrays)`` on this worker's copy.

    The user's exception comes back as it was raised (type and message); one
    that cannot be pickled comes back as a RuntimeError naming its type.
    """
    ev = _load(digest, payload)
    try:
        return getattr(ev, method)(theta, *arrays)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - whatever stops it pickling
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
        raise


# -- what a worker needs to unpickle the cost (prepared in the user's process) --------------
def import_paths() -> list:
    """``sys.path`` now, plus the folder of every top-level module loaded from
    a folder not on it (a user's file loaded by path imports its neighbours
    from there): what a worker needs to import what the cost refers to."""
    paths = list(sys.path)
    seen = set(paths)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if "." in name or not file:
            continue
        folder = os.path.dirname(os.path.abspath(file))
        if os.path.basename(file) == "__init__.py":
            folder = os.path.dirname(folder)
        if folder not in seen:
            seen.add(folder)
            paths.append(folder)
    return paths


_BY_VALUE: set = set()


def by_value_where_needed() -> None:
    """Have cloudpickle send by value the modules a worker could not import by name.

    A user's file loaded under a made-up module name (``_fastcheck_problem_…``
    for a file ``net.py``) sits in ``sys.modules`` in this process only;
    pickled by reference, its functions and classes would not import in a
    worker.  Installed and standard-library modules are left alone.
    """
    import sysconfig

    import cloudpickle

    skip = tuple(os.path.realpath(p) for p in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")})
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name in _BY_VALUE or name == "__main__" or not file or not file.endswith(".py"):
            continue
        stem = os.path.splitext(os.path.basename(file))[0]
        if stem in (name.rsplit(".", 1)[-1], "__init__") or os.path.realpath(file).startswith(skip):
            continue
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:  # not registrable (e.g. removed from sys.modules meanwhile)
            continue
        _BY_VALUE.add(name)
