"""The evaluator that runs another one's perturbed costs in chunks on a runner, and when to use it.

:func:`wrap` puts a picklable evaluator on the local pool or a Dask cluster
(:class:`ChunkedEvaluator`), or leaves it as it is (one worker, one core, or
already inside a worker).  With ``workers="auto"`` each call decides from the
measured time of one evaluation whether the pool pays, its start-up included
and on the cores other work on the machine leaves free (:func:`pool_pays`,
:data:`AUTO_MARGIN`, :data:`MIN_POOL_SECONDS`).

A worker's results count only once its copy of the cost has given bitwise
this process's J(θ) and costs at a few of the check's points
(:data:`PROBE_ITEMS`, spread over θ); a copy that does not (module state set
at run time, parameters that are views of one buffer, a module that does not
load in a worker) sends the whole check to the serial loop, with a
:class:`~fastcheck.errors.PoolFallbackWarning` naming why.
"""
from __future__ import annotations

import hashlib
import pickle
import time
import warnings
from dataclasses import replace

import numpy as np

from fastcheck.errors import PoolFallbackWarning, UntrustedWorkerError
from fastcheck.evaluators.pool.plan import chunk_plan
from fastcheck.evaluators.pool.runners import DaskRunner, LocalRunner
from fastcheck.evaluators.pool.worker import WRITTEN, Probe, at_theta, by_value_where_needed, import_paths, in_a_worker
from fastcheck.evaluators.protocol import Capabilities, Wrapper
from fastcheck.support import shared
from fastcheck.support.load import pool_speedup
from fastcheck.support.resources import available_cores

__all__ = ["AUTO_MARGIN", "MIN_POOL_SECONDS", "PROBE_ITEMS", "SHARE_BYTES", "ChunkedEvaluator", "check_client",
           "check_workers", "estimate_seconds", "pool_pays", "probe_items", "start_pool", "wrap"]

#: ``workers="auto"`` uses the pool when it is expected to take at most this
#: fraction of the serial loop's time (the estimate is one timed evaluation
#: times the evaluations: the pool must win clearly, not within its error).
AUTO_MARGIN = 0.8
#: ``workers="auto"`` never uses the pool for a check whose serial loop is
#: estimated below this: the gain would be a few milliseconds, within noise.
MIN_POOL_SECONDS = 0.25
#: Items (coordinates, directions) of a check that this process evaluates
#: itself and every worker evaluates again, with J(θ), before its results
#: count: the first, the middle and the last (in different blocks of θ when
#: there are several).
PROBE_ITEMS = 3
#: Results of at least this many bytes come back from the local pool's workers through a shared array
#: (:mod:`fastcheck.support.shared`), written in place, rather than as pickles.
SHARE_BYTES = 1 << 20


# -- choosing ----------------------------------------------------------------------
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


def start_pool(workers: int | str = "auto") -> float:
    """Start the local pool of worker processes now, and wait until every worker answers.

    ``workers="auto"`` never starts a pool for a check too short to pay for
    the start-up; a session that will run many such checks can start it once,
    here, and every later check then counts a running pool's few milliseconds
    only (a check still runs serially when even that does not pay).  Returns
    the seconds the start-up took (0.0 when the pool was running, or when
    there is no pool to start: one core, or inside a worker).
    """
    workers = check_workers(workers)
    n = available_cores() if workers == "auto" else workers
    if n < 2 or in_a_worker():
        return 0.0
    runner = LocalRunner(n)
    if runner.live():
        return 0.0
    t0 = time.perf_counter()
    runner.start()
    return time.perf_counter() - t0


def estimate_seconds(n_evals: int, eval_seconds: float, workers) -> float:
    """Expected seconds of ``n_evals`` evaluations on the local pool (inf for one worker): the serial
    time over the cores the workers can use (see :func:`~fastcheck.support.load.pool_speedup`: other
    work on the machine leaves fewer), plus the start-up or a call's round trip and the proof."""
    n = available_cores() if workers == "auto" else int(workers)
    if n < 2 or (workers == "auto" and (in_a_worker() or n_evals * eval_seconds < MIN_POOL_SECONDS)):
        return float("inf")
    speedup = pool_speedup(n) if workers == "auto" else float(n)
    return n_evals * eval_seconds / speedup + LocalRunner(n).overhead() + (1 + 2 * PROBE_ITEMS) * eval_seconds


