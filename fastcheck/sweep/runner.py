"""The sweeps: ε × scheme × dtype per problem, and size × mode × threads.

Both follow one pattern.  The grid is validated and the problems are loaded
before any work; the points already in the results file are skipped
(``resume``); the rest run in this process or as Dask tasks; each finished
point is appended to the results file at once; the table is returned in grid
order, identical whether the sweep ran in one go, was resumed, or ran on a
cluster (apart from the timing columns).
"""
from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from .. import __version__, config
from ..check import PrecisionWarning, check_directional, check_gradient, run_check, select_coords
from ..evaluate import LoopEvaluator, complex_dtype, make_evaluator
from ..layout import Layout
from ..problems import Problem, estimated_bytes, fingerprint, get_problem
from ..resources import grid_bytes, require_memory
from ..result import relative_difference
from ..steps import SCHEMES, get_scheme
from . import dask as dask_support
from .grid import (
    DEFAULT_DTYPES,
    DEFAULT_MODES,
    DEFAULT_SCHEMES,
    GridError,
    check_dtypes,
    check_eps_grid,
    check_modes,
    check_positive_int,
    check_schemes,
    check_threads,
)
from .progress import make_progress
from .store import ResultStore, coerce

VERSIONS = {"fastcheck_version": __version__, "numba_version": numba.__version__, "numpy_version": np.__version__}

EPS_SCHEMA = {
    "problem": "str", "n_params": "int", "scheme": "str", "dtype": "str", "eps": "float",
    "difference": "float", "max_abs_err": "float", "median_rel_err": "float",
    "checked": "int", "n_evals": "int", "n_nonfinite": "int", "n_kinks": "int", "step": "float",
    "seconds": "float", "threads": "int", "path": "str", "note": "str",
    "fastcheck_version": "str", "numba_version": "str", "numpy_version": "str",
}
EPS_KEY = ("problem", "scheme", "dtype", "eps")

SIZE_SCHEMA = {
    "problem": "str", "n_params": "int", "mode": "str", "threads": "int",
    "checked": "int", "n_evals": "int", "seconds": "float", "evals_per_s": "float", "peak_mem_mb": "float",
    "difference": "float", "verdict": "str", "passed": "bool", "path": "str", "note": "str",
    "fastcheck_version": "str", "numba_version": "str", "numpy_version": "str",
}
SIZE_KEY = ("problem", "mode", "threads")

#: Columns that measure time (they differ between runs; everything else does not).
TIMING_COLUMNS = ("seconds", "evals_per_s", "peak_mem_mb", "threads")


# ====================================================================== problems
def _load_problems(problem) -> list:
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


def _structured_evaluator(problem: Problem, threads, dtype="float64"):
    """The structure-aware evaluator of a built-in model in ``dtype``, or None if there is none."""
    if problem.model is None:
        return None
    try:
        from ..structured import LayeredEvaluator
    except ImportError:
        return None
    return LayeredEvaluator(problem.model, *problem.data, threads, dtype=dtype)


# ====================================================================== eps sweep
@dataclass(frozen=True)
class EpsOptions:
    coords: tuple | None = None
    sample: int | None = None
    seed: int = 0
    threads: int | None = None
    jit: object = "auto"
    share: bool = True
    structured: bool = True

    def as_meta(self) -> dict:
        return {"coords": None if self.coords is None else list(self.coords), "sample": self.sample,
                "seed": self.seed, "jit": self.jit, "structured": self.structured}


