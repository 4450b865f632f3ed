"""The gradient checkers compared: each a :class:`Peer` with a ``run(problem, coords)``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .networks import Problem, network_like, torch_available, torch_cost, tutorial_numerical_gradient

#: Coordinates per block for the ``fastcheck sampled`` row.
SAMPLE = 16


# -- the checkers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one checker returned: its numerical values at the checked
    coordinates (``None`` for a pass/fail-only checker), its own verdict
    (``None`` if it gives none) and how many coordinates, directions or
    projections it checked."""

    numerical: np.ndarray | None
    passed: bool | None
    checked: int
    analytic: np.ndarray | None = None


@dataclass(frozen=True)
class Peer:
    """A gradient checker.

    ``run(problem, coords)`` checks the coordinates ``coords`` (``None``:
    all of θ) and returns an :class:`Outcome`; ``prepare(problem)``, if
    given, warms it up (JIT compilation) outside the timings.  ``subset``
    says whether ``coords`` is honoured (otherwise the run is always whole
    and never extrapolated); ``unit`` names what ``checked`` counts.
    """

    name: str
    run: Callable
    subset: bool = True
    unit: str = "coordinates"
    prepare: Callable | None = None
    note: str = ""
    available: Callable = lambda: True  # noqa: E731 - a plain default


def _restricted(f, theta, coords):
    """``g(x_sub) = f(θ with θ[coords] = x_sub)``: a peer that differentiates
    every input sees only the coordinates it is meant to check."""
    if coords is None:
        return f, theta.copy()
    coords = np.asarray(coords)

    def g(x_sub):
        x = theta.copy()
        x[coords] = x_sub
        return f(x)

    return g, theta[coords].copy()


def _tutorial_loop(p: Problem, coords):
    net = network_like(p.model)
    net.setParams(p.theta.copy())
    g = tutorial_numerical_gradient(net, p.X, p.y, coords)
    g = g if coords is None else g[coords]
    return Outcome(g, None, len(g))


def _numpy_cost(p: Problem):
    net = network_like(p.model)
    return lambda th: net.cost(th, p.X, p.y)


def _approx_fprime(p: Problem, coords):
    from scipy.optimize import approx_fprime

    f, x0 = _restricted(_numpy_cost(p), p.theta, coords)
    g = np.asarray(approx_fprime(x0, f)).ravel()
    return Outcome(g, None, len(g))


def _approx_derivative(p: Problem, coords):
    from scipy.optimize._numdiff import approx_derivative

    f, x0 = _restricted(_numpy_cost(p), p.theta, coords)
    g = np.asarray(approx_derivative(f, x0, method="3-point")).ravel()
    return Outcome(g, None, len(g))


def _gradcheck(fast: bool):
    def run(p: Problem, coords):
        import torch

        f = torch_cost(p.model, p.X, p.y)
        base = torch.as_tensor(p.theta.copy())
        if coords is None:
            x = base.clone().requires_grad_(True)
            fn = f
        else:
            idx = torch.as_tensor(np.asarray(coords, np.int64))
            x = base[idx].clone().requires_grad_(True)

            def fn(sub):
                return f(base.index_put((idx,), sub))

        ok = torch.autograd.gradcheck(fn, (x,), fast_mode=fast, raise_exception=False)
        return Outcome(None, bool(ok), 1 if fast else int(x.numel()))

    return run


def _fastcheck_args(p: Problem):
    m = p.model
    return m.jit_cost, m.cost_args(p.X, p.y)


def _model_check(p: Problem, **options):
    from fastcheck import check_model

    res = check_model(p.model, p.theta, p.X, p.y, **options)
    return Outcome(res.numerical, res.passed, len(res.coords), res.analytic)


def _blackbox(p: Problem, coords):
    return _model_check(p, mode="blackbox", coords=coords)


def _structured(p: Problem, coords):
    return _model_check(p, mode="structured", coords=coords)


def _sampled(p: Problem, coords):
    return _model_check(p, mode="structured", sample=SAMPLE)


def _directional(p: Problem, coords):
    import fastcheck

    cost, args = _fastcheck_args(p)
    res = fastcheck.check_directional(cost, p.theta, p.model.grad, args=args, layout=p.model.layout)
    return Outcome(res.numerical, res.passed, len(res.coords), res.analytic)


def _warm(run, coords=(0,)):
    def prepare(p: Problem):
        run(p, np.asarray(coords, np.int64))

    return prepare


def _warm_whole(run):
    def prepare(p: Problem):
        run(p, None)

    return prepare


def _warm_directional(p: Problem):
    import fastcheck

    cost, args = _fastcheck_args(p)
    fastcheck.check_directional(cost, p.theta, p.model.grad, args=args, directions=1)


def _warm_sampled(p: Problem):
    _sampled(p, None)


#: Every checker, in table order.
PEERS = {
    peer.name: peer
    for peer in (
        Peer("tutorial loop", _tutorial_loop, note="the tutorial's computeNumericalGradient, central, e=1e-4"),
        Peer("scipy approx_fprime", _approx_fprime, note="forward differences, step sqrt(eps)"),
        Peer(
            "scipy approx_derivative 3-point",
            _approx_derivative,
            note="central differences, relative step eps^(1/3)",
        ),
        Peer(
            "torch gradcheck",
            _gradcheck(False),
            note="fast_mode=False; pass/fail only",
            available=torch_available,
            prepare=_warm(_gradcheck(False)),
        ),
        Peer(
            "torch gradcheck fast",
            _gradcheck(True),
            subset=False,
            unit="random projection",
            note="fast_mode=True: one random projection; pass/fail only",
            available=torch_available,
            prepare=_warm_whole(_gradcheck(True)),
        ),
        Peer(
            "fastcheck blackbox",
            _blackbox,
            note="check_model(mode='blackbox'): the jitted cost in the generic parallel kernel",
            prepare=_warm(_blackbox),
        ),
        Peer(
            "fastcheck structured",
            _structured,
            note="check_model(mode='structured')",
            prepare=_warm(_structured),
        ),
        Peer(
            "fastcheck sampled",
            _sampled,
            subset=False,
            note=f"check_model(mode='structured', sample={SAMPLE}): {SAMPLE} coordinates per block",
            prepare=_warm_sampled,
        ),
        Peer(
            "fastcheck directional",
            _directional,
            subset=False,
            unit="directions",
            note="8 random directions per block",
            prepare=_warm_directional,
        ),
    )
}
