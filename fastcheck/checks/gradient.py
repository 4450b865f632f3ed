"""The per-coordinate check: :func:`check_gradient`, and the numerical gradient itself.

Validate, pick the evaluator, difference every checked coordinate, judge
each one against its error bar (:mod:`fastcheck.verdicts`), put the result
together (:mod:`fastcheck.checks.base`).  Built-in models, stages and layers
reuse :func:`run_check` with their own evaluators.
"""
from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fastcheck.checks import screen
from fastcheck.checks.base import analytic_gradient, assemble, base_value, base_values, coordinate_band, held_blas
from fastcheck.checks.directional import check_directional_with
from fastcheck.checks.result import CheckResult
from fastcheck.checks.usercost import user_problem
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.steps import ADAPTIVE, absolute_steps, get_scheme, resolve_eps, validate_eps
from fastcheck.core.validate import as_theta, is_low_precision, layout_for, select_coords, validate_threads
from fastcheck.errors import NonFiniteCostError, PrecisionWarning
from fastcheck.evaluators.choose import make_evaluator
from fastcheck.support import heap, resources
from fastcheck.verdicts import errorbars, ladder, precision, resolution, wider
from fastcheck.verdicts.bands import validate_thresholds
from fastcheck.verdicts.errorbars import KINK_COLUMNS

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Differences", "adaptive_gradient", "check_gradient", "check_gradient_with", "differences", "numerical_gradient", "run_check"]


class Differences(NamedTuple):
    """A numerical gradient at some coordinates, with what judging it needs."""

    g: np.ndarray  #: the estimates
    steps: np.ndarray  #: the step of each coordinate (the ladder's base step for "adaptive")
    noise: np.ndarray  #: the round-off level of each estimate
    finite: np.ndarray  #: all perturbed costs of the coordinate were finite
    n_evals: int  #: cost evaluations spent
    costs: object  #: the stencil's costs, (n, len(offsets)); None for the complex step and "adaptive"


def differences(ev, theta, coords, scheme, eps, f0, mach=None, step_mach=None):
    """Numerical gradient at ``coords`` with the evaluator ``ev``.

    Returns :class:`Differences` ``(g, steps, noise, finite, n_evals, costs)``: ``noise`` is the
    round-off level of each entry (4·ε·Σ|w_k·J_k| / h: what rounding the
    costs alone can do to the quotient, with ε the machine epsilon of the
    precision the cost computes in, ``mach``, by default θ's), ``finite``
    marks coordinates whose perturbed costs were all finite, ``costs`` the
    stencil's costs (``None`` for the complex step).  ``step_mach``: the
    machine epsilon the default steps are chosen for (θ's by default).
    """
    mach = float(np.finfo(theta.dtype).eps) if mach is None else float(mach)
    if isinstance(eps, str):  # "adaptive": Richardson over a ladder of steps, estimate and error bar
        base = errorbars.ladder_base(theta, coords, mach if step_mach is None else step_mach)
        lad, n_evals = ladder.adaptive(ev, theta, coords, base, f0, mach)
        return Differences(lad.estimate, base, lad.error, lad.finite & np.isfinite(lad.estimate), n_evals, None)
    steps = absolute_steps(theta, coords, scheme, eps, step_mach)
    if scheme.complex:
        vals = ev.complex_step(theta, coords, steps)
        finite = np.isfinite(vals)
        g = vals / steps
        noise = 4 * mach * np.abs(g)
        return Differences(g, steps, noise, finite, len(coords), None)
    acc, mag, finite, costs, n_evals = errorbars.stencil_sums(ev, theta, coords, scheme, steps, f0)
    g = acc / steps
    noise = 4 * mach * np.where(finite, mag, 0.0) / steps
    return Differences(g, steps, noise, finite, n_evals, costs)


