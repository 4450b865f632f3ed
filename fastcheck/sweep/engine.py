"""The one run loop of every sweep: store, resume, progress, local or Dask.

A sweep is a grid of points, each computed by a pure function of its task.
:func:`run_grid` does everything around that function the same way for
every kind of sweep: it opens (and locks) the results directory, skips the
points already there (``resume``), runs the rest in this process or as Dask
tasks, appends each finished point to the results file at once, and returns
the table in grid order, identical whether the sweep ran in one go, was
resumed, or ran on a cluster (apart from the timing columns).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.errors import GridError
from fastcheck.problems import estimated_bytes, get_problem
from fastcheck.support.progress import make_progress
from fastcheck.support.resources import grid_bytes, require_memory
from fastcheck.sweep import dask as dask_support
from fastcheck.sweep.result import SweepTable, as_sweep_table
from fastcheck.sweep.schema import TIMING_COLUMNS
from fastcheck.sweep.store import ResultStore, coerce

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SweepHooks", "load_problems", "require_sweep_memory", "run_grid"]


@dataclass(frozen=True)
class SweepHooks:
    """What the run loop calls for one sweep (eps or size): its table, how a task runs, its progress line.

    Attributes
    ----------
    name : str
        ``"eps"`` or ``"size"`` (the title of the progress bar).
    schema, key : dict, tuple
        The table's columns and the columns that identify a point.
    local : callable
        ``local(task) -> rows``, in this process.
    remote : callable
        A module-level ``remote(payload) -> rows`` for a Dask worker.
    payload : callable
        ``payload(task, shipped_problem) -> payload`` for ``remote``.
    label : callable
        ``label(rows) -> str`` for the progress bar.
    n_rows : callable
        ``n_rows(task) -> int``: rows a task yields.
    """

    name: str
    schema: dict
    key: tuple
    local: Callable
    remote: Callable
    payload: Callable
    label: Callable
    n_rows: Callable = lambda task: 1


def load_problems(problem) -> list:
    """One problem or a list of them; names must be unique."""
    items = list(problem) if isinstance(problem, list) else [problem]
    if not items:
        raise GridError("no problem given: the grid is empty")
    problems = [get_problem(p) for p in items]
    names = [p.name for p in problems]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise GridError(f"problem names must be unique, repeated: {dup}")
    return problems


def require_sweep_memory(specs, n_points, threads, force) -> None:
    """Refuse, before anything is built, a grid or a problem larger than the machine's memory."""
    require_memory(grid_bytes(n_points), f"a sweep grid of {n_points:,} points", force=force)
    for spec in specs:
        n, nbytes = estimated_bytes(spec, threads or config.num_threads())
        if nbytes is not None:
            require_memory(nbytes, f"problem {spec!r} ({n:,} parameters)", force=force)


def run_grid(hooks: SweepHooks, problems, grid, meta, plan, *, out, resume, overwrite, progress,
             client, chunk, threads) -> SweepTable:
    """Run the points of ``grid`` not yet in ``out`` and return the whole table in grid order (a
    :class:`~fastcheck.sweep.result.SweepTable`: in a notebook it shows the sweep's plot).

    ``plan(finished) -> tasks`` turns the set of finished keys into the tasks
    still to run (each task carries its problem as ``task[0]``); ``threads``
    is the largest Numba thread count a task asks for (checked against
    what a Dask worker may use).
    """
    store, done = _open_store(out, hooks.schema, meta, resume, overwrite, hooks.key)
    tasks = plan(_finished_keys(done, hooks.key))
    rows = []
    try:
        with make_progress(progress, sum(hooks.n_rows(t) for t in tasks), f"{hooks.name} sweep") as bar:
            def finished(new):
                rows.extend(new)
                if store is not None:
                    store.append(new)
                bar.advance(len(new), hooks.label(new))

            if client is None:
                for task in tasks:
                    finished(hooks.local(task))
            elif tasks:
                worker_n = dask_support.configure(client)
                if threads is not None and threads > worker_n:
                    raise GridError(f"threads={threads} exceeds the {worker_n} Numba thread(s) each Dask worker may use")
                shipped = dict(zip([p.name for p in problems], dask_support.ship_problems(client, problems)))
                payloads = [hooks.payload(task, shipped[task[0].name]) for task in tasks]
                dask_support.run(client, hooks.remote, payloads, finished, chunk or _auto_chunk(client, len(payloads)))
        return as_sweep_table(_final_table(done, rows, grid, hooks.key, hooks.schema, store, meta))
    except BaseException:
        if store is not None:
            store.abort()
        raise


def _open_store(out, schema, meta, resume, overwrite, key):
    """The locked results store of ``out`` and its finished rows (none without ``out``)."""
    import pandas as pd

    if out is None:
        if resume:
            raise GridError("resume needs out= (the directory of the interrupted sweep)")
        return None, coerce(pd.DataFrame(columns=list(schema)), schema)
    store = ResultStore(out, schema, key=key, volatile=TIMING_COLUMNS)
    return store, store.start(meta, resume=bool(resume), overwrite=bool(overwrite))


def _finished_keys(done: pd.DataFrame, key) -> set:
    return set(zip(*(done[k].tolist() for k in key))) if len(done) else set()


def _final_table(done, rows, grid, key, schema, store, meta) -> pd.DataFrame:
    """The grid's rows in grid order (finished before + computed now); the store is finished and unlocked."""
    import pandas as pd

    new = coerce(pd.DataFrame(rows), schema) if rows else coerce(pd.DataFrame(columns=list(schema)), schema)
    frames = [f for f in (done, new) if len(f)]
    allrows = pd.concat(frames, ignore_index=True) if frames else new
    order = {k: i for i, k in enumerate(grid)}
    keys = list(zip(*(allrows[k].tolist() for k in key))) if len(allrows) else []
    rank = np.array([order.get(k, -1) for k in keys], dtype=np.int64)
    in_grid = rank >= 0
    table = allrows[in_grid].assign(_rank=rank[in_grid]).sort_values("_rank", kind="stable")
    table = table.drop_duplicates("_rank", keep="last").drop(columns="_rank").reset_index(drop=True)
    table = coerce(table, schema)
    table.attrs.update(meta)
    if store is not None:
        extra = allrows[~in_grid]  # finished points of a wider earlier grid: kept in the file
        store.finish(pd.concat([table, coerce(extra, schema)], ignore_index=True) if len(extra) else table)  # unlocks
    return table


def _auto_chunk(client, n_payloads: int) -> int:
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    return max(1, n_payloads // (8 * n_workers))
