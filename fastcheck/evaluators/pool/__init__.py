"""Every core for a cost that stays Python: one check's perturbed points in
chunks on worker processes (loky) or on a Dask cluster.

A cost Numba cannot compile (a method of the user's network object, a
closure over a dict) runs in :class:`~fastcheck.evaluators.loop.LoopEvaluator`'s
plain loop.  :class:`ChunkedEvaluator` splits that loop's coordinates into
*chunks* and runs each chunk in a worker, with the very evaluator the serial
path would run, so the costs are bitwise the same.

The package follows where its code runs:

* :mod:`~fastcheck.evaluators.pool.plan`: which coordinates go into which
  chunk (guided chunks, coordinates spread over θ);
* :mod:`~fastcheck.evaluators.pool.worker`: what runs in a worker process, and
  what the user's process prepares for it;
* :mod:`~fastcheck.evaluators.pool.runners`: the local pool and the Dask
  cluster, which hand the chunks out and gather their results;
* :mod:`~fastcheck.evaluators.pool.chunked`: the evaluator, its
  ``workers="auto"`` policy, and :func:`wrap`, which chooses.
"""
from fastcheck.errors import PoolFallbackWarning
from fastcheck.evaluators.pool import chunked, plan, runners, worker
from fastcheck.evaluators.pool.chunked import (
    ChunkedEvaluator,
    check_client,
    check_workers,
    estimate_seconds,
    start_pool,
    wrap,
)
from fastcheck.evaluators.pool.plan import chunk_plan, spread_order
from fastcheck.evaluators.pool.runners import DaskRunner, LocalRunner
from fastcheck.evaluators.pool.worker import in_a_worker, run_chunk, run_keyed_chunk
from fastcheck.support.resources import available_cores

__all__ = ["ChunkedEvaluator", "DaskRunner", "LocalRunner", "PoolFallbackWarning", "available_cores",
           "check_client", "check_workers", "chunk_plan", "chunked", "estimate_seconds", "in_a_worker", "plan",
           "run_chunk", "run_keyed_chunk", "runners", "spread_order", "start_pool", "worker", "wrap"]
