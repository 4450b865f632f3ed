"""The evaluator that runs another one's perturbed costs in chunks on a runner, and when to use it.

:func:`wrap` puts a picklable evaluator on the local pool or a Dask cluster
(:class:`ChunkedEvaluator`), or leaves it as it is (one worker, one core, or
already inside a worker).  With ``workers="auto"`` each call decides from the
measured time of one evaluation whether the pool pays (:data:`AUTO_MARGIN`,
:data:`MIN_POOL_SECONDS`, :data:`BACKGROUND_MIN_SECONDS`).
"""
from __future__ import annotations

import hashlib
import pickle
import warnings
from dataclasses import replace

import numpy as np

from fastcheck.errors import PoolFallbackWarning
from fastcheck.evaluators.pool.plan import chunk_plan
from fastcheck.evaluators.pool.runners import CALL_SECONDS, DaskRunner, LocalRunner
from fastcheck.evaluators.pool.worker import by_value_where_needed, import_paths, in_a_worker
from fastcheck.evaluators.protocol import Capabilities, Wrapper
from fastcheck.support.resources import available_cores

__all__ = ["AUTO_MARGIN", "BACKGROUND_MIN_SECONDS", "MIN_POOL_SECONDS", "ChunkedEvaluator", "check_client",
           "check_workers", "estimate_seconds", "wrap"]

#: ``workers="auto"`` uses the pool when it is expected to take at most this
#: fraction of the serial loop's time (the estimate is one timed evaluation
#: times the evaluations: the pool must win clearly, not within its error).
AUTO_MARGIN = 0.8
#: ``workers="auto"`` never uses the pool for a check whose serial loop is
#: estimated below this: the gain would be a few milliseconds, within noise.
MIN_POOL_SECONDS = 0.25
#: A check whose serial loop is estimated to take at least this long, but not
#: long enough to pay for starting the pool now, starts it in the background
#: (the check itself runs serially), so the next long check finds it running.
BACKGROUND_MIN_SECONDS = 0.5


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


def estimate_seconds(n_evals: int, eval_seconds: float, workers) -> float:
    """Expected seconds of ``n_evals`` evaluations on the local pool (inf for one worker)."""
    n = available_cores() if workers == "auto" else int(workers)
    if n < 2 or (workers == "auto" and (in_a_worker() or n_evals * eval_seconds < MIN_POOL_SECONDS)):
        return float("inf")
    return n_evals * eval_seconds / n + LocalRunner(n).overhead()


# -- the evaluator ----------------------------------------------------------------
class ChunkedEvaluator(Wrapper):
    """Runs a picklable evaluator's perturbed costs in chunks on a runner.

    Each chunk runs in a worker with the very evaluator the serial path would
    run, unpickled from the bytes cloudpickle made of it (the user's object or
    closure and its data: every worker has its own copy, the user's stays
    untouched), on the same perturbed points in the same arithmetic, so the
    costs are bitwise the serial ones.  ``value`` (J(θ)) and ``kinks`` run
    here, in the user's process, as do the capabilities, timings and notes of
    the base (see :class:`~fastcheck.evaluators.protocol.Wrapper`).

    With ``auto`` the pool runs only when its estimated time (serial time /
    workers + start-up or call overhead) is below :data:`AUTO_MARGIN` of the
    serial loop's, the serial time being the fastest measured evaluation × the
    evaluations; a check too short to pay for the start-up but long enough to
    profit from a running pool starts one in the background for the next check.
    A cost cloudpickle cannot serialise runs in the serial loop, with a
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
    def _use_pool(self, n_evals: int) -> bool:
        if self.auto:
            t = self.eval_seconds
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
        item_seconds = self.eval_seconds * evals_per_item
        chunks = chunk_plan(n_items, self.runner.n_workers, item_seconds, self.runner.min_chunk_seconds,
                            self.runner.chunks_per_worker)
        parts = self.runner.map(self._payload, self._digest, method, theta, [args_of(i) for i in chunks])
        self._used = True
        return chunks, parts

    # the perturbed costs, in chunks
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
