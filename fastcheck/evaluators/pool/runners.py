"""Where the chunks run: :class:`LocalRunner` (worker processes, loky) and :class:`DaskRunner` (a Dask cluster).

A runner takes the pickled evaluator (``payload``, named by its ``digest``),
θ and the arguments of every chunk, and returns the chunks' results in the
order it was given them.  On the local pool the cost is pickled once per check
and unpickled once per worker (a worker keeps it, under a digest of its
bytes, for the next chunks and the next checks of the same cost); the cost
and θ ride along with every chunk when they are small, and with each
worker's first chunk only when they are large.  On a Dask cluster they are
sent to the cluster once, a lost worker costs only its chunk (Dask runs it
again elsewhere), and a progress bar counts chunks.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings

from fastcheck.errors import MissingStateError, UntrustedWorkerError
from fastcheck.evaluators.pool.plan import (
    DASK_CHUNKS_PER_WORKER,
    DASK_MIN_CHUNK_SECONDS,
    LOCAL_CHUNKS_PER_WORKER,
    LOCAL_MIN_CHUNK_SECONDS,
)
from fastcheck.evaluators.pool.worker import (WORKER_ENV, bits, init_worker, ping, reissue, run_chunk, run_keyed_chunk,
                                              run_keyed_chunk_into)
from fastcheck.support.load import record_busy

__all__ = ["CALL_SECONDS", "DASK_WAIT_SECONDS", "DEFAULT_STARTUP_SECONDS", "IDLE_TIMEOUT", "SEND_EVERY_CHUNK_BYTES", "DaskRunner",
           "LocalRunner", "check_key"]

#: Idle workers exit after this many seconds; the next check starts them again.
IDLE_TIMEOUT = 600
#: Start-up of a pool (processes, imports) assumed before one has been timed in
#: this process; the first check of benchmarks/bench_user_code.py measures it
#: (its first, "cold", check includes the start-up).
DEFAULT_STARTUP_SECONDS = 2.5
#: What sending a chunk and its answer costs on a running pool, roughly (a
#: generous bound on a round trip through loky's queues, so that the pool is
#: not chosen for a gain within that noise).
CALL_SECONDS = 0.02
#: The cost and θ ride along with every chunk when their bytes are below this
#: (a few kilobytes cost less than a round trip asking for them); above it,
#: with each worker's first chunk only (a worker keeps them for its next chunks).
SEND_EVERY_CHUNK_BYTES = 64 << 10

#: A Dask cluster without workers is given this long for one to join before
#: the check fails (a cluster that is scaling up).
DASK_WAIT_SECONDS = 10.0

#: The local pool started last and how long its start-up took (once timed).
_STARTUP = {"seconds": None, "executor": None}


class LocalRunner:
    """A pool of ``n`` worker processes, one reused across checks (loky's reusable executor)."""

    min_chunk_seconds = LOCAL_MIN_CHUNK_SECONDS
    chunks_per_worker = LOCAL_CHUNKS_PER_WORKER
    shares_memory = True  #: map(into=...) writes the results into a shared array (same machine)

    def __init__(self, n: int):
        self.n_workers = int(n)

    def describe(self) -> str:
        return f"pool of {self.n_workers} processes"

    def ready(self) -> None:
        """Nothing to check: the pool starts its workers when it maps."""

    def _executor(self):
        from loky import get_reusable_executor

        return get_reusable_executor(max_workers=self.n_workers, timeout=IDLE_TIMEOUT, env=WORKER_ENV,
                                     initializer=init_worker, initargs=(os.getpid(),))

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

    def start(self):
        """The executor, its workers started (the start-up time is recorded)."""
        fresh = not self.live()
        t0 = time.perf_counter()
        ex = self._executor()
        if fresh:
            list(ex.map(ping, range(self.n_workers)))
            _STARTUP["seconds"] = time.perf_counter() - t0
        _STARTUP["executor"] = ex
        return ex

    def map(self, payload, digest, method, theta, chunk_args, probe, into=None) -> list:
        """The chunks' costs, in order.  Every worker proves its copy of the cost
        with ``probe`` before its first result counts (see
        :func:`~fastcheck.evaluators.pool.worker.run_chunk`); a failed proof
        stops the check with :class:`~fastcheck.errors.UntrustedWorkerError`.
        An interrupt (Ctrl-C) stops the workers at once: no chunk keeps running.

        ``into`` = (handle, rows per chunk): each chunk writes its costs into those rows of the shared
        array ``handle`` (:mod:`fastcheck.support.shared`) and its result is
        :data:`~fastcheck.evaluators.pool.worker.WRITTEN` (or its costs, when it could not)."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from loky.process_executor import TerminatedWorkerError

        ex = self.start()
        busy_since = time.monotonic()
        # A worker keeps the cost, θ and the probe under ``key`` for the chunks
        # it takes next.  Small ones ride along with every chunk; large ones
        # with the first chunk of each worker only, and a worker that takes a
        # later chunk without having them says so (:class:`~fastcheck.errors.MissingStateError`):
        # that chunk is sent again at once, with them.
        key = check_key(digest, theta, probe)
        state = (digest, payload, theta, probe)
        first = len(chunk_args) if len(payload) + theta.nbytes <= SEND_EVERY_CHUNK_BYTES else self.n_workers
        futures = {}
        results = [None] * len(chunk_args)
        def submit(j, with_state):
            st = state if with_state else None
            if into is None:
                return ex.submit(run_keyed_chunk, key, st, method, *chunk_args[j])
            return ex.submit(run_keyed_chunk_into, key, st, method, into[0], into[1][j], *chunk_args[j])

        try:
            futures = {submit(j, j < first): j for j in range(len(chunk_args))}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    j = futures[f]
                    try:
                        proof, results[j], warned = f.result()
                    except MissingStateError:
                        again = submit(j, True)
                        futures[again] = j
                        pending.add(again)
                        continue
                    if proof is not None and not proof.ok:
                        raise UntrustedWorkerError(proof.why)
                    reissue(warned)
            return results
        except TerminatedWorkerError as exc:
            codes = [ln.strip() for ln in str(exc).splitlines() if "exit codes" in ln]
            raise RuntimeError("a worker process died while evaluating the cost (a crash, or the system killed it"
                               f"{'; ' + codes[0] if codes else ''}); run with workers=1 to see the failure in "
                               "this process") from None
        except BaseException:  # Ctrl-C (KeyboardInterrupt), a failed proof, the user's exception
            if any(not f.done() for f in futures):
                self.stop()  # chunks still running would keep the cores busy after the check is gone
            raise
        finally:
            for f in futures:
                f.cancel()
            record_busy(busy_since, time.monotonic(), self.n_workers)  # its share of the load average

    def stop(self) -> None:
        """Stop the workers now (their running chunks with them); the next check starts new ones."""
        ex = _STARTUP.get("executor")
        _STARTUP["executor"] = None
        if ex is not None:
            ex.shutdown(wait=True, kill_workers=True)


def check_key(digest, theta, probe) -> str:
    """The name a worker keeps one check's state under: the cost, θ and the probe's answers."""
    h = hashlib.blake2b(theta.tobytes(), digest_size=8)
    for a in (probe.value, *probe.args, probe.costs):
        h.update(bits(a))
    return digest + h.hexdigest()


class DaskRunner:
    """The chunks of one check as tasks on a Dask cluster (θ and the cost sent once).

    The cost and θ go to the cluster as tasks of their own, not as scattered
    data: a worker lost mid-check takes its copies with it, and the scheduler
    makes them again where its chunks run next (a lost worker costs only its
    chunk).  A closed client, a cluster without workers and a cost that loses
    every worker are :class:`RuntimeError` s naming the cluster's state.
    """

    min_chunk_seconds = DASK_MIN_CHUNK_SECONDS
    chunks_per_worker = DASK_CHUNKS_PER_WORKER

    def __init__(self, client, progress=None):
        self.client = client
        self.progress = progress

    @property
    def n_workers(self) -> int:
        try:
            return max(1, len(self.client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - a closed client: ready() says so
            return 1

    def describe(self) -> str:
        return f"Dask cluster of {self.n_workers} workers"

    def _where(self) -> str:
        address = getattr(self.client, "scheduler", None)
        address = getattr(address, "address", None) or "?"
        return f"the Dask cluster at {address}"

    def ready(self) -> None:
        """Raise a clear error unless the client is open and its cluster has a
        worker (one that joins within :data:`DASK_WAIT_SECONDS` counts)."""
        status = getattr(self.client, "status", "running")
        if status != "running":
            raise RuntimeError(f"the Dask client is closed (status {status!r}): pass an open Client, or workers= "
                               "for this machine's cores")
        try:
            self.client.wait_for_workers(1, timeout=DASK_WAIT_SECONDS)
        except (TimeoutError, OSError) as exc:
            raise RuntimeError(f"{self._where()} has no workers (none joined within {DASK_WAIT_SECONDS:g} s): start "
                               "some (dask worker ADDRESS, cluster.scale(n)), or pass workers= for this machine's "
                               "cores") from exc

    def map(self, payload, digest, method, theta, chunk_args, probe) -> list:
        from distributed import as_completed

        from fastcheck.support.progress import make_progress

        self.ready()
        client = self.client
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Large object.*")  # the cost's bytes, sent once
            payload_f = client.submit(_itself, payload, pure=False)
            theta_f = client.submit(_itself, theta, pure=False)
            key = check_key(digest, theta, probe)
            futures = [client.submit(run_chunk, key, digest, payload_f, method, theta_f, probe, *a, pure=False)
                       for a in chunk_args]
        mode = self.progress
        if mode is None:
            mode = "rich" if sys.stderr.isatty() else False
        try:
            with make_progress(mode, len(futures), "gradient check (chunks)") as bar:
                for f in as_completed(futures):
                    proof, _, warned = self._result(f)
                    if proof is not None and not proof.ok:
                        raise UntrustedWorkerError(proof.why)
                    reissue(warned)
                    bar.advance()
            return [f.result()[1] for f in futures]
        finally:
            client.cancel(futures + [payload_f, theta_f])

    def _result(self, future):
        """``future``'s result; the user's exception as raised; lost workers as a RuntimeError naming the cluster."""
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            lost = exc
        except Exception as exc:
            if "Cancelled" not in type(exc).__name__:
                raise
            lost = exc
        try:
            left = len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - the client went too
            left = "no"
        line = (str(lost).strip().splitlines() or [""])[0][:160]
        raise RuntimeError(f"Dask workers were lost while evaluating the cost, every time a chunk ran "
                           f"({type(lost).__name__}: {line}); {self._where()} now has {left} worker(s): a crash, or "
                           "the system killed them; run with workers=1 to see the failure in this process") from None


def _itself(x):
    """A task returning its argument: data the scheduler can make again when the worker holding it is lost."""
    return x
