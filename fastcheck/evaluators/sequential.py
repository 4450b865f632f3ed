"""Stage caching for layered models: the evaluator behind :func:`fastcheck.check_sequential`.

Most hand-written networks are a sequence of stages, ``a_{l+1} =
f_l(a_l, p_l)``, the last one returning the scalar cost.  Perturbing a
parameter of stage l leaves ``a_0 … a_l`` unchanged, so
:class:`SequentialEvaluator` keeps every stage's input at θ and, for a
coordinate of stage l, runs stages l…L only.  This is exact, not a
linearisation: the stages before l would have computed the very same
``a_l`` from the very same numbers, so each perturbed cost is bitwise the
composed cost at the perturbed point.  A check whose parameters sit mostly
in cheap late stages (the affine layers after a slow convolution) skips
the expensive early stages for almost every coordinate.

With ``reseed=`` (a cost whose stages draw random numbers: dropout masks,
sampled negatives) every evaluation starts from the reseeded random state,
and a run from stage l starts from the state stage l started from at θ
(NumPy's global state and the stdlib ``random``'s, recorded when the stage
inputs are cached): the stages before l draw what they drew at θ, so the
perturbed costs are still bitwise those of the reseeded composed cost.
"""
from __future__ import annotations

import random
import time
from collections.abc import Mapping

import numpy as np

from fastcheck.core.layout import Layout
from fastcheck.core.randomness import check_reseed
from fastcheck.errors import StageError
from fastcheck.evaluators.loop import as_scalar, complex_dtype, refuse_in_place
from fastcheck.evaluators.protocol import Capabilities, Evaluator


def _stage_name(l: int, fn) -> str:
    return f"stage {l} ({getattr(fn, '__name__', type(fn).__name__)})"


