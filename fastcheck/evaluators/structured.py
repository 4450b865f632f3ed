"""The evaluators of the built-in networks (used by :func:`fastcheck.check_model`).

:class:`LayeredEvaluator` computes the perturbed costs of a
:class:`fastcheck.models.MLP` with :mod:`fastcheck.models.layered`, which
recomputes only what a coordinate's perturbation changes (compiled, interpreted, or in
its NumPy form, :mod:`fastcheck.models.layered.vector`, whichever finishes the whole check
first, see ``LayeredEvaluator(form=...)``);
:class:`BlackBoxModelEvaluator` runs the same model's jitted cost through the
generic parallel kernel.  Both plug into :func:`fastcheck.checks.gradient.run_check`
and flag ReLU kinks, which the result lists apart from the verdict.
"""
from __future__ import annotations

import functools
import itertools
import time

import numpy as np

from fastcheck import config
from fastcheck.evaluators.jit import JitEvaluator
from fastcheck.evaluators.loop import complex_dtype
from fastcheck.evaluators.protocol import Capabilities, Evaluator
from fastcheck.kernels import stencil
from fastcheck.models import MLP, backprop, layered
from fastcheck.models.layered import vector

__all__ = ["FORMS", "MODES", "BlackBoxModelEvaluator", "LayeredEvaluator"]

#: The kernels a built-in model can be checked with (``check_model(mode=...)``, ``--mode``).
MODES = ("structured", "blackbox")
#: The forms of the structure-aware kernel (``LayeredEvaluator(form=...)``; ``None`` chooses): compiled,
#: its source run interpreted, or the NumPy form (:mod:`fastcheck.models.layered.vector`, float64).
FORMS = ("compiled", "interpreted", "numpy")


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


#: (kernel, dtype) pairs this process has compiled (or loaded from the cache):
#: compilation is process-wide, so a new evaluator need not run the kernel again to prepare it.
_COMPILED = set()

#: Seconds compiling on an empty cache takes (two cores, a quiet machine, rounded down): either
#: form of the structure-aware kernel, and the network's row-loop cost (``value``).
COLD_KERNEL = 20.0
COLD_COST = 1.0
#: Seconds one multiply-add of the network's row loops takes interpreted (measured: 0.5-2 µs).
INTERPRETED_MAC = 1e-6
#: Kernel calls a check makes (stencils, kinks, refinement rounds) and cost evaluations per
#: coordinate and offset, as assumed when weighing interpretation against compilation.
CALLS_PER_CHECK, EVALS_PER_POINT = 10, 4


