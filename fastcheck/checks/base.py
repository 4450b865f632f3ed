"""What every check shares: the analytic gradient read in, J(θ), BLAS held, the result assembled.

The per-coordinate check (:mod:`fastcheck.checks.gradient`) and the
directional one (:mod:`fastcheck.checks.directional`) both call these, so a
gradient is read, a cost's randomness detected and a result put together in
one way.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from fastcheck import config
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout, fit_gradient_shape
from fastcheck.errors import GradientMismatchError, NondeterministicCostWarning
from fastcheck.verdicts import errorbars
from fastcheck.verdicts.bands import block_table, overall, relative_difference
from fastcheck.verdicts.codes import counted as counted_entries

__all__ = ["analytic_gradient", "assemble", "base_value", "base_values", "coordinate_band", "held_blas"]


def analytic_gradient(grad, theta, args, layout: Layout, user_layout: bool) -> np.ndarray:
    """The analytic gradient as a flat float64 vector of len(θ)."""
    if callable(grad):
        grad = grad(theta.copy(), *args)
    if isinstance(grad, dict):
        if not user_layout:
            raise TypeError("grad is a dict; pass layout= so its blocks can be placed in theta")
        grad = layout.flatten_gradients(grad, what="grad")
    elif isinstance(grad, (list, tuple)):
        if user_layout or len(layout.names) > 1:
            grad = layout.flatten_gradients(grad, what="grad")
        else:
            try:
                grad = np.asarray(grad, dtype=np.float64)
            except (TypeError, ValueError):
                shapes = ", ".join(str(np.shape(g)) if isinstance(g, np.ndarray) else type(g).__name__ for g in grad)
                raise GradientMismatchError(
                    f"grad is a {type(grad).__name__} of {len(grad)} arrays ({shapes}), not one array like theta; "
                    "pass layout={name: shape} naming theta's blocks in that order") from None
    g = np.asarray(grad)
    if np.iscomplexobj(g):  # the reader every entry point's gradients go through says why, the same way
        fit_gradient_shape(g, g.shape, "grad")
    if not (np.issubdtype(g.dtype, np.floating) or np.issubdtype(g.dtype, np.integer)):
        raise TypeError(f"grad must be a float array, got dtype {g.dtype}")
    if g.shape != theta.shape:
        if g.size == theta.size and g.ndim != 1:
            g = g.reshape(-1)
        else:
            raise ValueError(f"grad has shape {g.shape} but theta has shape {theta.shape}; they must match")
    g = g.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(g))
    if len(bad):
        raise ValueError(f"the analytic gradient is NaN or inf at {len(bad)} coordinate(s), first {bad[:5].tolist()}")
    return g


def base_value(ev, theta) -> float:
    """J(θ), finite; a cost that gives two values at the same θ is warned about."""
    return base_values(ev, theta)[0]


def base_values(ev, theta) -> tuple[float, bool]:
    """``(J(θ), random)``: J(θ), finite, and whether the cost gave two values at the same θ (warned about)."""
    f0 = ev.value(theta)
    if not np.isfinite(f0):
        raise ValueError(f"the cost is {f0} at theta itself; nothing can be checked")
    # A user's cost is evaluated twice to catch hidden randomness; an evaluator
    # that is deterministic by construction (the built-in networks: fixed
    # dropout mask) says so and saves the second pass.
    random = not ev.caps.deterministic and ev.value(theta) != f0
    if random:
        warnings.warn(
            "the cost gave two different values at the same theta: it is not deterministic"
            " (dropout? fix its mask or seed for the check, as the classic gradient-checking recipe advises)",
            NondeterministicCostWarning,
            stacklevel=4,
        )
    return f0, bool(random)


def held_blas(ev):
    """BLAS held to one thread for a whole check on a parallel evaluator.

    Between its parallel kernels a check calls the cost serially (J(θ)), the
    gradient and a few NumPy reductions.  Right after a parallel region
    Numba's OpenMP threads still spin on the cores, and a multi-threaded
    BLAS call then fights them: a directional check of a small network can
    then run slower on two Numba threads than on one, and faster than either
    with BLAS held to one thread for the whole check.
    """
    if ev.caps.holds_blas:
        return config.single_threaded_blas()
    return contextlib.nullcontext()


def assemble(ev, theta, *, layout, thresholds, block_ids, labels, analytic, compared, shown, status, why, finite,
             band=None, resolution=None, scales=None, scale=None, own_shown=False, **fields) -> CheckResult:
    """The one place a check's result is put together (per-coordinate and directional checks alike).

    The overall difference and the blocks compare ``analytic`` with ``compared`` over the
    entries whose status counts; ``shown`` (NaN where a cost was not finite) is the
    result's ``numerical``; ``fields`` are the rest of :class:`CheckResult`.  ``resolution``
    (per entry, absolute; computed from ``fields["error"]`` and ``band`` when not given),
    ``scales`` (per block) and ``scale`` (overall) give the resolution the check reached
    (:mod:`fastcheck.verdicts.resolution`).  ``own_shown``: ``shown`` is the caller's own array, referenced
    nowhere else, so the result may keep it rather than a copy when every entry is finite.
    """
    from fastcheck.verdicts import resolution as res

    est = fields.get("estimate", compared)
    # kinks read by a one-sided derivative count, with that derivative
    read_kinks = (status == errorbars.KINK) & (why == errorbars.KINK_READ)
    if read_kinks.any():
        compared = np.where(read_kinks, est, compared)
    counted = counted_entries(status, why)
    every = counted.all()  # then the entries as they are, not copies of them (a Hessian has 4,000,000)
    difference = relative_difference(analytic if every else analytic[counted], compared if every else compared[counted])
    n_blocks = len(layout.names)
    err = fields.get("error", np.full(len(analytic), np.nan))
    live = counted & np.isfinite(est)
    if resolution is None and band is not None and len(err) == len(analytic):
        resolution = res.coordinate_resolution(analytic, est, err, band)
    if resolution is not None:
        if scales is None:
            scales = res.block_scales(block_ids, analytic, est, err, live, n_blocks)
        if scale is None:
            scale = float(np.max(scales, initial=0.0))
        st = np.asarray(status)
        judged = (((st == errorbars.AGREE) | (st == errorbars.ZERO) | (st == errorbars.INCONCLUSIVE))
                  & (why != errorbars.UNREFINED) | read_kinks)
        per_block, overall_res = res.summarise(resolution, judged & live, block_ids, scales, scale, n_blocks)
    else:
        per_block, overall_res = np.full(n_blocks, np.nan), np.nan
    blocks = block_table(layout, block_ids, labels, analytic, compared, status, why, thresholds, resolution=per_block,
                         overall=difference)
    verdict_, reason = overall(blocks, difference, thresholds, int(np.count_nonzero(~finite)))
    return CheckResult(
        difference=difference, verdict=verdict_, passed=verdict_ in config.PASSING,
        numerical=shown if own_shown and finite.all() else np.where(finite, shown, np.nan), analytic=analytic, blocks=blocks, layout=layout,
        thresholds=thresholds, status_code=status, reason=reason, threads=ev.threads, path=ev.path, note=ev.note,
        compile_seconds=ev.compile_seconds, compile_note=compile_note(ev), n_params=len(theta),
        dtype=theta.dtype.name, resolution=overall_res, n_kinks_read=int(np.count_nonzero(read_kinks)),
        **fields,
    )


def compile_note(ev) -> str:
    """What a result says of its evaluator's compilation (see :attr:`CheckResult.compile_note`)."""
    if not ev.compile_seconds > 0:
        return ""
    if ev.compile_loaded:
        return "loaded from the cache"
    return "cached for next time" if ev.compile_cached else ""


def coordinate_band(thresholds, mach) -> float:
    """Relative agreement that settles a coordinate outright: the ``great`` band,
    or what a central difference can reach in the cost's precision if that is more."""
    return max(float(thresholds["great"]), 8.0 * mach ** (2.0 / 3.0))