class _Prepared:
    """Everything a (problem, dtype) needs before its ε points: built once per process."""

    def __init__(self, problem: Problem, dtype: str, opts: EpsOptions, threads):
        self.layout = problem.layout if problem.layout is not None else Layout.single(problem.n_params)
        self.coords = select_coords(problem.n_params, self.layout,
                                    None if opts.coords is None else np.asarray(opts.coords), opts.sample, opts.seed)
        self.theta, self.args = problem.at(dtype)
        self.ref = problem.reference_gradient(dtype)
        self.ev = _structured_evaluator(problem, threads, dtype) if opts.structured else None
        if self.ev is None:
            self.ev = make_evaluator(problem.cost, self.args, threads=threads, theta=self.theta,
                                     jit=opts.jit, n_coords=len(self.coords))
        self.complex_note = self._complex_support()

    @property
    def path(self) -> str:
        return self.ev.path

    @property
    def threads(self) -> int:
        return int(self.ev.threads)

    def _complex_support(self) -> str:
        """'' when the complex step can run, else why not."""
        if not hasattr(self.ev, "complex_step"):
            return f"skipped: the {self.ev.path} evaluator has no complex step"
        if isinstance(self.ev, LoopEvaluator):  # a black-box cost: ask it directly first
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    v = self.ev.cost(self.theta.astype(complex_dtype(self.theta.dtype)), *self.args)
            except Exception as exc:  # noqa: BLE001 - any failure means "no complex step"
                return f"skipped: the cost cannot take complex theta ({_first_line(exc)})"
            if not np.iscomplexobj(v):
                return "skipped: the cost returns a real value for complex theta (it would drop the imaginary part)"
        try:
            self.ev.complex_step(self.theta, self.coords[:1], np.full(1, 1e-20))
        except Exception as exc:  # noqa: BLE001
            return f"skipped: no complex step ({_first_line(exc)})"
        return ""


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _prepared(problem: Problem, dtype: str, opts: EpsOptions, threads) -> _Prepared:
    key = ("prepared", dtype, threads, opts)
    if key not in problem._cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            problem._cache[key] = _Prepared(problem, dtype, opts, threads)
    return problem._cache[key]


class SharedStencil:
    """An evaluator proxy that computes the union of several stencils once.

    forward (+1), central (±1) and central4 (±1, ±2) at the same ε perturb
    the same coordinates by the same effective steps, so the costs at
    offsets {−2, −1, +1, +2} serve all three.  Each cost is computed exactly
    as the scheme alone would compute it (same point, same kernel), so the
    numbers are identical to separate runs; only the work is shared.
    """

    def __init__(self, ev, offsets):
        self.ev = ev
        self.offsets = np.array(sorted(set(float(o) for o in offsets)), dtype=np.float64)
        self.compute_seconds = 0.0
        self._key = None
        self._vals = None
        self._kinks = None

    def __getattr__(self, name):
        return getattr(self.ev, name)

    def _same(self, theta, coords, steps) -> bool:
        return (self._key is not None and self._key[0] is theta and np.array_equal(self._key[1], coords)
                and np.array_equal(self._key[2], steps))

    def prepare(self, theta, kind):
        # Once the shared costs exist nothing is left to compile; skipping the
        # call also keeps a structured evaluator's own kink cache intact.
        if kind == "stencil" and self._vals is not None:
            return
        self.ev.prepare(theta, kind)

    def stencil(self, theta, coords, steps, offsets):
        offsets = np.asarray(offsets, np.float64)
        where = [np.flatnonzero(self.offsets == o) for o in offsets]
        if any(len(w) == 0 for w in where):
            return self.ev.stencil(theta, coords, steps, offsets)
        if not self._same(theta, coords, steps):
            t0 = time.perf_counter()
            self._vals = self.ev.stencil(theta, coords, steps, self.offsets)
            # Kink flags of the same points, while the evaluator still holds them.
            self._kinks = self.ev.kinks(theta, coords, steps) if hasattr(self.ev, "kinks") else None
            self.compute_seconds += time.perf_counter() - t0
            self._key = (theta, np.array(coords), np.array(steps))
        return self._vals[:, [int(w[0]) for w in where]]

    def kinks(self, theta, coords, steps):
        """Flags of the shared points (every offset of the union), or none."""
        if self._kinks is not None and self._same(theta, coords, steps):
            return self._kinks
        if hasattr(self.ev, "kinks"):
            return self.ev.kinks(theta, coords, steps)
        return np.zeros(len(coords), bool)


def _error_metrics(res) -> dict:
    num, ana = res.numerical, res.analytic
    finite = np.isfinite(num)
    if not finite.any():
        return {"difference": np.nan, "max_abs_err": np.nan, "median_rel_err": np.nan}
    a, g = ana[finite], num[finite]
    err = np.abs(a - g)
    scale = np.abs(a) + np.abs(g)
    rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
    return {"difference": relative_difference(a, g), "max_abs_err": float(err.max()),
            "median_rel_err": float(np.median(rel))}