@takes_options()
def numerical_gradient(cost: Callable[..., float], theta: ArrayLike, *, opts: CheckOptions) -> np.ndarray:
    """Finite-difference gradient of ``cost(theta, *args)``.

    Parameters
    ----------
    cost : callable
        ``cost(theta, *args) -> float``.  A Numba ``@njit`` function is
        evaluated on all cores by the parallel kernel; anything else in a
        plain loop that takes the same points (or on worker processes).
    theta : 1-D float array
        Not modified.

    ``eps="adaptive"``: central differences on a ladder of steps 4^k·h
    (k = 8 … −2) per coordinate with Richardson extrapolation, the entry with
    the smallest estimated error kept, evaluated in rounds from the largest
    steps down that stop per coordinate once its error bar is small (6 to 22
    evaluations per coordinate, see :func:`fastcheck.verdicts.ladder.adaptive`;
    :func:`adaptive_gradient` also returns the error bars); ``scheme`` is then
    ignored.  With ``coords`` or ``sample`` the result has one entry per
    selected coordinate, in order.

    Raises
    ------
    NonFiniteCostError
        When the cost is NaN or inf at a perturbed point; ``.coords`` names them.
    """
    ev, theta, coords, f0 = _prepared(cost, theta, opts, "numerical_gradient")
    d = differences(ev, theta, coords, get_scheme(opts.scheme), resolve_eps(opts.eps, theta, coords), f0)
    _require_finite(d.finite, coords)
    return d.g


