"""Checking the built-in networks: the structure-aware evaluator and :func:`check_model`.

:class:`LayeredEvaluator` computes the perturbed costs of a
:class:`fastcheck.models.MLP` with :mod:`fastcheck.models.layered`, which
recomputes only what a coordinate's perturbation changes;
:class:`BlackBoxModelEvaluator` runs the same model's jitted cost through the
generic parallel kernel.  Both plug into :func:`fastcheck.check.run_check`
and flag ReLU kinks, which the result lists apart from the verdict.
"""
from __future__ import annotations

import functools

import numpy as np

from . import config
from .check import run_check
from .evaluate import JitEvaluator, complex_dtype
from .kernels import stencil
from .models import MLP, backprop, layered
from .protocol import Evaluator
from .validate import as_theta, validate_threads

__all__ = ["BlackBoxModelEvaluator", "LayeredEvaluator", "check_model"]

#: The kernels a built-in model can be checked with (``check_model(mode=...)``, ``--mode``).
MODES = ("structured", "blackbox")


class _KinkCache:
    """Kink flags of the last stencil run, reused when the same points are asked for
    (kept as copies and compared entry by entry: cheaper than hashing the bytes)."""

    def __init__(self):
        self._key = None
        self._flags = None

    def store(self, theta, coords, steps, flags):
        self._key = (theta.copy(), coords.copy(), np.array(steps, np.float64))
        self._flags = flags

    def get(self, theta, coords, steps):
        if self._key is None:
            return None
        same = all(np.array_equal(a, b) for a, b in zip(self._key, (theta, coords, np.asarray(steps, np.float64))))
        return self._flags if same else None


#: (kind, dtype) pairs whose kernel this process has compiled (or loaded from the cache):
#: compilation is process-wide, so a new evaluator need not run the kernel again to prepare it.
_COMPILED = set()


class LayeredEvaluator(Evaluator):
    """Perturbed costs of a built-in network by the structure-aware kernel.

    Parameters
    ----------
    model : fastcheck.models.MLP
    X, Y : arrays
        The batch.
    threads : int, optional
        Numba threads (default: all).
    dtype : {"float64", "float32"}
        The precision every cost computes in (θ must come in it).  The
        complex step then runs in complex128 resp. complex64.
    """

    path = "structured"
    holds_blas = True  # see fastcheck.check.held_blas
    deterministic = True  # a fixed dropout mask: J(θ) is not re-evaluated to test for randomness
    native_precision = True  # computes in θ's dtype by construction: no precision probe
    finds_kinks = True  # exact kink flags of relu / leaky_relu layers
    has_complex_step = True
    has_directions = True

    def __init__(self, model: MLP, X, Y, threads=None, dtype=np.float64):
        self.model = model
        self.dtype = model.check_dtype(dtype)
        self.args = model.cost_args(X, Y, self.dtype)
        self._threads = threads
        self._kinks = _KinkCache()

    @property
    def threads(self) -> int:
        return self._threads or config.num_threads()

    def value(self, theta) -> float:
        """J(θ), rounded as the kernel's own unperturbed cost (row loops)."""
        self._check_theta(theta)
        return float(backprop.mlp_cost(theta, *self.args))

    def prepare(self, theta, kind: str) -> None:
        """Compile the kernel (a no-op once compiled or loaded from the cache),
        so compilation stays out of a check's timing."""
        self._check_theta(theta)
        if kind == "directions":
            JitEvaluator(self.model.jit_cost, self.args, self._threads).prepare(theta, kind)
        elif (kind, self.dtype) not in _COMPILED:
            one, h = np.zeros(1, np.int64), np.full(1, 1e-3)
            if kind == "complex":
                self.complex_step(theta, one, h)
            else:
                self._run(theta, one, h, np.ones(1))
            _COMPILED.add((kind, self.dtype))

    def _check_theta(self, theta):
        if theta.dtype != self.dtype:
            raise TypeError(f"this evaluator computes in {self.dtype}; theta has dtype {theta.dtype}")

    def _run(self, theta, coords, steps, offsets):
        self._check_theta(theta)
        coords = np.ascontiguousarray(coords, np.int64)
        steps = np.ascontiguousarray(steps, np.float64)
        offsets = np.ascontiguousarray(offsets, np.float64)
        out = np.empty((len(coords), len(offsets)))
        flags = np.zeros(len(coords), np.bool_)
        with config.threads(self._threads) as n, config.single_threaded_blas():
            layered.layered_costs(theta, *self.args, coords, steps, offsets, np.int64(n), out, flags)
        self._kinks.store(theta, coords, steps, flags)
        return out, flags

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        return self._run(theta, coords, steps, offsets)[0]

    def kinks(self, theta, coords, steps) -> np.ndarray:
        """Coordinates whose perturbed points put a relu/leaky_relu pre-activation
        on the other side of 0 (from the last stencil run when it covered them)."""
        flags = self._kinks.get(theta, np.ascontiguousarray(coords, np.int64), steps)
        if flags is None:
            flags = self._run(theta, coords, steps, np.array([-1.0, 1.0]))[1]
        return flags

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        """``Im J(θ + i·h_j·e_{coords[j]})`` by the structure-aware kernel (see
        :func:`fastcheck.models.layered.layered_complex_step`)."""
        self._check_theta(theta)
        coords = np.ascontiguousarray(coords, np.int64)
        steps = np.ascontiguousarray(steps, np.float64)
        out = np.empty(len(coords))
        unit = complex_dtype(self.dtype)(1j)
        with config.threads(self._threads) as n, config.single_threaded_blas():
            layered.layered_complex_step(theta, *self.args, coords, steps, unit, np.int64(n), out)
        return out

    def directions(self, theta, lo, start, dirvals, steps, offsets):
        return JitEvaluator(self.model.jit_cost, self.args, self._threads).directions(
            theta, lo, start, dirvals, steps, offsets
        )


class BlackBoxModelEvaluator(JitEvaluator):
    """The model's jitted cost through the generic parallel kernel (a full pass per
    perturbed cost); kinks are still flagged by the structure-aware kernel.

    For the complex step the data are cast to complex too, so that every
    layer's product stays one BLAS call of a single dtype.
    """

    deterministic = True
    native_precision = True
    finds_kinks = True
    calls_user_cost = False  # the model's own jitted cost, with its data cast per precision

    def __init__(self, model: MLP, X, Y, threads=None, dtype=np.float64):
        self._layered = LayeredEvaluator(model, X, Y, threads, dtype)
        super().__init__(model.jit_cost, self._layered.args, threads)

    @functools.cached_property
    def _complex_args(self) -> tuple:
        """The cost's arguments with the data as complex (made on the first complex step)."""
        X = self.args[0]
        return (X.astype(complex_dtype(X.dtype)),) + tuple(self.args[1:])

    def prepare(self, theta, kind: str) -> None:
        super().prepare(theta, kind)
        if kind != "complex":
            self._layered.prepare(theta, kind)

    def complex_step(self, theta, coords, steps):
        out = np.empty(len(coords))
        self._run(stencil.complex_step_costs, theta.astype(complex_dtype(theta.dtype)),
                  np.ascontiguousarray(coords, np.int64), np.ascontiguousarray(steps, np.float64),
                  self._complex_args, out)
        return out

    def kinks(self, theta, coords, steps):
        return self._layered.kinks(theta, coords, steps)


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
    from . import pool

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