def eps_point(problem: Problem, label: str, dtype: str, eps: float, schemes, opts: EpsOptions, threads=None) -> list:
    """The rows of one (problem, dtype, ε): one per scheme.

    Each row is a full per-coordinate check by the core (:func:`run_check`)
    against the float64 analytic gradient at the ``dtype``-rounded point.
    """
    threads = opts.threads if threads is None else threads
    prep = _prepared(problem, dtype, opts, threads)
    real = [s for s in schemes if not SCHEMES[s].complex]
    shared = opts.share and len(real) > 1
    ev = SharedStencil(prep.ev, [o for s in real for o in SCHEMES[s].offsets if o != 0]) if shared else prep.ev
    base = {"problem": label, "n_params": problem.n_params, "dtype": dtype, "eps": float(eps),
            "checked": len(prep.coords), "path": prep.path, **VERSIONS}
    rows, own, shares = [], {}, {}
    for name in schemes:
        scheme = SCHEMES[name]
        row = dict(base, scheme=name, threads=prep.threads, note="",
                   n_evals=0, n_nonfinite=0, n_kinks=0, step=np.nan, seconds=np.nan,
                   difference=np.nan, max_abs_err=np.nan, median_rel_err=np.nan)
        rows.append(row)
        if scheme.complex and prep.complex_note:
            row["note"] = prep.complex_note
            continue
        before = getattr(ev, "compute_seconds", 0.0)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrecisionWarning)
                # a sweep measures the quotient at each eps as it is: no refinement, no precision probe
                res = run_check(ev, prep.theta, prep.ref, eps=eps, scheme=name, coords=prep.coords, layout=prep.layout,
                                refine=False)
        except ValueError as exc:
            if "too small" not in str(exc):
                raise
            row["note"] = f"skipped: eps below {dtype} resolution (theta_i + eps == theta_i at some coordinates)"
            continue
        wall = time.perf_counter() - t0
        spent_shared = getattr(ev, "compute_seconds", 0.0) - before
        own[len(rows) - 1] = wall - spent_shared
        if not scheme.complex and ev is not prep.ev:
            shares[len(rows) - 1] = res.n_evals
        row.update(_error_metrics(res), n_evals=int(res.n_evals), n_nonfinite=len(res.nonfinite),
                   n_kinks=len(res.kinks), step=float(np.median(res.eps)), seconds=wall)
        if not np.isfinite(row["difference"]):
            row["note"] = "the cost is NaN or inf at every perturbed point"
    # Shared stencil time is charged to the schemes in proportion to the
    # evaluations each one uses, so the seconds of a row add up to wall time.
    total_shared = getattr(ev, "compute_seconds", 0.0)
    n_shared = sum(shares.values())
    for j, t in own.items():
        rows[j]["seconds"] = t + (total_shared * shares[j] / n_shared if j in shares and n_shared else 0.0)
    return rows


