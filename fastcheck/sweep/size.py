"""The size sweep: time every way of checking against model size, mode and Numba threads."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.checks.directional import check_directional
from fastcheck.checks.gradient import check_gradient
from fastcheck.checks.model import check_model
from fastcheck.errors import GridError
from fastcheck.problems import Problem, fingerprint, get_problem
from fastcheck.sweep.engine import SweepHooks, load_problems, require_sweep_memory, run_grid
from fastcheck.sweep.grid import DEFAULT_MODES, validate_modes, validate_positive_int, validate_threads
from fastcheck.sweep.measure import PeakMemory, estimate_full
from fastcheck.sweep.schema import SIZE_KEY, SIZE_SCHEMA, VERSIONS

if TYPE_CHECKING:
    from fastcheck.sweep.result import SweepTable

__all__ = ["SizeOptions", "size_point", "size_sweep"]


@dataclass(frozen=True)
class SizeOptions:
    sample: int = 8
    n_dirs: int = config.N_DIRS
    repeat: int = 3
    budget: float = 60.0
    seed: int = 0
    jit: object = "auto"

    def as_meta(self) -> dict:
        return {"sample": self.sample, "n_dirs": self.n_dirs, "seed": self.seed, "jit": self.jit}


def _check_model(problem, theta, **kw):
    X, y = problem.data
    return check_model(problem.model, theta, X, y, **kw)


def _mode_call(problem: Problem, mode: str, opts: SizeOptions):
    """``call(threads, small) -> CheckResult`` for a mode, or a note why it cannot run."""
    theta = problem.theta
    layout = problem.layout

    if mode in ("structured", "sampled") and problem.model is not None:
        def call(t, small=False, coords=None):
            kw = {"sample": 1 if small else opts.sample} if mode == "sampled" else {"coords": [0] if small else coords}
            return _check_model(problem, theta, mode="structured", threads=t, seed=opts.seed, **kw)
        return call, ""
    if mode == "structured":
        return None, "skipped: no structure-aware kernel for this problem (not a built-in model)"
    if mode in ("blackbox", "sampled"):
        def call(t, small=False, coords=None):
            kw = {"sample": 1 if small else opts.sample} if mode == "sampled" else {"coords": [0] if small else coords}
            if problem.model is not None:
                return _check_model(problem, theta, mode="blackbox", threads=t, seed=opts.seed, **kw)
            return check_gradient(problem.cost, theta, problem.grad, args=problem.args, layout=layout,
                                  threads=t, seed=opts.seed, jit=opts.jit, **kw)
        return call, ""

    def call(t, small=False, coords=None):  # directional
        return check_directional(problem.cost, theta, problem.grad, args=problem.args, layout=layout,
                                 directions=1 if small else opts.n_dirs, seed=opts.seed, threads=t, jit=opts.jit)
    return call, ""


def size_point(problem: Problem, label: str, mode: str, threads: int, opts: SizeOptions) -> dict:
    """One (problem, mode, threads) row: the median time of ``repeat`` checks after a warm-up."""
    row = {"problem": label, "n_params": problem.n_params, "mode": mode, "threads": int(threads),
           "checked": 0, "n_evals": 0, "seconds": np.nan, "evals_per_s": np.nan, "peak_mem_mb": np.nan,
           "difference": np.nan, "verdict": "", "passed": False, "path": "", "note": "", **VERSIONS}
    call, note = _mode_call(problem, mode, opts)
    if call is None:
        row["note"] = note
        return row
    coords = None
    with config.threads(threads):
        call(threads, small=True)  # compile outside the timings
        if mode in ("structured", "blackbox"):
            estimate = estimate_full(call, threads, problem.n_params)
            if estimate > opts.budget:
                row["note"] = f"skipped: a full check would take about {estimate:.0f} s (budget {opts.budget:g} s)"
                return row
        times = []
        for r in range(opts.repeat):
            if r == 0:
                with PeakMemory() as mem:
                    t0 = time.perf_counter()
                    res = call(threads, coords=coords)
                    times.append(time.perf_counter() - t0)
            else:
                t0 = time.perf_counter()
                res = call(threads, coords=coords)
                times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    row.update(checked=len(res.coords), n_evals=int(res.n_evals), seconds=seconds,
               evals_per_s=res.n_evals / seconds if seconds > 0 else np.nan, peak_mem_mb=mem.mb,
               difference=float(res.difference), verdict=res.verdict, passed=bool(res.passed), path=res.path,
               note=getattr(res, "note", "") or "")
    return row


def _size_task(payload):
    ref, label, mode, threads, opts = payload
    return [size_point(get_problem(ref), label, mode, threads, opts)]


def _size_spec(spec, batch, activation, loss, seed):
    """The registry spec of a size-sweep entry given as layer sizes (else the entry itself)."""
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, (int, np.integer)) for s in spec):
        spec = "-".join(str(int(s)) for s in spec)
    if isinstance(spec, str) and spec.replace("-", "").isdigit() and "-" in spec:
        return f"mlp:{spec},batch={batch},act={activation},loss={loss},seed={seed}"
    return spec


def _size_problem(spec, batch, activation, loss, seed):
    """A size-sweep entry: layer sizes (ints or "784-128-10") become an MLP
    problem labelled ``mlp:784-128-10`` (batch, activation and loss are the
    sweep's settings, recorded in its metadata)."""
    full = _size_spec(spec, batch, activation, loss, seed)
    if full is not spec and isinstance(full, str) and full.startswith("mlp:"):
        return get_problem(full, name=full.split(",", 1)[0])
    return spec


def size_sweep(
    sizes,
    modes=DEFAULT_MODES,
    threads=(1, 2),
    *,
    batch=64,
    activation="sigmoid",
    loss="sse",
    sample=8,
    n_dirs=config.N_DIRS,
    repeat=3,
    budget=60.0,
    seed=0,
    jit="auto",
    out=None,
    resume=False,
    overwrite=False,
    progress=False,
    client=None,
    force=False,
) -> SweepTable:
    """Time each way of checking, against model size and Numba threads.

    With several networks it is also the batch check: many models, one table.

    Parameters
    ----------
    sizes : sequence
        Each entry is layer sizes (``(784, 128, 10)`` or ``"784-128-10"``: an
        MLP with ``batch``, ``activation``, ``loss``) or any problem spec.
    modes : sequence of {"structured", "blackbox", "directional", "sampled"}
        structured: every coordinate with the structure-aware kernel;
        blackbox: every coordinate with the black-box kernel; directional:
        ``n_dirs`` random directions per block; sampled: ``sample``
        coordinates per block (structure-aware where there is one).
    threads : sequence of int
        Numba thread counts.
    repeat : int
        Timed runs per point (after one compiling warm-up); the median is kept.
    budget : float
        A full-coordinate mode whose estimated time (from probes of growing
        numbers of coordinates) exceeds this many seconds is skipped, with a note.
    out, resume, overwrite, progress, client, force
        As in :func:`eps_sweep`.

    Returns
    -------
    SweepTable
        A pandas DataFrame (:class:`fastcheck.sweep.SweepTable`: in a notebook it shows
        the time against size and the rows).
        One row per (problem, mode, threads): n_params, checked, n_evals,
        seconds (median wall time of a check call), evals_per_s,
        peak_mem_mb (resident memory above the level before the check),
        difference, verdict, passed, path, note.
    """
    modes = validate_modes(modes)
    threads = validate_threads(threads, allow_none=False)
    sample = validate_positive_int(sample, "sample", allow_none=False)
    n_dirs = validate_positive_int(n_dirs, "n_dirs", allow_none=False)
    repeat = validate_positive_int(repeat, "repeat", allow_none=False)
    batch = validate_positive_int(batch, "batch", allow_none=False)
    if not (isinstance(budget, (int, float)) and budget > 0):
        raise GridError(f"budget must be a positive number of seconds, got {budget!r}")
    if isinstance(sizes, (str, Problem)) or (isinstance(sizes, tuple) and sizes and callable(sizes[0])):
        sizes = [sizes]
    sizes = list(sizes)
    if not sizes:
        raise GridError("no sizes given: the grid is empty")
    specs = [_size_spec(s, batch, activation, loss, seed) for s in sizes]
    require_sweep_memory(specs, len(specs) * len(modes) * len(threads), max(threads), force)
    problems = load_problems([_size_problem(s, batch, activation, loss, seed) for s in sizes])
    opts = SizeOptions(sample=sample, n_dirs=n_dirs, repeat=repeat, budget=float(budget), seed=int(seed), jit=jit)

    grid = [(p.name, m, t) for p in problems for m in modes for t in threads]
    meta = {"kind": "size", "problems": [p.name for p in problems], "modes": list(modes), "threads": list(threads),
            "mlp": {"batch": batch, "activation": activation, "loss": loss},
            "options": opts.as_meta(), "timing": {"repeat": repeat, "budget": float(budget)},
            "fingerprints": {p.name: fingerprint(p) for p in problems}}
    def plan(finished):
        return [(p, m, t) for p in problems for m in modes for t in threads if (p.name, m, t) not in finished]

    hooks = SweepHooks(
        "size", SIZE_SCHEMA, SIZE_KEY,
        local=lambda t: [size_point(t[0], t[0].name, t[1], t[2], opts)],
        remote=_size_task,
        payload=lambda t, shipped: (shipped, t[0].name, t[1], t[2], opts),
        label=lambda rows: f"{rows[0]['problem']} {rows[0]['mode']} x{rows[0]['threads']}",
    )
    return run_grid(hooks, problems, grid, meta, plan, out=out, resume=resume, overwrite=overwrite,
                    progress=progress, client=client, chunk=1, threads=max(threads))
