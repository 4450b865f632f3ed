"""Checking the built-in networks: :func:`check_model`.

The perturbed costs come from :mod:`fastcheck.evaluators.structured`: the
structure-aware kernel (only what a coordinate's perturbation changes is
recomputed) or the model's jitted cost through the generic parallel kernel.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fastcheck.checks.directional import run_directional
from fastcheck.checks.gradient import run_check
from fastcheck.checks.result import CheckResult
from fastcheck.checks.screen import run_screen
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.validate import as_theta, validate_threads
from fastcheck.evaluators import pool
from fastcheck.evaluators.structured import MODES, BlackBoxModelEvaluator, LayeredEvaluator
from fastcheck.models import MLP

if TYPE_CHECKING:  # names of annotations only
    from numpy.typing import ArrayLike

__all__ = ["check_model"]


@takes_options(specific={"mode": "structured"})
def check_model(model: MLP, theta: ArrayLike, X: ArrayLike, y: ArrayLike, *, opts: CheckOptions) -> CheckResult:
    """Check a built-in network's backprop against finite differences of its cost.

    Parameters
    ----------
    model : fastcheck.models.MLP
        The network (or one of its mutants); its ``grad`` is what is checked.
    theta : 1-D float64 or float32 array
        Parameters in ``model.layout``; not modified.  Its dtype is the
        precision the costs compute in (a float32 θ runs the whole network
        in float32, the data rounded to it); the gradient checked is the
        model's float64 backprop at that point.
    X, y : arrays
        The batch, ``(B, n_0)`` and ``(B, n_L)``.

    The options are those of every check; ``scheme="complex"`` works for
    every activation and loss (the piecewise ones take the branch of the real
    part); ``directions=k`` runs a directional check of the model's jitted
    cost.  ``args`` and ``layout`` are the model's own (``(X, y)``,
    ``model.layout``) and cannot be passed; ``jit`` and ``cache_stages`` do
    not apply (the model is compiled).  ``mode`` (this check only):
    ``"structured"`` (default), the structure-aware kernel, which recomputes
    only what each perturbation changes; ``"blackbox"``, the model's jitted
    cost through the generic parallel kernel.  ``workers``/``client``:
    black-box mode only, the kernel's chunks on this many worker processes
    (an int > 1) or on a Dask cluster, each worker compiling the kernel once;
    "auto" (default) and 1 mean Numba threads.  The numbers are the same.

    Returns
    -------
    CheckResult
        Per-block verdicts on ``model.layout``; coordinates whose ±eps steps
        cross a relu/leaky_relu kink are listed in ``result.kinks`` and left
        out of the verdict.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"check_model takes a fastcheck.models.MLP, got {type(model).__name__}; "
                        "for your own network use fastcheck.check_gradient")
    mode = opts["mode"]
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    if opts.args:
        raise ValueError("check_model takes the batch as X, y; args= does not apply")
    if opts.layout is not None:
        raise ValueError("check_model reports on the model's own layout (model.layout); layout= does not apply")
    theta = as_theta(theta)
    threads = validate_threads(opts.threads)
    dtype = model.check_dtype(theta.dtype)
    theta = model.check_theta(theta, dtype)
    X, Y = model.validate_data(X, y, dtype)
    workers = pool.check_workers(opts.workers)
    pool.check_client(opts.client)
    spread = opts.client is not None or workers not in ("auto", 1)
    if spread and mode != "blackbox":
        raise ValueError("workers= and client= apply to mode='blackbox'; the structured kernel runs on Numba threads")
    cls = LayeredEvaluator if mode == "structured" else BlackBoxModelEvaluator
    ev = cls(model, X, Y, threads, dtype)
    if spread:
        ev = pool.wrap(ev, workers, opts.client)
    grad = functools.partial(model.grad, precision=dtype)
    (ev.base if spread else ev).compile_seconds += model.prepare_grad(theta, X, Y, precision=dtype)  # off the clock
    checked = opts.replace(args=(X, Y), layout=model.layout)
    if opts.strategy == "screen":
        return run_screen(ev, theta, grad, checked, confirm=run_check)
    if opts.directions is not None:
        return run_directional(ev, theta, grad, checked)
    return run_check(ev, theta, grad, checked)