@takes_options()
def adaptive_gradient(cost: Callable[..., float], theta: ArrayLike, *,
                      opts: CheckOptions) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference gradient with ``eps="adaptive"``, and its error bars.

    Returns ``(g, error)``: per coordinate the Richardson estimate over a
    geometric ladder of steps and its estimated error (truncation left plus
    round-off), computed by the parallel kernels for a jitted cost, and for
    a cost that stays Python on worker processes when ``workers`` says so.
    ``eps`` and ``scheme`` must be left at their defaults.
    """
    if opts.eps is not None or opts.scheme != "central":
        raise ValueError("adaptive_gradient chooses its own steps (central differences on a ladder); drop eps= and "
                         "scheme=, or use numerical_gradient")
    ev, theta, coords, f0 = _prepared(cost, theta, opts, "adaptive_gradient")
    with held_blas(ev):
        d = differences(ev, theta, coords, get_scheme("central"), ADAPTIVE, f0)
    _require_finite(d.finite, coords)
    return d.g, d.noise


def _prepared(cost, theta, opts: CheckOptions, where: str):
    """Evaluator, θ, coordinates and J(θ) of a numerical gradient (not a check: no verdict options)."""
    if opts.directions is not None:
        raise ValueError(f"{where} estimates every selected coordinate; directions= applies to the checks")
    opts.require_full(where)
    get_scheme(opts.scheme)
    theta = as_theta(theta)
    threads = validate_threads(opts.threads)
    coords = select_coords(len(theta), layout_for(theta, opts.layout), opts.coords, opts.sample, opts.seed)
    ev = make_evaluator(cost, opts.args, threads=threads, theta=theta, jit=opts.jit, n_coords=len(coords),
                        workers=opts.workers, client=opts.client)
    return ev, theta, coords, base_value(ev, theta)


def _require_finite(finite, coords):
    if not finite.all():
        bad = coords[~finite]
        raise NonFiniteCostError(
            f"the cost is NaN or inf at perturbed points of {len(bad)} coordinate(s), first {bad[:10].tolist()}", bad
        )


def run_check(ev, theta, grad, opts: CheckOptions, *, refine: bool = True) -> CheckResult:
    """A per-coordinate check with a ready evaluator (shared by every entry point).

    ``opts``: the check's options (the evaluator options ``threads``, ``jit``,
    ``workers`` and ``client`` were used to build ``ev``); ``refine=False``
    skips the precision probe and the refinement passes (what an eps sweep
    measures).
    """
    opts.require_full("a per-coordinate check")
    with held_blas(ev):
        return _run_check(ev, theta, grad, opts, refine)


def _run_check(ev, theta, grad, opts: CheckOptions, refine: bool) -> CheckResult:
    scheme = get_scheme(opts.scheme)
    thresholds = validate_thresholds(opts.thresholds)
    asked = validate_eps(opts.eps)
    user_layout = opts.layout is not None
    layout = layout_for(theta, opts.layout)
    coords = select_coords(len(theta), layout, opts.coords, opts.sample, opts.seed)
    heap.keep_heap(len(coords))  # a large check: the next one reuses its pages (fastcheck.support.heap)
    eps = resolve_eps(asked, theta, coords)
    f0, random = base_values(ev, theta)
    resources.heads_up(ev, len(coords), 1 if scheme.complex else len(scheme.offsets))  # a long check says so
    ev.prepare(theta, "complex" if scheme.complex else "stencil")  # compile before the clock starts
    t0 = time.perf_counter()
    g_full = analytic_gradient(grad, theta, opts.args, layout, user_layout)
    ana = g_full[coords]
    prec = precision.nominal(theta.dtype)
    num, steps, noise, finite, n_evals, costs = differences(ev, theta, coords, scheme, eps, f0, prec.mach)
    native = ev.caps.native_precision
    if (refine and not native and not random
            and not _all_agree(ana, num, noise, finite, coordinate_band(thresholds, prec.mach))):
        # Something disagrees: is the cost computing in a lower precision than θ? (Probed only
        # now, so a clean check of a slow cost pays nothing for it.)
        prec = _cost_precision(ev, theta, coords, ana, f0)
        n_evals += prec.n_evals
        if prec.lower and eps is None:  # the default steps, chosen again for that precision
            num, steps, noise, finite, n_more, costs = differences(ev, theta, coords, scheme, eps, f0, prec.mach,
                                                                   prec.mach)
            n_evals += n_more
        elif prec.mach > float(np.finfo(theta.dtype).eps):
            noise = noise * (prec.mach / float(np.finfo(theta.dtype).eps))
        conditioned = precision.conditioned(prec, ev, theta, f0)  # float32 θ: as accurate as float64 says?
        if conditioned is not prec:
            prec = conditioned
            n_evals += 1
    # The complex step evaluates at θ itself (the perturbation is imaginary): it
    # crosses no kink, and takes the branch the real part lies on.
    crosses = ev.caps.finds_kinks and not scheme.complex
    exact = ev.kinks(theta, coords, steps) if crosses else None
    block_ids = layout.block_ids(coords)
    # the band and the target are those of the cost's format, however much worse its measured ε is:
    # a cost that scatters more than its format makes has wider bars, never a looser band
    j = errorbars.judge(
        ev, theta, coords, block_ids, scheme, steps, f0, costs, num, noise, finite, ana,
        mach=prec.mach, great=coordinate_band(thresholds, precision.format_eps(prec, theta.dtype)),
        exact_kinks=exact, refine=refine, n_blocks=len(layout.names), random=random,
        format_mach=precision.format_eps(prec, theta.dtype), value_error=prec.value_error,
    )
    if refine and prec.value_error > 0:  # an ill-conditioned float32 cost: read in float64 what it could not settle
        num, n_more = _settle_wider(ev, theta, coords, ana, num, j, block_ids, thresholds, prec)
        n_evals += n_more
    seconds = time.perf_counter() - t0
    at_kink = j.status == errorbars.KINK
    kinks = _kink_frame(layout, coords[at_kink], ana[at_kink], num[at_kink], j.kink_left[at_kink],
                        j.kink_right[at_kink])
    return assemble(
        ev, theta, layout=layout, thresholds=thresholds, block_ids=block_ids, labels=_LazyLabels(layout, coords),
        analytic=ana, compared=num, shown=num, status=j.status, why=j.why, finite=finite,
        kind="coordinates", coords=coords, eps=asked, steps=steps, scheme=scheme.name, n_evals=n_evals + j.n_evals,
        seconds=seconds, kinks=kinks, nonfinite=coords[~finite], error=j.error, estimate=j.estimate,
        precision=precision.describe(prec, theta.dtype), n_refined=j.refined, resolution=j.resolution,
        scales=j.scales, scale=j.scale,
    )


def _settle_wider(ev, theta, coords, ana, num, j, block_ids, thresholds, prec):
    """:mod:`fastcheck.verdicts.wider`: the float32 target's bars, the float64 reading applied to ``j``;
    returns the quotients to compare (the float64 estimate where it settled) and the evaluations spent."""
    fmt = precision.format_eps(prec, theta.dtype)
    band = coordinate_band(thresholds, fmt)
    bars = resolution.target_bar(j.scales[block_ids], resolution.target_resolution(fmt, band))
    r = wider.settle_in_float64(ev, theta, coords, ana, j.status, j.why, bars)
    if not len(r.settled):
        return num, r.n_evals
    wider.apply(r, j.status, j.why, j.estimate, j.error)
    s = r.settled
    j.resolution[s] = resolution.coordinate_resolution(ana[s], r.estimate, r.error, band)
    num = num.copy()
    num[s] = r.estimate
    return num, r.n_evals


def _all_agree(ana, num, noise, finite, great) -> bool:
    """Every checked coordinate agrees outright (pass 1 of :mod:`fastcheck.verdicts.errorbars`)."""
    scale = errorbars.gradient_scale(ana, num, finite, noise)
    return bool(errorbars.first_pass(ana, num, noise, finite, np.zeros(len(ana), bool), scale, great)[finite].all()
                and finite.all())


def _cost_precision(ev, theta, coords, ana, f0):
    """The precision the cost computes in: θ's for the built-in networks (they say so), else measured."""
    if ev.caps.native_precision:
        return precision.nominal(theta.dtype)
    if is_low_precision(theta.dtype):  # θ's own format, its noise measured on θ's grid
        return precision.detect_low(ev, theta, coords, ana, f0)
    prec = precision.detect(ev, theta, coords, ana, f0)
    if prec.lower and prec.scatter > 1e-2:
        warnings.warn(
            f"the cost's values scatter by about {prec.scatter:.0e} of themselves under tiny changes of theta:"
            " nothing like a floating-point format; is the cost random (see NondeterministicCostWarning)?",
            PrecisionWarning,
            stacklevel=5,
        )
    elif prec.lower:
        warnings.warn(
            f"the cost computes in {prec.name}, not in theta's {theta.dtype.name}: its values move in steps of"
            f" about {prec.scatter:.1e} of themselves under tiny changes of theta. Error bars and steps use"
            f" that precision; compute the cost in {theta.dtype.name} for a sharper check",
            PrecisionWarning,
            stacklevel=5,
        )
    return prec


