"""Checking the built-in networks: :func:`check_model`.

The perturbed costs come from :mod:`fastcheck.evaluators.structured`: the
structure-aware kernel (only what a coordinate's perturbation changes is
recomputed) or the model's jitted cost through the generic parallel kernel.
"""
from __future__ import annotations

import functools

from fastcheck.checks.gradient import run_check
from fastcheck.core.validate import as_theta, validate_threads
from fastcheck.evaluators import pool
from fastcheck.evaluators.structured import MODES, BlackBoxModelEvaluator, LayeredEvaluator
from fastcheck.models import MLP

__all__ = ["check_model"]


def check_model(
    model,
    theta,
    X,
    y,
    *,
    eps=None,
    scheme="central",
    coords=None,
    sample=None,
    seed=0,
    thresholds=None,
    threads=None,
    mode="structured",
    workers=None,
    client=None,
):
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
    eps, scheme, coords, sample, seed, thresholds, threads
        As in :func:`fastcheck.check_gradient`; ``scheme="complex"`` works
        for every activation and loss (the piecewise ones take the branch
        of the real part).
    mode : {"structured", "blackbox"}
        ``"structured"`` (default): the structure-aware kernel, which
        recomputes only what each perturbation changes; ``"blackbox"``: the
        model's jitted cost through the generic parallel kernel.
    workers, client
        Black-box mode only: run the kernel's chunks on this many worker
        processes (an int > 1), or on a Dask cluster (a
        ``dask.distributed.Client``); each worker compiles the kernel once.
        The numbers are the same as on threads.  ``None``/"auto"/1: threads.

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
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    theta = as_theta(theta)
    threads = validate_threads(threads)
    dtype = model.check_dtype(theta.dtype)
    theta = model.check_theta(theta, dtype)
    X, Y = model.validate_data(X, y, dtype)
    workers = pool.check_workers(workers)
    pool.check_client(client)
    spread = client is not None or workers not in ("auto", 1)
    if spread and mode != "blackbox":
        raise ValueError("workers= and client= apply to mode='blackbox'; the structured kernel runs on Numba threads")
    cls = LayeredEvaluator if mode == "structured" else BlackBoxModelEvaluator
    ev = cls(model, X, Y, threads, dtype)
    if spread:
        ev = pool.wrap(ev, workers, client)
    grad = functools.partial(model.grad, precision=dtype)
    return run_check(
        ev, theta, grad, args=(X, Y), eps=eps, scheme=scheme, coords=coords, sample=sample,
        seed=seed, layout=model.layout, thresholds=thresholds,
    )
