"""Running sweep grid points on a Dask cluster (optional: ``fastcheck[distributed]``).

Grid points are independent, so they are plain Dask tasks.  Three things
make this sound rather than merely possible:

* every worker runs Numba with ``cores on its host // Dask threads on that
  host`` threads (a :class:`NumbaThreads` plugin, re-applied to workers that
  join or restart), so the machine is not oversubscribed;
* results are written by the client as each task completes, so a worker
  that dies costs only the tasks it was running, which Dask reschedules on
  the others;
* a problem is shipped as its spec string when it has one (the worker
  rebuilds it and keeps its compiled kernels warm), otherwise scattered once.
"""
from __future__ import annotations

import logging

from fastcheck.support.resources import available_cores

#: Numba threads for sweep tasks in this worker process (set by :class:`NumbaThreads`).
WORKER_NUMBA_THREADS = None


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("Dask is not installed: pip install 'fastcheck[distributed]'") from None
    return distributed


def _make_plugin(n: int):
    distributed = _import_distributed()

    class NumbaThreads(distributed.WorkerPlugin):
        """Fix the Numba thread count of sweep tasks on every worker."""

        name = "fastcheck-numba-threads"

        def __init__(self, n):
            self.n = int(n)

        def setup(self, worker):
            # This class travels to the worker by value, so set the module's
            # attribute there explicitly (a ``global`` would bind a copy).
            import importlib

            importlib.import_module("fastcheck.sweep.dask").WORKER_NUMBA_THREADS = self.n

    return NumbaThreads(n)


def worker_threads() -> int | None:
    """The Numba thread count a sweep task should use on this worker."""
    if WORKER_NUMBA_THREADS is None:
        return None
    import numba

    return max(1, min(WORKER_NUMBA_THREADS, numba.config.NUMBA_NUM_THREADS))


def configure(client) -> int:
    """Give every worker a Numba thread count that fills, not floods, its host.

    Returns the count (the smallest over the hosts: one number, so every
    grid point runs the same way).
    """
    # A cluster we started knows how many workers it should have: wait for a
    # restarting one, or the share would be computed for too few workers.
    expected = len(getattr(getattr(client, "cluster", None), "workers", ()) or ()) or 1
    client.wait_for_workers(expected, timeout=120)
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    cores = client.run(available_cores)
    per_host_threads, per_host_cores = {}, {}
    for addr, w in workers.items():
        host = w.get("host", addr)
        per_host_threads[host] = per_host_threads.get(host, 0) + int(w.get("nthreads", 1))
        per_host_cores[host] = cores.get(addr, 1)
    n = min(max(1, per_host_cores[h] // per_host_threads[h]) for h in per_host_threads)
    client.register_plugin(_make_plugin(n))
    return n


def local_client(n_workers: int):
    """A LocalCluster of ``n_workers`` single-threaded processes on 127.0.0.1, and its client."""
    distributed = _import_distributed()
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"workers must be a positive integer, got {n_workers!r}")
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
    )
    return distributed.Client(cluster)


def connect(address: str):
    """A client for an existing scheduler, e.g. ``tcp://10.0.0.5:8786``."""
    distributed = _import_distributed()
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"--scheduler must look like tcp://HOST:PORT, got {address!r}")
    try:
        return distributed.Client(address, timeout="10s")
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def run(client, fn, payloads, on_done, chunk: int = 1) -> None:
    """Run ``fn(payload)`` for every payload on the cluster.

    ``on_done(result)`` is called in the client as each task finishes, in
    completion order.  Payloads are grouped ``chunk`` to a task.  An error in
    a task cancels the rest and is raised; a worker's death is not an error
    (Dask reruns its tasks elsewhere).
    """
    distributed = _import_distributed()
    groups = [payloads[i : i + chunk] for i in range(0, len(payloads), chunk)]
    futures = [client.submit(_run_group, fn, g, pure=False) for g in groups]
    try:
        for fut in distributed.as_completed(futures):
            for result in fut.result():
                on_done(result)
    except BaseException:
        client.cancel(futures)
        raise


def _run_group(fn, payloads):
    return [fn(p) for p in payloads]


def ship_problems(client, problems):
    """What each task refers to its problem by: its spec string, or a scattered future."""
    shipped = []
    for p in problems:
        if p.spec is not None:
            shipped.append(p.spec)
        else:
            shipped.append(client.scatter(p, broadcast=False, hash=False))
    return shipped