def pool_pays(n_evals: int, eval_seconds: float, evals_per_item: int, overhead: float, speedup: float) -> bool:
    """``workers="auto"``'s decision: whether ``n_evals`` evaluations of ``eval_seconds`` each run
    clearly faster (:data:`AUTO_MARGIN`) on a pool that costs ``overhead`` seconds (its start-up, or a
    running pool's round trip) and gains ``speedup`` over one process (the free cores it can use:
    :func:`~fastcheck.support.load.pool_speedup`), the proof included (J(θ) and
    :data:`PROBE_ITEMS` items, here and in every worker).  Never for a check whose serial loop is
    estimated below :data:`MIN_POOL_SECONDS`."""
    if not np.isfinite(eval_seconds) or speedup <= 1.0:
        return False
    serial = n_evals * eval_seconds
    if serial < MIN_POOL_SECONDS:
        return False
    proof = (1 + PROBE_ITEMS * evals_per_item) * eval_seconds
    on_pool = (serial - PROBE_ITEMS * evals_per_item * eval_seconds) / speedup + 2 * proof
    return on_pool + overhead <= AUTO_MARGIN * serial


# -- the evaluator ----------------------------------------------------------------
def probe_items(n_items: int) -> np.ndarray:
    """Positions of the items a check proves its workers with (:data:`PROBE_ITEMS`
    of them, spread from the first item to the last)."""
    if n_items <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n_items - 1, min(PROBE_ITEMS, n_items)).round().astype(np.int64))


