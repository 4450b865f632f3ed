"""Products checked along random directions: Hessian-vector products and Jacobian-vector products.

``check_hvp`` compares ``hvp(θ, v)`` with ``(∇J(θ + h v) − ∇J(θ − h v)) / 2h``,
``check_jvp`` compares ``jvp(x, u)`` with ``(f(x + h u) − f(x − h u)) / 2h``, for
seeded random unit directions: two evaluations of the gradient (of f) per
direction whatever the size, every component of every product judged against
its own error bar (:mod:`fastcheck.verdicts.entries`).  The blocks are the
rows' blocks: θ's layout for a Hessian-vector product, the outputs' for a
Jacobian-vector product (a dict returned by ``f`` names them).
"""
from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.checks.base import coordinate_band
from fastcheck.checks.matrix import EntriesResult, assemble_entries
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.steps import get_scheme, validate_direction_eps
from fastcheck.core.validate import as_theta, layout_for, validate_threads
from fastcheck.evaluators.rows import rows_evaluator, summed_evaluator
from fastcheck.verdicts.bands import validate_thresholds
from fastcheck.verdicts.entries import Columns, judge_entries

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["check_hvp", "check_jvp", "unit_directions"]


def unit_directions(n: int, n_dirs: int, seed: int) -> np.ndarray:
    """``n_dirs`` seeded random unit vectors of length ``n``, as rows."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((int(n_dirs), int(n)))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _with_n_dirs(check):
    """``n_dirs=`` (the second-order checks' spelling, default 8) as a synonym of the shared ``directions=``."""
    name = check.__name__

    @functools.wraps(check)
    def wrapper(*targets, n_dirs=None, **kwargs):
        if n_dirs is not None:
            if kwargs.get("directions") is not None:
                raise TypeError(f"{name}() got both n_dirs= and directions=; pass one")
            kwargs["directions"] = n_dirs
        return check(*targets, **kwargs)

    sig = inspect.signature(check)
    params = list(sig.parameters.values())
    params.append(inspect.Parameter("n_dirs", inspect.Parameter.KEYWORD_ONLY, default=config.N_DIRS,
                                    annotation="int"))
    wrapper.__signature__ = sig.replace(parameters=params)
    wrapper.options = check.options + ("n_dirs",)
    return wrapper


class _Flat:
    """``f(x, *args)`` as a flat float vector (a dict of arrays concatenated in its layout's order); picklable."""

    def __init__(self, fn, layout=None):
        self.fn, self.layout = fn, layout

    def __call__(self, x, *args):
        return flatten_output(self.fn(x, *args), self.layout, "f")


def flatten_output(value, layout, what: str) -> np.ndarray:
    """A function's output (array or dict of arrays) as a flat float64 vector."""
    if isinstance(value, Mapping):
        if layout is None:
            raise TypeError(f"{what} returned a dict at one point and an array at another")
        return layout.flatten(value)
    return np.asarray(value, np.float64).reshape(-1)


def _output_layout(value, layout, what: str) -> Layout | None:
    if isinstance(value, Mapping):
        if layout is not None:
            raise ValueError(f"{what} returns a dict, which names its blocks; layout= does not apply")
        return Layout.from_arrays({k: np.asarray(v) for k, v in value.items()})
    if layout is not None:
        return layout if isinstance(layout, Layout) else Layout.from_arrays(layout)
    return None


def _products(fn, theta, dirs, args, n, layout, what) -> np.ndarray:
    """The analytic products, one column per direction: ``(n_dirs, n)``."""
    out = np.empty((len(dirs), n))
    for d, u in enumerate(dirs):
        v = flatten_output(fn(theta.copy(), u.copy(), *args), layout, what)
        if v.size != n:
            raise ValueError(f"{what} returned {v.size} values for direction {d}; expected {n}")
        if not np.isfinite(v).all():
            raise ValueError(f"{what} is NaN or inf for direction {d}")
        out[d] = v
    return out


def _run_products(fn_rows, x, product, opts: CheckOptions, *, what, kind, row_layout, fn_layout,
                  where) -> EntriesResult:
    """The shared body of :func:`check_hvp` and :func:`check_jvp`."""
    opts.require_full(where)
    n_dirs = config.N_DIRS if opts.directions is None else opts.directions
    if isinstance(n_dirs, bool) or not isinstance(n_dirs, (int, np.integer)) or n_dirs < 1:
        raise ValueError(f"{where}: n_dirs must be a positive integer, got {n_dirs!r}")
    if opts.coords is not None or opts.sample is not None:
        raise ValueError(f"{where} draws random directions over the whole input; coords= and sample= do not apply")
    scheme = get_scheme(opts.scheme)
    if scheme.complex:
        raise ValueError(f"{where} differences along directions: use a real scheme")
    eps = validate_direction_eps(opts.eps)
    thresholds = validate_thresholds(opts.thresholds)
    threads = validate_threads(opts.threads)
    ev, base = rows_evaluator(fn_rows, opts.args, theta=x, jit=opts.jit, threads=threads, workers=opts.workers,
                              client=opts.client)
    f0 = base.rows(x)
    n = f0.size
    if row_layout is None:
        row_layout = Layout.single(n, "output")
    elif row_layout.size != n:
        raise ValueError(f"the layout has {row_layout.size} entries but the function returned {n}")
    if not np.isfinite(f0).all():
        raise ValueError(f"the function is NaN or inf at the point itself ({int(np.count_nonzero(~np.isfinite(f0)))} "
                         "entries)")
    dirs = unit_directions(len(x), int(n_dirs), opts.seed)
    t0 = time.perf_counter()
    analytic = _products(product, x, dirs, opts.args, n, fn_layout, what.split()[0].lower())
    mach = float(np.finfo(x.dtype).eps)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    default = get_scheme("central").relative_step(x.dtype) * max(1.0, rms)
    steps = np.full(len(dirs), scheme.relative_step(x.dtype) * max(1.0, rms) if eps is None else float(eps))
    pair_ids = np.tile(row_layout.block_ids(np.arange(n)), len(dirs))
    ev_sum = summed_evaluator(base, scheme, workers=opts.workers, client=opts.client)
    j = judge_entries(ev, x, Columns(steps=steps, base=np.full(len(dirs), default), dirs=dirs), f0, analytic, scheme,
                      mach=mach, great=coordinate_band(thresholds, mach), pair_ids=pair_ids, ev_sum=ev_sum,
                      row_noise=np.full(n, mach * float(np.max(np.abs(f0)))))
    seconds = time.perf_counter() - t0
    return assemble_entries(
        ev_sum, x, j, rows=np.tile(np.arange(n, dtype=np.int64), len(dirs)), cols=np.repeat(np.arange(len(dirs)), n),
        row_layout=row_layout, col_layout=None, pair_layout=row_layout, pair_ids=pair_ids,
        analytic=analytic.reshape(-1), thresholds=thresholds, kind=kind, what=what, shape=(n, len(dirs)),
        steps=steps, eps=eps, scheme=scheme.name, seconds=seconds,
    )


@_with_n_dirs
@takes_options(specific={"grad": None},
               extra_docs={"grad": "the analytic gradient ``grad(theta, *args)`` (required): H·v is compared with its "
                                   "central difference along v"})
def check_hvp(cost: Callable[..., float], theta: ArrayLike, hvp: Callable[..., ArrayLike], *,
              opts: CheckOptions) -> EntriesResult:
    """Compare Hessian-vector products ``hvp(theta, v, *args)`` with differences of the gradient along v.

    ``n_dirs`` (or ``directions``, default 8) seeded random unit directions
    v over the whole of θ; per direction ``(∇J(θ + h v) − ∇J(θ − h v)) / 2h``,
    two gradient evaluations whatever n.  Each component of each product is
    judged against its error bar; blocks are θ's layout blocks (of the
    rows).  ``cost`` is not evaluated (it names what is being checked).

    Returns
    -------
    EntriesResult
    """
    if opts["grad"] is None:
        raise TypeError("check_hvp() needs grad=: H·v is compared with the difference of the gradient along v")
    theta = as_theta(theta)
    layout = layout_for(theta, opts.layout)
    return _run_products(opts["grad"], theta, hvp, opts, what="Hessian-vector product", kind="hvp",
                         row_layout=layout, fn_layout=None, where="check_hvp")


@_with_n_dirs
@takes_options()
def check_jvp(fn: Callable[..., ArrayLike], x: ArrayLike, jvp: Callable[..., ArrayLike], *,
              opts: CheckOptions) -> EntriesResult:
    """Compare Jacobian-vector products ``jvp(x, u, *args)`` with ``(fn(x + h u) − fn(x − h u)) / 2h``.

    ``fn(x, *args)`` returns an array (any shape, flattened) or a dict of
    arrays (its keys name the blocks of the report; ``jvp`` then returns the
    same dict); ``layout=`` names the blocks of a flat output.  ``n_dirs``
    (or ``directions``, default 8) seeded random unit directions u.

    Returns
    -------
    EntriesResult
    """
    x = as_theta(x, "x")
    first = fn(x.copy(), *opts.args)
    out_layout = _output_layout(first, opts.layout, "fn")
    flat_fn = _Flat(fn, out_layout if isinstance(first, Mapping) else None)
    return _run_products(flat_fn, x, jvp, opts.replace(layout=None), what="Jacobian-vector product", kind="jvp",
                         row_layout=out_layout, fn_layout=out_layout if isinstance(first, Mapping) else None,
                         where="check_jvp")