def _eps_task(payload):
    """A Dask task: ``(problem or spec, label, dtype, eps, schemes, opts)`` -> rows."""
    ref, label, dtype, eps, schemes, opts = payload
    problem = get_problem(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        return eps_point(problem, label, dtype, eps, schemes, opts, threads=opts.threads or dask_support.worker_threads())


def eps_sweep(
    problem,
    eps=None,
    schemes=DEFAULT_SCHEMES,
    dtypes=DEFAULT_DTYPES,
    *,
    coords=None,
    sample=None,
    seed=0,
    threads=None,
    jit="auto",
    structured=True,
    share=True,
    out=None,
    resume=False,
    overwrite=False,
    progress=False,
    client=None,
    chunk=None,
    force=False,
) -> pd.DataFrame:
    """Error of the numerical gradient against ε, per scheme and precision.

    Parameters
    ----------
    problem : problem spec or list of them
        A registry name (``"seed"``, ``"mlp:784-128-10"``, ``"smooth:n=20"``),
        ``"path/to/file.py:function"``, a ``(cost, theta, grad[, args])``
        tuple, a built-in model, or a :class:`fastcheck.problems.Problem`; a
        list sweeps several.
    eps : sequence of float, optional
        Absolute steps (the ε of the classic recipe).  Default: 29 log-spaced from 1 to 1e-14.
    schemes : sequence of str
        From ``fastcheck.SCHEMES``.
    dtypes : sequence of {"float64", "float32"}
        θ (and the data arrays among the cost's arguments) are cast to this
        precision and the checker works in it; the reference is the float64
        analytic gradient at the rounded point.  The core's float32 warning
        is silenced on purpose.
    coords, sample, seed
        Which coordinates to check (default: all), as in ``check_gradient``.
    threads : int, optional
        Numba threads (default: all; on Dask: the worker's share of its host).
    jit : {"auto", True, False}
        As in ``check_gradient``, for plain Python costs.
    structured : bool
        Use the structure-aware kernel for built-in models.
    share : bool
        Compute the perturbed costs of forward, central and central4 at one
        ε once (identical numbers, less work).
    out : path, optional
        Directory for ``results.csv`` (appended point by point) and
        ``sweep.json``.  This process is its only writer while the sweep runs
        (another one gets :class:`fastcheck.files.DirectoryBusyError`).
    resume : bool
        Keep the finished points in ``out`` and compute only the missing
        ones.  Refused (:class:`fastcheck.sweep.ResumeError`) when an option
        that shapes the results differs, a problem changed (θ, or its file's
        contents), ``sweep.json`` is missing, or the file holds two different
        rows for one point.
    overwrite : bool
        Start over even if ``out`` holds results.
    progress : {False, True, None, "rich", "plain"}
        A progress bar (True/None: rich on a terminal, plain lines otherwise).
    client : dask.distributed.Client, optional
        Run the grid points on this cluster.
    chunk : int, optional
        Grid points per Dask task (default: about eight tasks per worker).
    force : bool
        Run even when the memory estimate (problems named by spec, rows of
        the grid) exceeds what the machine has available; otherwise such a
        sweep is refused with :class:`fastcheck.resources.ResourceError`
        before anything is allocated.

    Returns
    -------
    DataFrame
        One row per (problem, scheme, dtype, eps): problem, n_params, scheme,
        dtype, eps, difference, max_abs_err, median_rel_err, checked,
        n_evals, n_nonfinite, n_kinks, step (median effective step),
        seconds, threads, path, note (why a point has no result), and the
        fastcheck/numba/numpy versions.  The errors cover every checked
        coordinate with finite costs (kinks included: the sweep measures the
        differences, it does not judge them).  ``seconds`` is the row's wall
        time; with ``share`` the shared evaluations are charged to the schemes
        in proportion to the evaluations each uses (so rows add up to the
        wall time), and ``n_kinks`` counts coordinates flagged at any offset
        of the shared stencil.  A point that cannot be computed (a
        step below the dtype's resolution, a cost without complex support)
        has NaN errors and says why in ``note``.
    """
    eps = check_eps_grid(eps)
    schemes = check_schemes(schemes)
    dtypes = check_dtypes(dtypes)
    (threads,) = check_threads(threads)
    if coords is not None and sample is not None:
        raise GridError("give coords or sample, not both")
    sample = check_positive_int(sample, "sample")
    if jit not in ("auto", True, False):
        raise GridError(f"jit must be 'auto', True or False, got {jit!r}")
    specs = list(problem) if isinstance(problem, list) else [problem]
    require_sweep_memory(specs, len(specs) * len(schemes) * len(dtypes) * len(eps), threads, force)
    problems = _load_problems(problem)
    if coords is not None:
        coords = tuple(int(c) for c in np.asarray(coords).reshape(-1))
    for p in problems:  # bad coordinates fail here, before any work
        select_coords(p.n_params, p.layout or Layout.single(p.n_params),
                      None if coords is None else np.asarray(coords, np.int64), sample, seed)
    opts = EpsOptions(coords=coords, sample=sample, seed=int(seed), threads=threads, jit=jit,
                      share=bool(share), structured=bool(structured))

    grid = [(p.name, s, d, e) for p in problems for s in schemes for d in dtypes for e in eps]
    meta = {"kind": "eps", "problems": [p.name for p in problems], "eps": list(eps), "schemes": list(schemes),
            "dtypes": list(dtypes), "options": opts.as_meta(),
            "fingerprints": {p.name: fingerprint(p) for p in problems}}
    store, done = _open_store(out, EPS_SCHEMA, meta, resume, overwrite, EPS_KEY)
    finished = _finished_keys(done, EPS_KEY)

    tasks = []
    for p in problems:
        for d in dtypes:
            for e in eps:
                missing = tuple(s for s in schemes if (p.name, s, d, e) not in finished)
                if missing:
                    tasks.append((p, d, e, missing))
    rows = []

    def on_done(new):
        rows.extend(new)
        if store is not None:
            store.append(new)

    n_points = sum(len(t[3]) for t in tasks)
    try:
        with make_progress(progress, n_points, "eps sweep") as bar:
            def done_cb(new):
                on_done(new)
                bar.advance(len(new), f"{new[0]['problem']} {new[0]['dtype']} eps={new[0]['eps']:.1e}")

            if client is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PrecisionWarning)
                    for p, d, e, missing in tasks:
                        done_cb(eps_point(p, p.name, d, e, missing, opts))
            elif tasks:
                worker_n = dask_support.configure(client)
                if threads is not None and threads > worker_n:
                    raise GridError(f"threads={threads} exceeds the {worker_n} Numba thread(s) each Dask worker may use")
                shipped = dict(zip([p.name for p in problems], dask_support.ship_problems(client, problems)))
                payloads = [(shipped[p.name], p.name, d, e, missing, opts) for p, d, e, missing in tasks]
                dask_support.run(client, _eps_task, payloads, done_cb, chunk or _auto_chunk(client, len(payloads)))
    except BaseException:
        if store is not None:
            store.abort()
        raise
    return _final(done, rows, grid, EPS_KEY, EPS_SCHEMA, store, {"kind": "eps", **meta})


