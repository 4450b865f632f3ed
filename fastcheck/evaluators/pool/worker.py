"""What runs in a worker process, and what a worker needs to run it.

A chunk is ``evaluator.<method>(θ, *arrays)`` on the worker's own copy of the
evaluator, unpickled from the bytes cloudpickle made of it in the user's
process (:func:`run_chunk`; on the local pool :func:`run_keyed_chunk`, which
keeps the evaluator and θ for the worker's next chunks).  The first chunk a
worker runs of a check comes back with a :class:`Proof`: J(θ) and the costs of
a few perturbed points the user's process computed too, evaluated on the
worker's copy (or why the copy did not load or raised), so that the user's
process can count the worker's results only if its copy computes the same
function, bit for bit (:mod:`~fastcheck.evaluators.pool.chunked`).  The user's process
prepares those bytes with :func:`by_value_where_needed` (modules a worker could
not import by name travel by value) and :func:`import_paths` (the folders the
user's modules import their neighbours from).
"""
from __future__ import annotations

import os
import pickle
import sys
import threading
import time
import warnings
from typing import NamedTuple

from fastcheck.errors import MissingStateError

__all__ = [
    "PARENT_POLL_SECONDS",
    "WORKER_ENV",
    "Probe",
    "Proof",
    "at_theta",
    "bits",
    "by_value_where_needed",
    "import_paths",
    "in_a_worker",
    "init_worker",
    "ping",
    "prove",
    "reissue",
    "run_chunk",
    "run_keyed_chunk",
    "run_keyed_chunk_into",
    "WRITTEN",
]

#: A local worker looks this often whether the process that started it is
#: still alive, and exits when it is not (a ``kill -9`` of the user's process
#: leaves no worker behind).
PARENT_POLL_SECONDS = 0.2

#: Each worker holds BLAS, OpenMP and Numba (and torch) to one thread: the workers are the parallelism.
#: loky recycles a worker that grew by 300 MB since its first task, which is what importing torch or jax
#: does (a cost of a framework op unpickled in the worker): the bound is raised so that a worker imports
#: them once, not once per chunk.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "FASTCHECK_IN_WORKER": "1", "LOKY_MAX_MEMORY_LEAK_SIZE": str(int(2e9))}


def init_worker(parent_pid=None):
    """Runs once in every new local worker: BLAS held to one thread
    (threadpoolctl), and the worker tied to the life of ``parent_pid``."""
    from threadpoolctl import threadpool_limits

    global _LIMITS
    _LIMITS = threadpool_limits(limits=1)
    if parent_pid is not None:
        _die_with(int(parent_pid))


def _die_with(parent_pid: int) -> None:
    """Exit this process as soon as ``parent_pid`` is gone: a daemon thread
    looks every :data:`PARENT_POLL_SECONDS` whether the parent still is our
    parent (an orphan is adopted by another process).  (Linux's
    ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that started
    the worker ends, and the pool starts workers from whichever thread runs a
    check.)
    """
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="fastcheck-parent-watch", daemon=True).start()


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


# -- proving a worker's copy computes the user's function ----------------------------------
class Probe(NamedTuple):
    """What a worker evaluates on its copy before its results count, and the
    user's process's answers: J(θ) (``value``) and ``method`` at a few of the
    check's points (``args``, the arrays of a chunk; their costs ``costs``)."""

    method: str
    args: tuple
    value: float
    costs: object


class Proof(NamedTuple):
    """A worker's answer to a :class:`Probe`: ``ok`` when its copy gave bitwise
    the same J(θ) and costs, else ``why`` not (it did not load, it raised, or
    which number differed)."""

    ok: bool
    why: str


def bits(x) -> bytes:
    import numpy as np

    a = np.asarray(x, np.float64)
    return repr(a.shape).encode() + a.tobytes()


def _said(exc) -> str:
    line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def at_theta(ev, theta):
    """What ``ev`` computes at θ itself: J(θ), or F(θ) for an evaluator of a vector (``rows``)."""
    rows = getattr(ev, "rows", None)
    return rows(theta) if callable(rows) else ev.value(theta)


def _shown(x) -> str:
    import numpy as np

    a = np.asarray(x, np.float64)
    return repr(float(a)) if a.size == 1 else f"an array starting {a.ravel()[:3].tolist()}"


def prove(ev, theta, probe: Probe) -> Proof:
    """Evaluate ``probe`` on ``ev`` (this worker's copy) and compare with the user's process, bit for bit."""
    import numpy as np

    try:
        value = at_theta(ev, theta)
    except Exception as exc:  # noqa: BLE001 - whatever the copy raises, the user's cost did not
        return Proof(False, f"J(θ) raised {_said(exc)} in a worker, not in this process")
    if bits(value) != bits(probe.value):
        return Proof(False, f"J(θ) is {_shown(value)} in a worker and {_shown(probe.value)} in this process")
    try:
        costs = getattr(ev, probe.method)(theta, *probe.args)
    except Exception as exc:  # noqa: BLE001
        return Proof(False, f"the cost at perturbed points raised {_said(exc)} in a worker, not in this process")
    if bits(costs) != bits(probe.costs):
        mine, theirs = np.asarray(probe.costs, np.float64).ravel(), np.asarray(costs, np.float64).ravel()
        k = int(np.flatnonzero(mine.view(np.int64) != theirs.view(np.int64))[0]) if mine.shape == theirs.shape else 0
        return Proof(False, f"J(θ) agrees, but a perturbed cost is {float(theirs[k])!r} in a worker and {float(mine[k])!r} in "
                            "this process")
    return Proof(True, "")


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
    """A chunk on the local pool: ``state`` = (digest, payload, θ, probe) the
    first time this worker sees ``key``, else None (see
    :meth:`~fastcheck.evaluators.pool.runners.LocalRunner.map`).  Returns what
    :func:`run_chunk` returns."""
    held = getattr(_LOADED, "keyed", None)
    if held is None or held[0] != key:
        if state is None:
            raise MissingStateError(key)
        held = (key, state[0], state[1], state[2], state[3])
        _LOADED.keyed = held
    return run_chunk(key, held[1], held[2], method, held[3], held[4], *arrays)