class _LazyLabels:
    """Index labels of checked coordinates, computed only when looked up
    (a full check of a big model needs just one label per block)."""

    def __init__(self, layout, coords):
        self.layout, self.coords = layout, coords

    def __getitem__(self, j):
        return "[" + ",".join(map(str, self.layout.locate(self.coords[j])[1])) + "]"


def _kink_frame(layout, coords, ana, num, left, right):
    if not len(coords):
        from fastcheck.checks.table import empty_table

        return empty_table(KINK_COLUMNS)
    import pandas as pd  # only a check that found kinks builds this frame

    located = [layout.locate(c) for c in coords]
    return pd.DataFrame(
        {
            "block": [b for b, _ in located],
            "index": ["[" + ",".join(map(str, i)) + "]" for _, i in located],
            "coord": coords,
            "analytic": ana,
            "numerical": num,
            "left": left,
            "right": right,
        },
        columns=KINK_COLUMNS,
    )


@takes_options()
def check_gradient(cost: Callable[..., float], theta: ArrayLike,
                   grad: Callable[..., ArrayLike] | ArrayLike | None = None, *, opts: CheckOptions) -> CheckResult:
    """Compare an analytic gradient with the numerical gradient of ``cost``.

    Parameters
    ----------
    cost : callable
        ``cost(theta, *args) -> float``; Numba-jitted costs run on all cores,
        a plain Python cost in a loop (or on worker processes, ``workers``).
        With ``grad`` omitted (or ``True``), ``cost(theta, *args) -> (cost, grad)``
        (scipy's ``jac=True``): evaluated once at θ for both, its cost part at
        the perturbed points.
    theta : float array of any shape
        The parameters; not modified.  A θ of more than one axis is flattened
        in C order for the check: the cost and ``grad`` see it in its shape,
        the gradient has its shape, and the report names coordinates by their
        index in it (``theta[2,5]``) unless ``layout`` names the blocks.
    grad : array, dict, list, callable or omitted
        The analytic gradient: an array like θ (or flat), a dict of arrays
        matching ``layout`` (keys ``name`` or ``"d" + name``), a list or tuple
        of arrays in the layout's block order, or ``grad(theta, *args)``
        returning any of these.

    ``layout``: a :class:`~fastcheck.Layout`, a dict of arrays, or
    ``{name: shape}`` (ints or tuples), as the command line takes it.
    ``reseed``: for a cost that draws random numbers (an int is the seed of NumPy's
    global RNG and the stdlib ``random`` before every evaluation, restoring
    them afterwards; a callable is called before every evaluation).

    ``sample=k`` checks k coordinates from *every* block (stratified, drawn
    from ``seed``): a first answer for a huge model in seconds.
    ``directions=k`` runs :func:`fastcheck.check_directional` instead.
    ``jit``: a compiled cost is kept, so the next check of it compiles
    nothing; ``CheckResult.compile_seconds`` says what was spent and
    ``CheckResult.path`` which evaluator ran.  ``workers``: the numbers are
    the same on worker processes as in the serial loop.

    Returns
    -------
    CheckResult
    """
    return check_gradient_with(cost, theta, grad, opts)