class ChunkedEvaluator(Wrapper):
    """Runs a picklable evaluator's perturbed costs in chunks on a runner.

    Each chunk runs in a worker with the very evaluator the serial path would
    run, unpickled from the bytes cloudpickle made of it (the user's object or
    closure and its data: every worker has its own copy, the user's stays
    untouched), on the same perturbed points in the same arithmetic.  That
    copy is trusted only once it has proven it: this process evaluates J(θ)
    and the items of :func:`probe_items` itself, and every worker evaluates
    them again before its first chunk; unless all agree bit for bit, the whole
    call runs in the serial loop, with a
    :class:`~fastcheck.errors.PoolFallbackWarning` naming the difference (and
    so does every later call of this evaluator).  ``value`` (J(θ)) and
    ``kinks`` run here, in the user's process, as do the capabilities,
    timings and notes of the base (see
    :class:`~fastcheck.evaluators.protocol.Wrapper`).

    With ``auto`` the pool runs only when its estimated time (serial time /
    the free cores the workers can use + start-up or call overhead + the
    proof; :func:`pool_pays`) is below
    :data:`AUTO_MARGIN` of the serial loop's, the serial time being the
    fastest measured evaluation × the evaluations; a check too short to pay
    for a pool's start-up runs serially and starts none.  A cost cloudpickle
    cannot serialise runs in the serial loop, with a
    :class:`~fastcheck.errors.PoolFallbackWarning` naming why.
    """

    def __init__(self, base, runner, auto=False):
        super().__init__(base)
        self.runner = runner
        self.auto = auto
        self._payload = None
        self._digest = None
        self._why_not = None
        self._used = False

    # what the result reports
    @property
    def caps(self) -> Capabilities:
        # BLAS is held in the workers (one thread each); this process runs only
        # J(θ), the gradient and the verdicts, and a base kernel that runs here
        # holds BLAS itself while it runs.
        return replace(self.base.caps, holds_blas=False)

    @property
    def path(self) -> str:
        return f"{self.base.path} on a {self.runner.describe()}" if self._used else self.base.path

    @property
    def threads(self) -> int:
        return self.runner.n_workers if self._used else self.base.threads

    @property
    def parallel_workers(self) -> int:
        return self.runner.n_workers

    @property
    def note(self) -> str:
        notes = [n for n in (self.base.note, self._why_not) if n]
        return "; ".join(notes)

    # deciding and shipping
    def _use_pool(self, n_evals: int, evals_per_item: int) -> bool:
        if self._why_not is not None:
            return False
        if self.auto and not pool_pays(n_evals, self.eval_seconds, evals_per_item, self.runner.overhead(),
                                       pool_speedup(self.runner.n_workers)):
            return False  # too short to pay for the pool (its start-up, when it is not running), or no free cores
        return self._pickled()

    def _fall_back(self, why: str) -> None:
        self._why_not = f"serial loop: {why}"
        warnings.warn(self._why_not, PoolFallbackWarning, stacklevel=5)

    def _pickled(self) -> bool:
        if self._payload is None and self._why_not is None:
            import cloudpickle

            try:
                by_value_where_needed()
                self._payload = pickle.dumps((cloudpickle.dumps(self.base), import_paths()))
            except Exception as exc:  # noqa: BLE001 - anything cloudpickle refuses
                line = (str(exc).strip().splitlines() or [""])[0][:160]
                self._fall_back(f"the cost cannot be sent to worker processes ({type(exc).__name__}: {line})")
                return False
            self._digest = hashlib.blake2b(self._payload, digest_size=16).hexdigest()
        return self._payload is not None

    def _pooled(self, method, theta, n_items, args_of, evals_per_item=1):
        """The costs of every item (concatenated along the first axis) from the
        pool, or None when a worker failed its proof (then the caller runs the serial loop)."""
        self.runner.ready()  # a closed Dask client, a cluster without workers: said before any work
        probe = probe_items(n_items)
        probe_args = args_of(probe)
        # This process's answers, before any worker's: they are the serial loop's own
        # numbers for these items, and the ones the workers must reproduce.
        value = at_theta(self.base, theta)
        probe_costs = getattr(self.base, method)(theta, *probe_args)
        rest = np.setdiff1d(np.arange(n_items), probe)
        item_seconds = self.eval_seconds * evals_per_item
        plan = chunk_plan(len(rest), self.runner.n_workers, item_seconds, self.runner.min_chunk_seconds,
                          self.runner.chunks_per_worker)
        chunks = [rest[c] for c in plan]
        shape = (n_items, *np.shape(probe_costs)[1:])
        share = None
        big = 8 * int(np.prod(shape)) >= SHARE_BYTES
        if big and getattr(self.runner, "shares_memory", False) and shared.available():
            try:
                share = shared.SharedArray(shape)  # the workers write their rows here: no pickles back, no gathering
            except OSError:  # no memory file to be had (too many open files, no memory): pickles, as before
                share = None
        try:
            parts = self.runner.map(self._payload, self._digest, method, theta, [args_of(i) for i in chunks],
                                    Probe(method, probe_args, value, probe_costs),
                                    **({} if share is None else {"into": (share.handle, chunks)}))
        except UntrustedWorkerError as exc:
            why = str(exc)
            if why.startswith("the cost does not load"):
                self._fall_back(f"{why}: everything the cost refers to must be importable by name in a new process, "
                                "or be sent by value (a module made at run time is neither); see 'What the pool "
                                "needs' in the README")
            else:
                self._fall_back(f"a worker process does not compute this process's cost ({why}): the worker's copy "
                                "lacks state the cost depends on (a module variable set at run time is re-imported "
                                "with its initial value; parameters held as views of one buffer lose the views), so "
                                "the pool's numbers would not be the cost's; see 'What the pool needs' in the README")
            return None
        else:
            out = np.empty(shape) if share is None else share.array  # mapped now that the workers wrote it
        finally:
            if share is not None:
                share.close()  # the workers are done with it (or gone): the file goes, the memory stays with `out`
        self._used = True
        out[probe] = probe_costs
        for i, part in zip(chunks, parts):
            if not (isinstance(part, str) and part == WRITTEN):
                out[i] = part
        return out

    # the perturbed costs, in chunks
    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        offsets = np.asarray(offsets, np.float64)
        if len(coords) <= PROBE_ITEMS or not self._use_pool(len(coords) * len(offsets), len(offsets)):
            return self.base.stencil(theta, coords, steps, offsets)
        coords, steps = np.asarray(coords), np.asarray(steps, np.float64)
        out = self._pooled("stencil", theta, len(coords), lambda i: (coords[i], steps[i], offsets), len(offsets))
        return self.base.stencil(theta, coords, steps, offsets) if out is None else out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        if len(coords) <= PROBE_ITEMS or not self._use_pool(len(coords), 1):
            return self.base.complex_step(theta, coords, steps)
        coords, steps = np.asarray(coords), np.asarray(steps, np.float64)
        out = self._pooled("complex_step", theta, len(coords), lambda i: (coords[i], steps[i]))
        return self.base.complex_step(theta, coords, steps) if out is None else out

    def directions(self, theta, lo, start, dirvals, steps, offsets) -> np.ndarray:
        offsets = np.asarray(offsets, np.float64)
        if len(lo) <= PROBE_ITEMS or not self._use_pool(len(lo) * len(offsets), len(offsets)):
            return self.base.directions(theta, lo, start, dirvals, steps, offsets)
        lengths = np.diff(start)

        def args_of(i):  # the ragged directions of chunk i, re-packed
            sub_start = np.concatenate([[0], np.cumsum(lengths[i])]).astype(np.int64)
            vals = np.concatenate([dirvals[start[d] : start[d + 1]] for d in i]) if len(i) else np.zeros(0)
            return lo[i], sub_start, vals, steps[i], offsets

        out = self._pooled("directions", theta, len(lo), args_of, len(offsets))
        return self.base.directions(theta, lo, start, dirvals, steps, offsets) if out is None else out
