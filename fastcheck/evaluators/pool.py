"""Every core for a cost that stays Python: one check's perturbed points in
chunks on worker processes (loky) or on a Dask cluster.

A cost Numba cannot compile (a method of the user's network object, a
closure over a dict) runs in :class:`~fastcheck.evaluators.loop.LoopEvaluator`'s
plain loop.  :class:`ChunkedEvaluator` splits that loop's coordinates into
*chunks* and runs each chunk in a worker, with the very evaluator the serial
path would run, unpickled from the bytes cloudpickle made of it (the user's
object or closure and its data: every worker has its own copy, the user's
stays untouched).  Each worker evaluates the same perturbed points in the
same arithmetic as the serial loop, so the costs are bitwise the same.

Chunks are *guided* (:func:`chunk_plan`): large ones first, then ever
smaller ones down to a few tens of milliseconds of work each, handed to
whichever worker is free, so a worker slowed by other work on the machine
takes fewer of them and the workers finish together.  Each chunk takes its
coordinates spread over the whole of θ (a bit-reversed order), so chunks of
one size cost the same even when coordinates do not (the later stages of
:func:`fastcheck.check_sequential` are cheaper to recompute than the first).
On the local pool the cost is pickled once per check and unpickled once per
worker (a worker keeps it, under a digest of its bytes, for the next chunks
and the next checks of the same cost); the cost and θ ride along with every
chunk when they are small, and with each worker's first chunk only when
they are large.  On a Dask cluster they are scattered to every worker once,
a lost worker costs only its chunk (Dask runs it again elsewhere), and a
progress bar counts chunks.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import threading
import time
import warnings

import numpy as np

from fastcheck.evaluators.protocol import Evaluator

#: Each worker holds BLAS, OpenMP and Numba to one thread: the workers are the parallelism.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "FASTCHECK_IN_WORKER": "1"}
#: Idle workers exit after this many seconds; the next check starts them again.
IDLE_TIMEOUT = 600
#: Start-up of a pool (processes, imports) assumed before one has been timed;
#: measured on this project's machine: 1.5-3 s for two workers.
DEFAULT_STARTUP_SECONDS = 2.5
#: What sending a chunk and its answer costs on a running pool, roughly.
CALL_SECONDS = 0.02
#: ``workers="auto"`` uses the pool when it is expected to take at most this
#: fraction of the serial loop's time.
AUTO_MARGIN = 0.8
#: ``workers="auto"`` never uses the pool for a check whose serial loop is
#: estimated below this: the gain would be a few milliseconds, within noise.
MIN_POOL_SECONDS = 0.25
#: A check whose serial loop is estimated to take at least this long, but not
#: long enough to pay for starting the pool now, starts it in the background
#: (the check itself runs serially), so the next long check finds it running.
BACKGROUND_MIN_SECONDS = 0.5
#: Chunks per local worker when the cost's time is unknown: a worker slowed by
#: other work on the machine takes fewer of them.
LOCAL_CHUNKS_PER_WORKER = 4
#: Chunks per Dask worker when the cost's time is unknown.
DASK_CHUNKS_PER_WORKER = 4
#: Guided chunks: each takes 1/(GUIDED_SHARE × workers) of what is left ...
GUIDED_SHARE = 2
#: ... but at least this many seconds of work on the local pool (a chunk's
#: round trip there is ~0.5 ms; measured on this project's machine) ...
LOCAL_MIN_CHUNK_SECONDS = 0.02
#: ... or on a Dask cluster (a task's round trip is milliseconds).
DASK_MIN_CHUNK_SECONDS = 0.1
#: ... and never more than this many chunks per worker.
MAX_CHUNKS_PER_WORKER = 16
#: The cost and θ ride along with every chunk when their bytes are below this
#: (a few kilobytes cost less than a round trip asking for them); above it,
#: with each worker's first chunk only (a worker keeps them for its next chunks).
SEND_EVERY_CHUNK_BYTES = 64 << 10


class PoolFallbackWarning(RuntimeWarning):
    """The cost could not be sent to worker processes; the serial loop ran it."""


# -- choosing ----------------------------------------------------------------------
def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(workers):
    """``"auto"`` or a worker count from 1 to the available cores.

    More workers than cores is not an error: a warning says how many are used.
    """
    if workers is None or (isinstance(workers, str) and workers == "auto"):
        return "auto"
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"workers must be a positive integer or 'auto', got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (1 runs the serial loop) or 'auto', got {workers}")
    cores = available_cores()
    if workers > cores:
        warnings.warn(f"workers={workers}, but this process may use {cores} core(s): using {cores} worker process(es)"
                      f"{'' if cores > 1 else ' (that is, the serial loop)'}", RuntimeWarning, stacklevel=4)
        return cores
    return int(workers)


def check_client(client):
    """``client`` must be None or a ``dask.distributed.Client``."""
    if client is None:
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is an extra
        raise ImportError("client= needs dask.distributed: pip install 'fastcheck[distributed]'") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    return client


def wrap(base, workers="auto", client=None):
    """``base`` (a picklable evaluator) run on the pool or cluster, or ``base``
    itself when ``workers`` is 1 (or "auto" on a single core)."""
    if client is not None:
        return ChunkedEvaluator(base, DaskRunner(client), auto=False)
    workers = check_workers(workers)
    if workers == "auto" and in_a_worker():
        return base  # no pool inside a pool: the outer one has the cores already
    n = available_cores() if workers == "auto" else workers
    if n < 2:
        return base
    return ChunkedEvaluator(base, LocalRunner(n), auto=workers == "auto")


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


def estimate_seconds(n_evals: int, eval_seconds: float, workers) -> float:
    """Expected seconds of ``n_evals`` evaluations on the local pool (inf for one worker)."""
    n = available_cores() if workers == "auto" else int(workers)
    if n < 2 or (workers == "auto" and (in_a_worker() or n_evals * eval_seconds < MIN_POOL_SECONDS)):
        return float("inf")
    return n_evals * eval_seconds / n + LocalRunner(n).overhead()


# -- the local pool ------------------------------------------------------------------
_STARTUP = {"seconds": None, "executor": None}


def _init_worker():
    """Runs once in every new worker: BLAS held to one thread (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    global _LIMITS
    _LIMITS = threadpool_limits(limits=1)


def _ping(_):
    return os.getpid()


class LocalRunner:
    """A pool of ``n`` worker processes, one reused across checks (loky's reusable executor)."""

    def __init__(self, n: int):
        self.n_workers = int(n)

    def describe(self) -> str:
        return f"pool of {self.n_workers} processes"

    min_chunk_seconds = LOCAL_MIN_CHUNK_SECONDS
    chunks_per_worker = LOCAL_CHUNKS_PER_WORKER

    def _executor(self):
        from loky import get_reusable_executor

        return get_reusable_executor(max_workers=self.n_workers, timeout=IDLE_TIMEOUT, env=WORKER_ENV,
                                     initializer=_init_worker)

    def live(self) -> bool:
        """True when the pool we started last has this size and all its workers
        running (no start-up to pay).  Only an estimate: when loky's internals
        cannot be read, the pool counts as not running."""
        ex = _STARTUP.get("executor")
        flags = getattr(ex, "_flags", None)
        return (ex is not None and getattr(ex, "_max_workers", None) == self.n_workers
                and len(getattr(ex, "_processes", None) or {}) == self.n_workers
                and not getattr(flags, "broken", False))

    def overhead(self) -> float:
        """Seconds the pool adds to a check: a call's round trip when it runs, else its start-up."""
        if self.live():
            return CALL_SECONDS
        return _STARTUP["seconds"] or DEFAULT_STARTUP_SECONDS

    def start_in_background(self) -> None:
        """Start the workers without waiting for them (their start-up is timed when they answer)."""
        t0 = time.perf_counter()
        ex = self._executor()
        pings = [ex.submit(_ping, i) for i in range(self.n_workers)]

        def answered(_):
            if all(f.done() for f in pings):
                _STARTUP["seconds"] = time.perf_counter() - t0

        for f in pings:
            f.add_done_callback(answered)
        _STARTUP["executor"] = ex

    def start(self):
        """The executor, its workers started (the start-up time is recorded)."""
        fresh = not self.live()
        t0 = time.perf_counter()
        ex = self._executor()
        if fresh:
            list(ex.map(_ping, range(self.n_workers)))
            _STARTUP["seconds"] = time.perf_counter() - t0
        _STARTUP["executor"] = ex
        return ex

    def map(self, payload, digest, method, theta, chunk_args) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        from loky.process_executor import TerminatedWorkerError

        ex = self.start()
        # A worker keeps the cost and θ under ``key`` for the chunks it takes
        # next.  Small ones ride along with every chunk; large ones with the
        # first chunk of each worker only, and a worker that takes a later
        # chunk without having them says so (:class:`_Unknown`): that chunk
        # is sent again at once, with them.
        key = digest + hashlib.blake2b(theta.tobytes(), digest_size=8).hexdigest()
        state = (digest, payload, theta)
        first = len(chunk_args) if len(payload) + theta.nbytes <= SEND_EVERY_CHUNK_BYTES else self.n_workers
        futures = {ex.submit(run_keyed_chunk, key, state if j < first else None, method, *a): j
                   for j, a in enumerate(chunk_args)}
        results = [None] * len(chunk_args)
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    j = futures[f]
                    try:
                        results[j] = f.result()
                    except _Unknown:
                        again = ex.submit(run_keyed_chunk, key, state, method, *chunk_args[j])
                        futures[again] = j
                        pending.add(again)
            return results
        except TerminatedWorkerError as exc:
            codes = [ln.strip() for ln in str(exc).splitlines() if "exit codes" in ln]
            raise RuntimeError("a worker process died while evaluating the cost (a crash, or the system killed it"
                               f"{'; ' + codes[0] if codes else ''}); run with workers=1 to see the failure in "
                               "this process") from None
        finally:
            for f in futures:
                f.cancel()


# -- Dask ---------------------------------------------------------------------------
class DaskRunner:
    """The chunks of one check as tasks on a Dask cluster (θ and the cost scattered once)."""

    def __init__(self, client, progress=None):
        self.client = client
        self.progress = progress

    @property
    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def describe(self) -> str:
        return f"Dask cluster of {self.n_workers} workers"

    min_chunk_seconds = DASK_MIN_CHUNK_SECONDS
    chunks_per_worker = DASK_CHUNKS_PER_WORKER

    def map(self, payload, digest, method, theta, chunk_args) -> list:
        from distributed import as_completed

        from fastcheck.support.progress import make_progress

        client = self.client
        payload_f = client.scatter(payload, broadcast=True, hash=False)
        theta_f = client.scatter(theta, broadcast=True, hash=False)
        futures = [client.submit(run_chunk, digest, payload_f, method, theta_f, *a, pure=False) for a in chunk_args]
        mode = self.progress
        if mode is None:
            mode = "rich" if sys.stderr.isatty() else False
        try:
            with make_progress(mode, len(futures), "gradient check (chunks)") as bar:
                for f in as_completed(futures):
                    if f.status == "error":
                        f.result()  # raises the worker's exception
                    bar.advance()
            return [f.result() for f in futures]
        finally:
            client.cancel(futures + [payload_f, theta_f])


# -- in the worker --------------------------------------------------------------------
_LOADED = threading.local()  # one copy of the evaluator per worker thread (Dask may run threads)


def _load(digest, payload):
    cache = getattr(_LOADED, "cache", None)
    if cache is None or cache[0] != digest:
        if payload is None:
            raise _Unknown(digest)
        payload, paths = pickle.loads(payload)
        for p in paths:  # the user's folders, so their modules import here too
            if p not in sys.path:
                sys.path.append(p)
        cache = (digest, pickle.loads(payload))
        _LOADED.cache = cache
    return cache[1]


class _Unknown(Exception):
    """A worker was asked for a chunk of a check whose cost and θ it has not got."""


def run_keyed_chunk(key, state, method, *arrays):
    """A chunk on the local pool: ``state`` = (digest, payload, θ) the first
    time this worker sees ``key``, else None (see :meth:`LocalRunner.map`)."""
    held = getattr(_LOADED, "keyed", None)
    if held is None or held[0] != key:
        if state is None:
            raise _Unknown(key)
        held = (key, state[2])
        _LOADED.keyed = held
        _load(state[0], state[1])
    return run_chunk(getattr(_LOADED, "cache")[0], None, method, held[1], *arrays)


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


# -- the evaluator ----------------------------------------------------------------
def spread_order(n: int) -> np.ndarray:
    """0 … n-1 in bit-reversed order: every run of consecutive entries is
    spread evenly over the whole range (0, n/2, n/4, 3n/4, ...)."""
    if n <= 1:
        return np.arange(n)
    bits = int(n - 1).bit_length()
    i = np.arange(1 << bits)
    r = np.zeros_like(i)
    for b in range(bits):
        r |= ((i >> b) & 1) << (bits - 1 - b)
    return r[r < n]


def chunk_plan(n_items: int, n_workers: int, item_seconds: float, min_chunk_seconds: float,
               chunks_per_worker: int = LOCAL_CHUNKS_PER_WORKER) -> list:
    """The coordinates (0 … n_items-1) of each chunk, in the order they are handed out.

    Guided: each chunk takes 1/(:data:`GUIDED_SHARE` × workers) of the items
    left, but at least ``min_chunk_seconds`` of work (at ``item_seconds`` an
    item; yet one chunk per worker at least) and at most
    :data:`MAX_CHUNKS_PER_WORKER` chunks a worker: large
    chunks first, small ones at the end, so whichever worker is free takes
    the next and all finish within a small chunk of each other.  When the
    time of an item is unknown (not finite), ``chunks_per_worker`` equal
    chunks a worker.  Each chunk takes a run of :func:`spread_order`
    (coordinates from all over θ), sorted.
    """
    n_workers = max(1, int(n_workers))
    if n_items <= 0:
        return []
    if not np.isfinite(item_seconds) or item_seconds <= 0:
        k = min(chunks_per_worker * n_workers, n_items)
        sizes = [n_items // k + (j < n_items % k) for j in range(k)]
    else:
        least = max(1, min(int(np.ceil(min_chunk_seconds / item_seconds)), -(-n_items // n_workers)),
                    -(-n_items // (MAX_CHUNKS_PER_WORKER * n_workers)))
        sizes, left = [], n_items
        while left > 0:
            size = min(left, max(least, int(np.ceil(left / (GUIDED_SHARE * n_workers)))))
            sizes.append(size)
            left -= size
    order = spread_order(n_items)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [np.sort(order[bounds[j] : bounds[j + 1]]) for j in range(len(sizes))]


class ChunkedEvaluator(Evaluator):
    """Runs a picklable evaluator's perturbed costs in chunks on a runner.

    ``value`` (J(θ)) runs here, in the user's process.  With ``auto`` the
    pool runs only when its estimated time (serial time / workers + start-up
    or call overhead) is below :data:`AUTO_MARGIN` of the serial loop's, the
    serial time being the fastest measured evaluation × the evaluations; a
    check too short to pay for the start-up but long enough to profit from a
    running pool starts one in the background for the next check.
    A cost cloudpickle cannot serialise runs in the serial loop, with a
    :class:`PoolFallbackWarning` naming why.
    """

    holds_blas = False

    def __init__(self, base, runner, auto=False):
        self.base = base
        self.runner = runner
        self.auto = auto
        self._payload = None
        self._digest = None
        self._why_not = None
        self._used = False

    # what the result reports
    @property
    def path(self) -> str:
        return f"{self.base.path} on a {self.runner.describe()}" if self._used else self.base.path

    @property
    def threads(self) -> int:
        return self.runner.n_workers if self._used else self.base.threads

    @property
    def note(self) -> str:
        notes = [n for n in (self.base.note, self._why_not) if n]
        return "; ".join(notes)

    @property
    def compile_seconds(self) -> float:
        return self.base.compile_seconds

    @property
    def deterministic(self) -> bool:
        return self.base.deterministic

    # the capabilities are the base evaluator's
    native_precision = property(lambda self: self.base.native_precision)
    finds_kinks = property(lambda self: self.base.finds_kinks)
    has_complex_step = property(lambda self: self.base.has_complex_step)
    has_directions = property(lambda self: self.base.has_directions)
    calls_user_cost = property(lambda self: self.base.calls_user_cost)

    def kinks(self, theta, coords, steps):
        return self.base.kinks(theta, coords, steps)

    def value(self, theta) -> float:
        return self.base.value(theta)

    def prepare(self, theta, kind: str) -> None:
        self.base.prepare(theta, kind)

    # deciding and shipping
    def _use_pool(self, n_evals: int) -> bool:
        if self.auto:
            t = self.base.eval_seconds
            if not np.isfinite(t):
                return False
            serial = n_evals * t
            on_pool = serial / self.runner.n_workers
            if serial < MIN_POOL_SECONDS:
                return False
            if on_pool + self.runner.overhead() > AUTO_MARGIN * serial:
                # Too short to pay for starting the pool now; if a running pool
                # would pay, start one for the next check (this one runs here).
                if (serial >= BACKGROUND_MIN_SECONDS and on_pool + CALL_SECONDS <= AUTO_MARGIN * serial
                        and isinstance(self.runner, LocalRunner) and self._pickled()):
                    self.runner.start_in_background()
                return False
        return self._pickled()

    def _pickled(self) -> bool:
        if self._payload is None and self._why_not is None:
            import cloudpickle

            try:
                by_value_where_needed()
                self._payload = pickle.dumps((cloudpickle.dumps(self.base), import_paths()))
            except Exception as exc:  # noqa: BLE001 - anything cloudpickle refuses
                line = (str(exc).strip().splitlines() or [""])[0][:160]
                self._why_not = f"serial loop: the cost cannot be sent to worker processes ({type(exc).__name__}: {line})"
                warnings.warn(self._why_not, PoolFallbackWarning, stacklevel=5)
                return False
            self._digest = hashlib.blake2b(self._payload, digest_size=16).hexdigest()
        return self._payload is not None

    def _map(self, method, theta, n_items, args_of, evals_per_item=1):
        item_seconds = self.base.eval_seconds * evals_per_item
        chunks = chunk_plan(n_items, self.runner.n_workers, item_seconds, self.runner.min_chunk_seconds,
                            self.runner.chunks_per_worker)
        parts = self.runner.map(self._payload, self._digest, method, theta, [args_of(i) for i in chunks])
        self._used = True
        return chunks, parts

    # the evaluator protocol
    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        offsets = np.asarray(offsets, np.float64)
        if len(coords) < 2 or not self._use_pool(len(coords) * len(offsets)):
            return self.base.stencil(theta, coords, steps, offsets)
        coords, steps = np.asarray(coords), np.asarray(steps, np.float64)
        chunks, parts = self._map("stencil", theta, len(coords), lambda i: (coords[i], steps[i], offsets),
                                  len(offsets))
        out = np.empty((len(coords), len(offsets)))
        for i, part in zip(chunks, parts):
            out[i] = part
        return out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        if len(coords) < 2 or not self._use_pool(len(coords)):
            return self.base.complex_step(theta, coords, steps)
        coords, steps = np.asarray(coords), np.asarray(steps, np.float64)
        chunks, parts = self._map("complex_step", theta, len(coords), lambda i: (coords[i], steps[i]))
        out = np.empty(len(coords))
        for i, part in zip(chunks, parts):
            out[i] = part
        return out

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        offsets = np.asarray(offsets, np.float64)
        if len(lo) < 2 or not self._use_pool(len(lo) * len(offsets)):
            return self.base.directions(theta, lo, start, dirvals, steps, offsets)
        lengths = np.diff(start)

        def args_of(i):  # the ragged directions of chunk i, re-packed
            sub_start = np.concatenate([[0], np.cumsum(lengths[i])]).astype(np.int64)
            vals = np.concatenate([dirvals[start[d] : start[d + 1]] for d in i]) if len(i) else np.zeros(0)
            return lo[i], sub_start, vals, steps[i], offsets

        chunks, parts = self._map("directions", theta, len(lo), args_of, len(offsets))
        out = np.empty((len(lo), len(offsets)))
        for i, part in zip(chunks, parts):
            out[i] = part
        return out
