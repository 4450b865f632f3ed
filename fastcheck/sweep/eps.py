"""The ε sweep: error of the numerical gradient against ε, per scheme and precision."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.gradient import run_check
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions
from fastcheck.core.steps import SCHEMES, StepTooSmallError
from fastcheck.core.validate import select_coords
from fastcheck.errors import PrecisionWarning
from fastcheck.evaluators.choose import make_evaluator
from fastcheck.evaluators.loop import complex_dtype
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.problems import Problem, fingerprint, get_problem
from fastcheck.sweep import dask as dask_support
from fastcheck.sweep.engine import SweepHooks, load_problems, require_sweep_memory, run_grid
from fastcheck.sweep.grid import (
    DEFAULT_DTYPES,
    DEFAULT_SCHEMES,
    GridError,
    validate_dtypes,
    validate_eps_grid,
    validate_positive_int,
    validate_schemes,
    validate_threads,
)
from fastcheck.sweep.schema import EPS_KEY, EPS_SCHEMA, VERSIONS
from fastcheck.sweep.shared import SharedStencil
from fastcheck.verdicts.bands import relative_difference

if TYPE_CHECKING:
    from fastcheck.sweep.result import SweepTable

__all__ = ["EpsOptions", "eps_point", "eps_sweep"]


def _structured_evaluator(problem: Problem, threads, dtype="float64"):
    """The structure-aware evaluator of a built-in model in ``dtype``, or None if there is none."""
    if problem.model is None:
        return None
    return LayeredEvaluator(problem.model, *problem.data, threads, dtype=dtype)


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
        if not self.ev.caps.complex_step:
            return f"skipped: the {self.ev.path} evaluator has no complex step"
        if self.ev.caps.calls_user_cost:  # a black-box cost: ask it directly first
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    v = self.ev.cost(self.theta.astype(complex_dtype(self.theta.dtype)), *self.args)
            except Exception as exc:
                return f"skipped: the cost cannot take complex theta ({_first_line(exc)})"
            if not np.iscomplexobj(v):
                return "skipped: the cost returns a real value for complex theta (it would drop the imaginary part)"
        try:
            self.ev.complex_step(self.theta, self.coords[:1], np.full(1, 1e-20))
        except Exception as exc:
            return f"skipped: no complex step ({_first_line(exc)})"
        return ""


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _prepared(problem: Problem, dtype: str, opts: EpsOptions, threads) -> _Prepared:
    def prepare():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            return _Prepared(problem, dtype, opts, threads)

    return problem.memo(("prepared", dtype, threads, opts), prepare)


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
                res = run_check(ev, prep.theta, prep.ref,
                                CheckOptions(eps=eps, scheme=name, coords=prep.coords, layout=prep.layout), refine=False)
        except StepTooSmallError:
            row["note"] = f"skipped: eps below {dtype} resolution (theta_i + eps == theta_i at some coordinates)"
            continue
        wall = time.perf_counter() - t0
        spent_shared = getattr(ev, "compute_seconds", 0.0) - before
        own[len(rows) - 1] = wall - spent_shared
        if not scheme.complex and ev is not prep.ev:
            shares[len(rows) - 1] = res.n_evals
        row.update(_error_metrics(res), n_evals=int(res.n_evals), n_nonfinite=len(res.nonfinite),
                   n_kinks=len(res.kinks), step=float(np.median(res.steps)), seconds=wall)
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
) -> SweepTable:
    """Error of the numerical gradient against ε, per scheme and precision.

    Parameters
    ----------
    problem : problem spec or list of them
        A registry name (``"tutorial"``, ``"mlp:784-128-10"``, ``"smooth:n=20"``),
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
        (another one gets :class:`fastcheck.DirectoryBusyError`).
    resume : bool
        Keep the finished points in ``out`` and compute only the missing
        ones.  Refused (:class:`fastcheck.ResumeError`) when an option
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
        sweep is refused with :class:`fastcheck.ResourceError`
        before anything is allocated.

    Returns
    -------
    SweepTable
        A pandas DataFrame (:class:`fastcheck.sweep.SweepTable`: in a notebook it shows
        the V of error against ε, the fitted orders and the rows).
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
    eps = validate_eps_grid(eps)
    schemes = validate_schemes(schemes)
    dtypes = validate_dtypes(dtypes)
    (threads,) = validate_threads(threads)
    if coords is not None and sample is not None:
        raise GridError("give coords or sample, not both")
    sample = validate_positive_int(sample, "sample")
    if jit not in ("auto", True, False):
        raise GridError(f"jit must be 'auto', True or False, got {jit!r}")
    specs = list(problem) if isinstance(problem, list) else [problem]
    require_sweep_memory(specs, len(specs) * len(schemes) * len(dtypes) * len(eps), threads, force)
    problems = load_problems(problem)
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

    def plan(finished):
        tasks = []
        for p in problems:
            for d in dtypes:
                for e in eps:
                    missing = tuple(s for s in schemes if (p.name, s, d, e) not in finished)
                    if missing:
                        tasks.append((p, d, e, missing))
        return tasks

    hooks = SweepHooks(
        "eps", EPS_SCHEMA, EPS_KEY,
        local=lambda t: _eps_local(t, opts),
        remote=_eps_task,
        payload=lambda t, shipped: (shipped, t[0].name, t[1], t[2], t[3], opts),
        label=lambda rows: f"{rows[0]['problem']} {rows[0]['dtype']} eps={rows[0]['eps']:.1e}",
        n_rows=lambda t: len(t[3]),
    )
    return run_grid(hooks, problems, grid, meta, plan, out=out, resume=resume, overwrite=overwrite,
                    progress=progress, client=client, chunk=chunk, threads=threads)


def _eps_local(task, opts: EpsOptions) -> list:
    p, d, e, missing = task
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        return eps_point(p, p.name, d, e, missing, opts)