def check_gradient_with(cost, theta, grad, opts: CheckOptions) -> CheckResult:
    """:func:`check_gradient` with its options already built (the adapters come here)."""
    cost, theta, grad, opts = user_problem(cost, theta, grad, opts)
    if opts.strategy == "screen":  # group tests on the directions evaluator, then run_check on what they point to
        theta = as_theta(theta)
        layout = layout_for(theta, opts.layout)
        ev = make_evaluator(cost, opts.args, threads=validate_threads(opts.threads), theta=theta, jit=opts.jit,
                            n_coords=screen.estimated_evals(len(theta), len(layout.names)) // 2, kind="directions",
                            workers=opts.workers, client=opts.client)
        return screen.run_screen(ev, theta, grad, opts, confirm=run_check)
    if opts.directions is not None:
        return check_directional_with(cost, theta, grad, opts)
    theta = as_theta(theta, low_precision=True)
    if is_low_precision(theta.dtype):
        opts = _low_precision_options(opts, theta.dtype)
    get_scheme(opts.scheme)
    threads = validate_threads(opts.threads)
    ev = make_evaluator(cost, opts.args, threads=threads, theta=theta, jit=opts.jit,
                        n_coords=_n_coords(theta, opts.coords, opts.sample, opts.layout), workers=opts.workers,
                        client=opts.client)
    result = run_check(ev, theta, grad, opts)
    if result.verdict == "wrong" and ev.caps.calls_user_cost:  # a step-free second opinion on the wrong blocks
        from fastcheck.checks.taylor import with_second_opinion

        result = with_second_opinion(result, cost, theta, grad, opts.args, result.layout, opts.seed)
    return result


def _low_precision_options(opts: CheckOptions, dtype) -> CheckOptions:
    """A float16/bfloat16 θ: the real stencils only (the complex step has no such format), in the Python loop
    (Numba compiles neither format)."""
    name = np.dtype(dtype).name
    if get_scheme(opts.scheme).complex:
        raise ValueError(f"scheme='complex' has no {name} form (complex numbers are float32 or float64 pairs): "
                         "use a real scheme such as 'central'")
    if opts.jit is True:
        raise ValueError(f"jit=True, but Numba does not compile {name} code: leave jit at 'auto' or False")
    return opts.replace(jit=False)


def _n_coords(theta, coords, sample, layout):
    if coords is not None:
        return int(np.size(coords))
    if sample is not None and isinstance(sample, (int, np.integer)) and sample > 0:
        n_blocks = 1 if layout is None else len(getattr(layout, "names", layout))
        return min(len(theta), int(sample) * n_blocks)
    return len(theta)