# ====================================================================== size sweep
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
    from ..structured import check_model

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
                                 n_dirs=1 if small else opts.n_dirs, seed=opts.seed, threads=t, jit=opts.jit)
    return call, ""


class _PeakMemory:
    """Peak resident memory above the level at entry, in MB (Linux: VmHWM reset)."""

    def __enter__(self):
        self.mb = np.nan
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.before = _status_kb("VmRSS")
        except OSError:
            self.before = None
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            self.mb = max(0.0, (_status_kb("VmHWM") - self.before) / 1024.0)
        return False


def _status_kb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise OSError(field)


def _estimate_full(call, threads, n: int) -> float:
    """Seconds a full-coordinate check would take, from growing probes.

    A check of m evenly spread coordinates takes about ``a + b·m`` (a: the
    fixed part, such as a cached forward pass, which can dwarf b·m for small
    m).  m grows fourfold until the per-coordinate part is at least as large
    as the fixed part (and the probe takes 0.2 s), so that timing noise in
    ``a`` cannot pass for ``b``; the last two probes then give ``a + b·n``.
    """
    def probe(m):
        coords = np.unique(np.linspace(0, n - 1, m).round().astype(np.int64))
        t0 = time.perf_counter()
        call(threads, coords=coords)
        return len(coords), time.perf_counter() - t0

    m1, t1 = probe(min(n, 8))
    fixed = t1
    while m1 < n:
        m2, t2 = probe(min(n, 4 * m1))
        if m2 >= n:
            return t2
        if t2 >= max(0.2, 2 * fixed):
            return t2 + max(t2 - t1, 0.0) / (m2 - m1) * (n - m2)
        m1, t1 = m2, t2
    return t1


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
            estimate = _estimate_full(call, threads, problem.n_params)
            if estimate > opts.budget:
                row["note"] = f"skipped: a full check would take about {estimate:.0f} s (budget {opts.budget:g} s)"
                return row
        times = []
        for r in range(opts.repeat):
            if r == 0:
                with _PeakMemory() as mem:
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


def require_sweep_memory(specs, n_points, threads, force) -> None:
    """Refuse, before anything is built, a grid or a problem larger than the machine's memory."""
    require_memory(grid_bytes(n_points), f"a sweep grid of {n_points:,} points", force=force)
    for spec in specs:
        n, nbytes = estimated_bytes(spec, threads or config.num_threads())
        if nbytes is not None:
            require_memory(nbytes, f"problem {spec!r} ({n:,} parameters)", force=force)


