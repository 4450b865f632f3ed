"""Checking a network written as a sequence of stages: :func:`check_sequential`.

The perturbed costs come from
:class:`fastcheck.evaluators.sequential.SequentialEvaluator`, which reruns
only the stages from the perturbed one on.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.directional import check_directional_with
from fastcheck.checks.gradient import run_check
from fastcheck.checks.result import CheckResult
from fastcheck.core.callables import call_fitting, describe, takes
from fastcheck.core.layout import Layout
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.core.randomness import reseeded
from fastcheck.core.validate import validate_threads
from fastcheck.errors import GradientMismatchError, StageError
from fastcheck.evaluators import pool
from fastcheck.evaluators.sequential import SequentialEvaluator, plan_stages

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

__all__ = ["check_sequential", "compose"]


def compose(stages, params, x):
    """The composed cost of ``stages`` as a plain function of θ.

    Returns ``(cost, theta, layout)``: ``cost(theta)`` runs every stage
    (what a black-box check differences), θ the flattened ``params`` in
    stage order and the :class:`~fastcheck.Layout` naming its blocks.
    """
    fns, names, layout = plan_stages(stages, params)
    ev = SequentialEvaluator(fns, names, layout, x)

    def cost(theta):
        return ev.composed(theta)

    return cost, layout.flatten(params), layout


def _require_stage_signatures(fns, names) -> None:
    """Every stage takes (a, *its parameters): a clear error naming the stage otherwise."""
    for l, (fn, ns) in enumerate(zip(fns, names)):
        if takes(fn, 1 + len(ns)) is False:
            params = "".join(f", {n}" for n in ns)
            raise StageError(f"stage {l} must take (a{params}): the activation and its {len(ns)} parameter(s); "
                             f"{describe(fn)} does not")


def _gradient_vector(grads, params, x, layout: Layout) -> np.ndarray:
    """``grads`` (or what ``grads(params, x)`` returns) flattened by :meth:`Layout.flatten_gradients`."""
    if callable(grads):
        copies = {k: np.array(v, copy=True) for k, v in params.items()}
        grads = call_fitting(grads, [(copies, np.array(x, copy=True)), (copies,)], "grads",
                             "(params) or (params, x)")
    if not isinstance(grads, Mapping):  # a list could follow params' order or the stages': refuse the ambiguity
        raise GradientMismatchError(f"grads must be a dict keyed by parameter name (or 'd' + name), or a callable "
                                    f"returning one; got {type(grads).__name__}")
    return layout.flatten_gradients(grads, what="grads")


@takes_options()
def check_sequential(stages: Sequence, params: Mapping[str, ArrayLike], x: ArrayLike, grads: Callable[..., Mapping], *,
                     opts: CheckOptions) -> CheckResult:
    """Check the gradient of a network written as a sequence of stages, recomputing only what a coordinate changes.

    Parameters
    ----------
    stages : list of (fn, names)
        ``fn(a, *[params[n] for n in names])`` returns the next activation
        (a NumPy array); the last stage returns the scalar cost.  ``names``
        is a parameter name, a list of them, or ``()`` for a stage without
        parameters (relu, pooling).  Every parameter belongs to exactly one stage.
    params : dict of float arrays
        Not modified.
    x : array
        The input of the first stage (the batch; labels can sit in the last
        stage's closure).  Not modified.
    grads : dict or callable
        The analytic gradient, keyed by parameter name or ``"d" + name``, or
        ``grads(params, x)`` or ``grads(params)`` returning such a dict (any
        other signature is refused with a message saying so).

    The options are those of every check.  ``workers``/``client``: the
    coordinates are spread over worker processes (or a Dask cluster) in
    chunks spread over θ, so every worker gets coordinates of every stage.
    ``threads`` is validated (nothing here is compiled); ``jit`` and
    ``cache_stages`` do not apply; ``layout`` and ``args`` are the stages'
    own and cannot be passed; ``directions=k`` runs a directional check of
    the composed cost.  ``reseed``: stages that draw random numbers (dropout)
    get, from the perturbed stage on, the very draws of the reseeded composed
    cost (the random state each stage starts from at θ is kept); ``grads``,
    when a callable, is reseeded too.

    Returns
    -------
    CheckResult
        Bitwise the numbers of a black-box check of the composed cost
        (:func:`compose`) for the real schemes; ``path`` is "sequential".

    Raises
    ------
    StageError
        A stage that is not ``(fn, names)``, names a parameter params lacks
        or one another stage names, a parameter no stage names, a stage that
        returns something other than an array, a last stage that returns
        something other than a scalar: each names the stage.
    """
    if opts.args:
        raise ValueError("check_sequential: the stages take their inputs from x and params; args= does not apply")
    if opts.layout is not None:
        raise ValueError("check_sequential names the blocks after params (in stage order); layout= does not apply")
    validate_threads(opts.threads)
    if callable(grads):
        grads = reseeded(grads, opts.reseed)
    if opts.directions is not None:  # every direction moves every stage: the composed cost, no caching to gain
        _require_stage_signatures(*plan_stages(stages, params)[:2])
        cost, theta, layout = compose(stages, params, x)
        g = _gradient_vector(grads, params, x, layout)
        return check_directional_with(reseeded(cost, opts.reseed), theta, g,
                                      opts.replace(layout=layout, jit=False, reseed=None))
    fns, names, layout = plan_stages(stages, params)
    _require_stage_signatures(fns, names)
    ev = pool.wrap(SequentialEvaluator(fns, names, layout, x, reseed=opts.reseed), pool.check_workers(opts.workers),
                   pool.check_client(opts.client))
    theta = layout.flatten(params)
    ev.value(theta)  # validates every stage's return before anything else
    g = _gradient_vector(grads, params, x, layout)
    return run_check(ev, theta, g, opts.replace(layout=layout))
