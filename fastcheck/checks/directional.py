"""The directional check: u·g against the difference of the cost along random unit directions u.

Two cost evaluations per direction (for the central scheme) whatever the
size of θ: a first answer for any model.  With a layout the directions are
drawn inside every block, so a wrong block can be named; ``coords`` or
``sample`` restrict every direction to those coordinates.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.checks.base import analytic_gradient, assemble, base_value, coordinate_band, held_blas
from fastcheck.checks.result import CheckResult
from fastcheck.checks.usercost import user_problem
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.steps import direction_steps, get_scheme, validate_direction_eps
from fastcheck.core.validate import as_theta, layout_for, select_coords, validate_threads
from fastcheck.evaluators.choose import make_evaluator
from fastcheck.verdicts import errorbars
from fastcheck.verdicts.bands import validate_thresholds
from fastcheck.verdicts.directions import judge_directions

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["check_directional", "check_directional_with", "random_directions", "run_directional"]


def random_directions(layout: Layout, n_dirs: int, seed: int, per_block: bool, support=None):
    """Unit directions, ragged: ``(lo, start, values, block_of_direction)``.

    ``per_block`` draws ``n_dirs`` directions inside every block (so a wrong
    block can be named); otherwise ``n_dirs`` directions over all of θ.
    ``support`` (sorted flat coordinates, optional): every direction is zero
    off these coordinates (a block with none of them gets no direction).
    """
    rng = np.random.default_rng(seed)
    if per_block:
        spans = [(a, b - a, i) for i, (a, b) in enumerate(zip(layout.offsets[:-1], layout.offsets[1:])) if b > a]
    else:
        spans = [(0, layout.size, 0)]
    lo, lengths, block, values = [], [], [], []
    for a, length, b in spans:
        mask = None
        if support is not None:
            inside = support[(support >= a) & (support < a + length)]
            if not len(inside):
                continue
            a, length = int(inside[0]), int(inside[-1]) - int(inside[0]) + 1  # the span the direction needs
            mask = np.zeros(length, bool)
            mask[inside - a] = True
        for _ in range(n_dirs):
            u = rng.standard_normal(length)
            if mask is not None:
                u[~mask] = 0.0
            u /= np.linalg.norm(u)
            lo.append(a)
            lengths.append(length)
            block.append(b)
            values.append(u)
    start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return np.asarray(lo, np.int64), start, np.concatenate(values), np.asarray(block, np.int64)


@takes_options()
def check_directional(cost: Callable[..., float], theta: ArrayLike,
                      grad: Callable[..., ArrayLike] | ArrayLike | None = None, *, opts: CheckOptions) -> CheckResult:
    """Compare u·g with the difference of the cost along random unit directions u.

    ``directions`` (default ``config.N_DIRS``, 8) directions are drawn —
    inside every block when there is a layout and ``per_block`` is left on,
    so the report can name the wrong one; the step is ``eps`` or the
    scheme's optimal relative step × max(1, rms θ over the direction).
    ``scheme``: "central" (default), "central4", "forward" or "backward".
    Other options as in :func:`fastcheck.check_gradient`.
    """
    cost, theta, grad, opts = user_problem(cost, theta, grad, opts)  # pairs, θ of any shape, reseed
    return check_directional_with(cost, theta, grad, opts)


def check_directional_with(cost, theta, grad, opts: CheckOptions) -> CheckResult:
    """:func:`check_directional` with its options already built (``check_gradient(directions=k)`` comes here)."""
    theta = as_theta(theta)
    threads = validate_threads(opts.threads)
    ev = make_evaluator(cost, opts.args, threads=threads, theta=theta, jit=opts.jit, n_coords=0, kind="directions",
                        workers=opts.workers, client=opts.client)
    return run_directional(ev, theta, grad, opts)


def run_directional(ev, theta, grad, opts: CheckOptions) -> CheckResult:
    """A directional check with a ready evaluator (its validation first, then the work)."""
    opts.require_full("a directional check")
    n_dirs = config.N_DIRS if opts.directions is None else opts.directions
    if isinstance(n_dirs, bool) or not isinstance(n_dirs, (int, np.integer)) or n_dirs < 1:
        raise ValueError(f"directions must be a positive integer (random directions), got {n_dirs!r}")
    scheme = get_scheme(opts.scheme)
    if scheme.complex:
        raise ValueError("the complex step perturbs one coordinate at a time: use a per-coordinate check "
                         "(directions=None), or a real scheme for a directional check")
    if not ev.caps.directions:
        raise ValueError(f"the {ev.path} evaluator has no directional check; drop directions=")
    eps = validate_direction_eps(opts.eps)  # a bad eps fails before any work
    thresholds = validate_thresholds(opts.thresholds)
    user_layout = opts.layout is not None
    layout = layout_for(theta, opts.layout)
    per_block = user_layout if opts.per_block is None else bool(opts.per_block)
    support = None
    if opts.coords is not None or opts.sample is not None:
        support = np.unique(select_coords(len(theta), layout, opts.coords, opts.sample, opts.seed))
    with held_blas(ev):
        f0 = base_value(ev, theta)
        ev.prepare(theta, "directions")
        t0 = time.perf_counter()
        g = analytic_gradient(grad, theta, opts.args, layout, user_layout)
        lo, start, dirvals, dblock = random_directions(layout, int(n_dirs), opts.seed, per_block, support)
        lengths = np.diff(start)
        steps = direction_steps(theta, lo, lengths, scheme, eps)
        costs = ev.directions(theta, lo, start, dirvals, steps, np.asarray(scheme.offsets))
        finite = np.isfinite(costs).all(axis=1)
        weights = np.asarray(scheme.weights, np.float64)
        num = (costs @ weights) / steps
        ana = np.array([g[a : a + n] @ dirvals[s : s + n] for a, n, s in zip(lo, lengths, start[:-1])])
        mach = float(np.finfo(theta.dtype).eps)
        noise = 4 * mach * (np.abs(costs) @ np.abs(weights)) / steps
        j = judge_directions(ev, theta, lo, start, dirvals, steps, f0, costs, num, noise, finite, g, ana, mach,
                             coordinate_band(thresholds, mach))
        kinks = errorbars.direction_kinks(layout.names, dblock, j.status, ana, j.estimate, j.kink_left, j.kink_right)
        seconds = time.perf_counter() - t0
        return assemble(
            ev, theta, layout=layout, thresholds=thresholds, block_ids=dblock,
            labels=[f"u{d}" for d in range(len(lo))], analytic=ana, compared=j.estimate, shown=num, status=j.status,
            why=j.why, finite=finite, kind="directional", coords=np.arange(len(lo), dtype=np.int64), eps=eps,
            steps=steps, scheme=scheme.name, n_evals=len(scheme.offsets) * len(lo) + j.n_evals, seconds=seconds,
            kinks=kinks, nonfinite=np.flatnonzero(~finite), direction_blocks=dblock, error=j.error,
            estimate=j.estimate, precision=theta.dtype.name, band=coordinate_band(thresholds, mach),
        )