def plan_stages(stages, params):
    """Validated ``(fns, names_per_stage, layout)``; the layout lists the
    parameters in stage order, so each stage's coordinates are contiguous."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    if isinstance(stages, (str, bytes)) or not isinstance(stages, (list, tuple)) or not stages:
        raise StageError("stages must be a non-empty list of (fn, names) pairs")
    fns, names, owner = [], [], {}
    for l, stage in enumerate(stages):
        if not isinstance(stage, (list, tuple)) or len(stage) != 2:
            raise StageError(f"stage {l}: expected a pair (fn, names), got {stage!r:.80}")
        fn, ns = stage
        if not callable(fn):
            raise StageError(f"stage {l}: {fn!r:.60} is not callable")
        where = _stage_name(l, fn)
        ns = (ns,) if isinstance(ns, str) else tuple(ns) if ns is not None else ()
        for n in ns:
            if not isinstance(n, str):
                raise StageError(f"{where}: parameter names must be strings, got {n!r}")
            if n not in params:
                raise StageError(f"{where} names {n!r}, which params does not have (params: {sorted(params)})")
            if n in owner:
                raise StageError(f"parameter {n!r} is named by {owner[n]} and by {where}; each belongs to one stage")
            owner[n] = where
        fns.append(fn)
        names.append(ns)
    unused = [n for n in params if n not in owner]
    if unused:
        raise StageError(f"params {unused} are named by no stage; every parameter must belong to one")
    order = [n for ns in names for n in ns]
    if not order:
        raise StageError("no stage names a parameter: nothing to check")
    for n in order:
        a = np.asarray(params[n])
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"parameter {n!r} must be a float array, got dtype {a.dtype}")
    layout = Layout(tuple(order), tuple(np.shape(params[n]) for n in order))
    return fns, names, layout


class SequentialEvaluator(Evaluator):
    """Perturbed costs of a sequence of stages, recomputing only from the perturbed stage on.

    Parameters
    ----------
    fns : list of callables
        ``fns[l](a, *params_of_stage_l) -> next activation`` (the last: the cost).
    names : list of tuples of str
        The parameters of each stage, as named in ``layout``.
    layout : Layout
        θ's blocks, in stage order.
    x : array
        The input of stage 0 (never modified: every stage gets a copy of its input).
    reseed : None, int or callable
        Reseed the random state before every evaluation (see the module's doc); the caller's
        random state is put back after each.
    """

    path = "sequential"
    caps = Capabilities(complex_step=True)  # the stages run in Python: no kink flags, no directions

    def __init__(self, fns, names, layout: Layout, x, reseed=None):
        self.reseed = check_reseed(reseed)
        self._states = []  # with reseed: the random state every stage started from at the cached θ
        self.fns = list(fns)
        self.names = [tuple(ns) for ns in names]
        self.layout = layout
        self.x = x
        first = [layout.offsets[layout.names.index(ns[0])] if ns else None for ns in self.names]
        # coordinate -> stage: the first coordinate of every stage with parameters
        self._starts = np.array([f for f in first if f is not None], np.int64)
        self._stage_ids = np.array([l for l, f in enumerate(first) if f is not None], np.int64)
        self._slices = [[(layout.block_slice(n), layout.shapes[layout.names.index(n)]) for n in ns] for ns in self.names]
        self._at = None  # (θ, inputs of every stage at θ)
        self.eval_seconds = float("inf")

    def __getstate__(self):  # the cache is rebuilt where the evaluator runs
        state = dict(self.__dict__)
        state["_at"] = None
        state["_states"] = []
        return state

    @property
    def threads(self) -> int:
        return 1

    def stage_of(self, coords) -> np.ndarray:
        """The stage each flat coordinate belongs to."""
        pos = np.searchsorted(self._starts, np.asarray(coords, np.int64), side="right") - 1
        return self._stage_ids[pos]

    def _params(self, work, l):
        return [work[s].reshape(shape) for s, shape in self._slices[l]]

    def _reseed(self):
        """With reseed: the caller's random states (to put back), after reseeding; else None."""
        if self.reseed is None:
            return None
        saved = (np.random.get_state(), random.getstate())
        if callable(self.reseed):
            self.reseed()
        else:
            np.random.seed(self.reseed)
            random.seed(self.reseed)
        return saved

    @staticmethod
    def _put_back(saved):
        if saved is not None:
            np.random.set_state(saved[0])
            random.setstate(saved[1])

    def _run(self, l, a, work, validate=False, times=None):
        """Stages l…L from input ``a``; the cost as a Python scalar."""
        saved = self._reseed()
        try:
            if saved is not None and l > 0:
                np.random.set_state(self._states[l][0])
                random.setstate(self._states[l][1])
            return self._stages(l, a, work, validate, times)
        finally:
            self._put_back(saved)

    def _stages(self, l, a, work, validate, times):
        last = len(self.fns) - 1
        before = work.copy() if validate else None
        for m in range(l, last + 1):
            t0 = time.perf_counter()
            a = self.fns[m](a, *self._params(work, m))
            if times is not None:
                times[m] = time.perf_counter() - t0
            if validate:  # the black-box path's check, stage by stage (a `W *= 2` in a stage)
                refuse_in_place(work, before, _stage_name(m, self.fns[m]), "its parameters",
                                "compute a new array in the stage (W = W * 2) rather than change a parameter (W *= 2)")
            if validate and m < last and not isinstance(a, np.ndarray):
                hint = " (return the activation alone, not (out, cache))" if isinstance(a, tuple) else ""
                raise StageError(f"{_stage_name(m, self.fns[m])} returned {type(a).__name__}; every stage but the "
                                 f"last must return the next activation as a NumPy array{hint}")
        where = f"in {_stage_name(last, self.fns[last])}, the last stage"
        try:
            return as_scalar(a, where=where, complex_ok=np.iscomplexobj(work))
        except ValueError as exc:
            raise StageError(f"{exc}; the last stage must return the scalar cost") from None

    def composed(self, theta) -> float:
        """J(θ) through every stage, neither validated nor timed: the cost a black-box check differences."""
        return self._run(0, np.array(self.x, copy=True), theta)

    def _inputs(self, theta):
        """Every stage's input at θ (computed once per θ)."""
        if self._at is not None and self._at[0].shape == theta.shape and np.array_equal(self._at[0], theta):
            return self._at[1]
        inputs, times = [], [0.0] * len(self.fns)
        a = np.array(self.x, copy=True)
        work = theta.copy()
        self._states = states = []
        saved = self._reseed()
        try:
            for l in range(len(self.fns)):
                inputs.append(a)
                if saved is not None:
                    states.append((np.random.get_state(), random.getstate()))
                if l < len(self.fns) - 1:
                    t0 = time.perf_counter()
                    a = self.fns[l](np.array(a, copy=True), *self._params(work, l))
                    times[l] = time.perf_counter() - t0
                    if not isinstance(a, np.ndarray):
                        self._put_back(saved)
                        saved = None
                        self._run(l, inputs[l], work, validate=True)  # raises the clear error
        finally:
            self._put_back(saved)
        self._at = (theta.copy(), inputs)
        return inputs

    def value(self, theta) -> float:
        """J(θ), through every stage (each stage's return is validated); the
        per-coordinate time of the cached check is estimated from the stage times."""
        times = [0.0] * len(self.fns)
        f = self._run(0, np.array(self.x, copy=True), theta.copy(), validate=True, times=times)
        tail = np.cumsum(times[::-1])[::-1]  # seconds of stages l…L
        sizes = np.array([sum(self.layout.sizes[self.layout.names.index(n)] for n in ns) for ns in self.names])
        estimate = float(np.sum(sizes * tail) / max(np.sum(sizes), 1))
        self.eval_seconds = min(self.eval_seconds, estimate)
        self._inputs(theta)
        return f

    def prepare(self, theta, kind: str) -> None:
        self._inputs(theta)

    def stencil(self, theta, coords, steps, offsets) -> np.ndarray:
        inputs = self._inputs(theta)
        stage = self.stage_of(coords)
        out = np.empty((len(coords), len(offsets)))
        work = theta.copy()
        for j, i in enumerate(coords):
            l, x = stage[j], theta[i]
            for k, c in enumerate(offsets):
                work[i] = x + c * steps[j]
                out[j, k] = self._run(l, np.array(inputs[l], copy=True), work)
            work[i] = x
        return out

    def complex_step(self, theta, coords, steps) -> np.ndarray:
        """``Im J(θ + i·h·e_i)`` from stage l on (the cached inputs are real:
        the stages before l see no imaginary part)."""
        inputs = self._inputs(theta)
        stage = self.stage_of(coords)
        out = np.empty(len(coords))
        work = theta.astype(complex_dtype(theta.dtype))
        for j, i in enumerate(coords):
            l, x = stage[j], work[i]
            work[i] = x + 1j * steps[j]
            out[j] = np.imag(self._run(l, np.array(inputs[l], copy=True), work))
            work[i] = x
        return out