def run_keyed_chunk_into(key, state, method, handle, where, *arrays):
    """:func:`run_keyed_chunk`, the costs written into rows ``where`` of the user's process's shared array
    ``handle`` (:mod:`fastcheck.support.shared`) rather than returned: ``(proof, None, warned)`` then.  When
    the array cannot be opened here the costs come back as :func:`run_chunk` returns them."""
    from fastcheck.support import shared

    proof, costs, warned = run_keyed_chunk(key, state, method, *arrays)
    if costs is None:
        return proof, None, warned
    try:
        shared.write_rows(handle, where, costs)
    except OSError:
        return proof, costs, warned
    return proof, WRITTEN, warned


#: What a chunk returns for its costs once they are in the shared array.
WRITTEN = "written"


def run_chunk(key, digest, payload, method, theta, probe, *arrays):
    """Evaluate one chunk: ``evaluator.<method>(theta, *arrays)`` on this worker's copy.

    Returns ``(proof, costs, warned)``.  The first chunk of ``key`` (one check) on
    this worker thread first proves the copy with ``probe`` (:func:`prove`)
    and returns its :class:`Proof`, later ones None; a copy that did not load
    or failed its proof returns the failed proof and no costs, for this chunk
    and every later one of ``key``.  The user's exception from a proven copy
    comes back as it was raised (type and message); one that cannot be pickled
    comes back as a RuntimeError naming its type.  The warnings the chunk
    raised come back in ``warned`` (see :func:`reissue`), for the user's
    process to show as its serial loop would have, rather than this worker
    printing them to its own stderr.
    """
    proved = getattr(_LOADED, "proved", None)
    if proved is None or proved[0] != key:
        try:
            ev = _load(digest, payload)
        except MissingStateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a module the worker lacks, a __reduce__ that fails on load...
            proof = Proof(False, f"the cost does not load in a worker ({_said(exc)})")
        else:
            with warnings.catch_warnings():  # the user's process showed the probe's own warnings already
                warnings.simplefilter("ignore")
                proof = prove(ev, theta, probe)
        _LOADED.proved = (key, proof)
        first = proof
    else:
        proof, first = proved[1], None
    if not proof.ok:
        return proof, None, ()
    ev = _load(digest, payload)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            costs = getattr(ev, method)(theta, *arrays)
        return first, costs, tuple(_warning_record(w) for w in caught)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - whatever stops it pickling
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
        raise


def _warning_record(w) -> tuple:
    """A caught warning as plain data (its category by module and name: a user's class may not pickle)."""
    return (w.category.__module__, w.category.__qualname__, str(w.message), w.filename, w.lineno)


def reissue(warned) -> None:
    """Show, in the user's process, the warnings a worker's chunk raised, as
    the serial loop would have: through this process's filters and registry
    (a warning shown once per place is shown once for all the workers)."""
    for module, name, message, filename, lineno in warned:
        category = getattr(sys.modules.get(module), name, None) if "." not in name else None
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = RuntimeWarning
        warnings.warn_explicit(message, category, filename, lineno, module=module,
                               registry=_REGISTRY.setdefault((filename, module), {}))


_REGISTRY: dict = {}  # per place, as the module of a warning call keeps its __warningregistry__


# -- what a worker needs to unpickle the cost (prepared in the user's process) --------------
def import_paths() -> list:
    """``sys.path`` now, plus the folder of every top-level module loaded from
    a folder not on it (a user's file loaded by path imports its neighbours
    from there): what a worker needs to import what the cost refers to."""
    paths = list(sys.path)
    seen = set(paths)
    for name, module in list(sys.modules.items()):
        if "." in name:
            continue
        held = _FOLDERS.get(name)
        if held is None or held[0] is not module:  # a module seen before is not looked at again
            file = getattr(module, "__file__", None)
            folder = None
            if file:
                folder = os.path.dirname(os.path.abspath(file))
                if os.path.basename(file) == "__init__.py":
                    folder = os.path.dirname(folder)
            held = _FOLDERS[name] = (module, folder)
        folder = held[1]
        if folder is not None and folder not in seen:
            seen.add(folder)
            paths.append(folder)
    return paths


_FOLDERS: dict = {}  # top-level module name -> (the module, the folder it imports its neighbours from)
_BY_VALUE: set = set()
_LOOKED_AT: dict = {}  # module name -> the module by_value_where_needed decided about (by reference)


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
        if name in _BY_VALUE or _LOOKED_AT.get(name) is module:
            continue
        _LOOKED_AT[name] = module
        file = getattr(module, "__file__", None)
        if name == "__main__" or not file or not file.endswith(".py"):
            continue
        stem = os.path.splitext(os.path.basename(file))[0]
        if stem in (name.rsplit(".", 1)[-1], "__init__") or os.path.realpath(file).startswith(skip):
            continue
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:  # not registrable (e.g. removed from sys.modules meanwhile)
            continue
        _BY_VALUE.add(name)