def _size_problem(spec, batch, activation, loss, seed):
    """A size-sweep entry: layer sizes (ints or "784-128-10") become an MLP
    problem labelled ``mlp:784-128-10`` (batch, activation and loss are the
    sweep's settings, recorded in its metadata)."""
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, (int, np.integer)) for s in spec):
        spec = "-".join(str(int(s)) for s in spec)
    if isinstance(spec, str) and spec.replace("-", "").isdigit() and "-" in spec:
        return get_problem(f"mlp:{spec},batch={batch},act={activation},loss={loss},seed={seed}", name=f"mlp:{spec}")
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
) -> pd.DataFrame:
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
    DataFrame
        One row per (problem, mode, threads): n_params, checked, n_evals,
        seconds (median wall time of a check call), evals_per_s,
        peak_mem_mb (resident memory above the level before the check),
        difference, verdict, passed, path, note.
    """
    modes = check_modes(modes)
    threads = check_threads(threads, allow_none=False)
    sample = check_positive_int(sample, "sample", allow_none=False)
    n_dirs = check_positive_int(n_dirs, "n_dirs", allow_none=False)
    repeat = check_positive_int(repeat, "repeat", allow_none=False)
    batch = check_positive_int(batch, "batch", allow_none=False)
    if not (isinstance(budget, (int, float)) and budget > 0):
        raise GridError(f"budget must be a positive number of seconds, got {budget!r}")
    if isinstance(sizes, (str, Problem)) or (isinstance(sizes, tuple) and sizes and callable(sizes[0])):
        sizes = [sizes]
    sizes = list(sizes)
    if not sizes:
        raise GridError("no sizes given: the grid is empty")
    specs = [_size_spec(s, batch, activation, loss, seed) for s in sizes]
    require_sweep_memory(specs, len(specs) * len(modes) * len(threads), max(threads), force)
    problems = _load_problems([_size_problem(s, batch, activation, loss, seed) for s in sizes])
    opts = SizeOptions(sample=sample, n_dirs=n_dirs, repeat=repeat, budget=float(budget), seed=int(seed), jit=jit)

    grid = [(p.name, m, t) for p in problems for m in modes for t in threads]
    meta = {"kind": "size", "problems": [p.name for p in problems], "modes": list(modes), "threads": list(threads),
            "mlp": {"batch": batch, "activation": activation, "loss": loss},
            "options": opts.as_meta(), "timing": {"repeat": repeat, "budget": float(budget)},
            "fingerprints": {p.name: fingerprint(p) for p in problems}}
    store, done = _open_store(out, SIZE_SCHEMA, meta, resume, overwrite, SIZE_KEY)
    finished = _finished_keys(done, SIZE_KEY)
    tasks = [(p, m, t) for p in problems for m in modes for t in threads if (p.name, m, t) not in finished]
    rows = []
    try:
        with make_progress(progress, len(tasks), "size sweep") as bar:
            def done_cb(new):
                rows.extend(new)
                if store is not None:
                    store.append(new)
                bar.advance(len(new), f"{new[0]['problem']} {new[0]['mode']} x{new[0]['threads']}")

            if client is None:
                for p, m, t in tasks:
                    done_cb([size_point(p, p.name, m, t, opts)])
            elif tasks:
                worker_n = dask_support.configure(client)
                if max(threads) > worker_n:
                    raise GridError(f"threads={max(threads)} exceeds the {worker_n} Numba thread(s) each Dask worker may use")
                shipped = dict(zip([p.name for p in problems], dask_support.ship_problems(client, problems)))
                payloads = [(shipped[p.name], p.name, m, t, opts) for p, m, t in tasks]
                dask_support.run(client, _size_task, payloads, done_cb, 1)
    except BaseException:
        if store is not None:
            store.abort()
        raise
    return _final(done, rows, grid, SIZE_KEY, SIZE_SCHEMA, store, meta)


# ====================================================================== shared plumbing
def _open_store(out, schema, meta, resume, overwrite, key):
    """The locked results store of ``out`` and its finished rows (none without ``out``)."""
    if out is None:
        if resume:
            raise GridError("resume needs out= (the directory of the interrupted sweep)")
        return None, coerce(pd.DataFrame(columns=list(schema)), schema)
    store = ResultStore(out, schema, key=key, volatile=TIMING_COLUMNS)
    return store, store.start(meta, resume=bool(resume), overwrite=bool(overwrite))


def _finished_keys(done: pd.DataFrame, key) -> set:
    return set(zip(*(done[k].tolist() for k in key))) if len(done) else set()


def _final(done, rows, grid, key, schema, store, meta) -> pd.DataFrame:
    """The grid's rows in grid order (finished before + computed now); the store is finished and unlocked."""
    try:
        return _final_table(done, rows, grid, key, schema, store, meta)
    except BaseException:
        if store is not None:
            store.abort()
        raise


def _final_table(done, rows, grid, key, schema, store, meta) -> pd.DataFrame:
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