def interpreted_kernel_seconds(model: MLP, batch: int, n_coords: int, n_offsets: int, calls: int) -> float:
    """Estimated seconds of ``calls`` calls of the structure-aware kernel run interpreted (see
    :func:`fastcheck.config.interpreted`) on ``n_coords`` coordinates × ``n_offsets`` offsets in all:
    each call recomputes the unperturbed pass (about twice a forward pass's multiply-adds), each
    perturbed cost touches every unit of every sample about once."""
    sizes = model.sizes
    forward = batch * sum(a * b for a, b in itertools.pairwise(sizes))
    per_point = batch * sum(sizes[1:]) + 50
    return INTERPRETED_MAC * (2 * forward * calls + per_point * n_coords * n_offsets)


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
    form : {None, "compiled", "interpreted", "numpy"}
        The form of the kernel for the perturbed costs (:data:`FORMS`).  ``None`` (default:
        :attr:`default_form`) takes the one expected to finish the whole check first: compiled when
        that pays (see :func:`fastcheck.config.runner`; ``FASTCHECK_COMPILE=always|never``
        forces or forbids it), else the NumPy form where it covers the check (float64) and is
        estimated quicker than the interpreted kernel.  The complex step and directional checks
        never take the NumPy form.
    """

    #: The form taken when none is passed (``None``: chosen by estimate); tests set it.
    default_form = None

    caps = Capabilities(
        holds_blas=True,  # see fastcheck.checks.gradient.held_blas
        deterministic=True,  # a fixed dropout mask: J(θ) is not re-evaluated to test for randomness
        native_precision=True,  # computes in θ's dtype by construction: no precision probe
        finds_kinks=True,  # exact kink flags of relu / leaky_relu layers
        complex_step=True,
        directions=True,
    )

    def __init__(self, model: MLP, X, Y, threads=None, dtype=np.float64, form=None):
        self.model = model
        self.dtype = model.check_dtype(dtype)
        self.args = model.cost_args(X, Y, self.dtype)
        self._threads = threads
        self._kinks = _KinkCache()
        self._batch = int(self.args[0].shape[0])
        # the whole check's kernel work interpreted, against compiling: small networks are checked
        # interpreted, by the same code (see fastcheck.config.interpreted), with nothing to compile
        work = interpreted_kernel_seconds(model, self._batch, model.n_params, 2 * EVALS_PER_POINT, CALLS_PER_CHECK)
        # the kernels for this depth: a network of at most two layers compiles without the paths it never takes
        self._kernel_costs, self._kernel_complex = layered.kernels_for(model.arch)
        form = self.default_form if form is None else form
        self._numpy = self._choose(form, work)
        if self._numpy:
            self._costs = self._value = None
        elif form is not None:  # forced
            pinned = (lambda fn: fn) if form == "compiled" else config.interpreted
            self._costs, self._value = pinned(self._kernel_costs), pinned(backprop.mlp_cost)
        else:
            self._costs = config.runner(self._kernel_costs, work, COLD_KERNEL)
            self._value = (backprop.mlp_cost if config.is_compiled(self._costs)
                           else config.runner(backprop.mlp_cost, work, COLD_COST))
        self._complex = None  # chosen by prepare(θ, "complex") for a whole complex-step check
        self.compile_seconds = 0.0
        self.compile_cached = False
        self.compile_loaded = True

    def _choose(self, form, work) -> bool:
        """Whether the perturbed costs take the NumPy form (``form``, or by estimate: ``work`` is the
        whole check's interpreted seconds).  Chosen by estimate, the NumPy form's seconds count
        toward compiling as interpreted ones do (:func:`fastcheck.config.runner`): a process that
        checks again and again compiles once that has paid."""
        if form is not None and form not in FORMS:
            raise ValueError(f"unknown form {form!r}; choose one of {list(FORMS)}")
        if form == "numpy" and not vector.covers(self.dtype):
            raise ValueError(f"the NumPy form computes in float64; this evaluator computes in {self.dtype}")
        if form is not None:
            return form == "numpy"
        if not vector.covers(self.dtype):
            return False
        fast = vector.numpy_seconds(self.model.arch, self.model.loss_code, self._batch, self.model.n_params,
                                    2 * EVALS_PER_POINT, CALLS_PER_CHECK)
        if fast >= work:
            return False  # interpretation (or compiling, decided by runner) is the quicker
        return not config.is_compiled(config.runner(self._kernel_costs, fast, COLD_KERNEL))

    @property
    def path(self) -> str:
        if self._numpy:
            return "structured, NumPy"
        return "structured" if config.is_compiled(self._costs) else "structured, interpreted"

    def _timed(self, fn, *args):
        """``fn(*args)``; when that compiled ``fn`` (or loaded it from the cache), the time goes to
        :attr:`compile_seconds`, never to the check's."""
        if not config.is_compiled(fn):
            return fn(*args)
        before = config.compiled_count(fn)
        loading = config.on_disk(fn)  # read once per kernel and signature count
        if not loading and not before:  # the first compilation of this kernel, and nothing cached
            cost = fn is backprop.mlp_cost
            config.announce_compiling(f"{'the network cost' if cost else 'the structure-aware kernel'} ({fn.__name__})",
                                      COLD_COST if cost else COLD_KERNEL)
        t0 = time.perf_counter()
        out = fn(*args)
        if config.compiled_count(fn) != before:
            self.compile_seconds += time.perf_counter() - t0
            self.compile_cached = config.CACHE
            self.compile_loaded = self.compile_loaded and loading
        return out

    @property
    def threads(self) -> int:
        return self._threads or config.num_threads()

    def value(self, theta) -> float:
        """J(θ), rounded as the kernel's own unperturbed cost (row loops)."""
        self._check_theta(theta)
        if self._numpy:
            return vector.vector_value(theta, *self.args)
        return float(self._timed(self._value, theta, *self.args))

    def prepare(self, theta, kind: str) -> None:
        """Choose between the compiled and the interpreted kernel for a whole check of ``kind`` and
        compile the former (a no-op once compiled or loaded from the cache), so that compilation
        stays out of the check's timing (it goes to :attr:`compile_seconds`)."""
        self._check_theta(theta)
        if kind == "directions":
            JitEvaluator(self.model.jit_cost, self.args, self._threads).prepare(theta, kind)
        elif kind == "complex":
            if self._complex is None:  # the whole check's choice
                work = interpreted_kernel_seconds(self.model, self._batch, self.model.n_params, EVALS_PER_POINT,
                                                  CALLS_PER_CHECK)
                self._complex = config.runner(self._kernel_complex, work, COLD_KERNEL)
            key = (self._kernel_complex, self.dtype)
            if config.is_compiled(self._complex) and key not in _COMPILED:
                self.complex_step(theta, np.zeros(1, np.int64), np.full(1, 1e-3))
                _COMPILED.add(key)
        elif not self._numpy and config.is_compiled(self._costs) and (self._kernel_costs, self.dtype) not in _COMPILED:
            self._run(theta, np.zeros(1, np.int64), np.full(1, 1e-3), np.ones(1))
            _COMPILED.add((self._kernel_costs, self.dtype))

    def _check_theta(self, theta):
        if theta.dtype != self.dtype:
            raise TypeError(f"this evaluator computes in {self.dtype}; theta has dtype {theta.dtype}")

    def _run(self, theta, coords, steps, offsets):
        self._check_theta(theta)
        coords = np.ascontiguousarray(coords, np.int64)
        steps = np.ascontiguousarray(steps, np.float64)
        offsets = np.ascontiguousarray(offsets, np.float64)
        if self._numpy:
            with config.single_threaded_blas():
                out, flags = vector.vector_costs(theta, *self.args, coords, steps, offsets, self.threads)
            self._kinks.store(theta, coords, steps, flags)
            return out, flags
        out = np.empty((len(coords), len(offsets)))
        flags = np.zeros(len(coords), np.bool_)
        with config.threads(self._threads) as n, config.single_threaded_blas():
            self._timed(self._costs, theta, *self.args, coords, steps, offsets, np.int64(n), out, flags)
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
        kernel = self._complex  # a whole complex-step check's choice, else that of these coordinates alone
        if kernel is None:
            work = interpreted_kernel_seconds(self.model, self._batch, len(coords), 1, 1)
            kernel = config.runner(self._kernel_complex, work, COLD_KERNEL)
        with config.threads(self._threads) as n, config.single_threaded_blas():
            self._timed(kernel, theta, *self.args, coords, steps, unit, np.int64(n), out)
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

    # As the structured kernel's, and not ``calls_user_cost``: the cost is the
    # model's own jitted cost, with its data cast per precision.
    caps = Capabilities(holds_blas=True, deterministic=True, native_precision=True, finds_kinks=True,
                        complex_step=True, directions=True)

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
        if kind != "complex":  # the kink flags' kernel: its compilation is this check's too
            before = self._layered.compile_seconds
            self._layered.prepare(theta, kind)
            self.compile_seconds += self._layered.compile_seconds - before

    def complex_step(self, theta, coords, steps):
        out = np.empty(len(coords))
        self._run(stencil.complex_step_costs, theta.astype(complex_dtype(theta.dtype)),
                  np.ascontiguousarray(coords, np.int64), np.ascontiguousarray(steps, np.float64),
                  self._complex_args, out)
        return out

    def kinks(self, theta, coords, steps):
        return self._layered.kinks(theta, coords, steps)
