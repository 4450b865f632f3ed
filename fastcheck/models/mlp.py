"""The built-in dense network (:class:`MLP`) and the 2-3-1 network of Neural Networks Demystified."""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np

from fastcheck import config
from fastcheck.core.layout import Layout
from fastcheck.models import backprop, mutant_backprop
from fastcheck.models.functions import ACTIVATIONS, LOSSES
from fastcheck.models.mutants import get_mutant

#: Seconds compiling the backprop takes on an empty cache (two cores, a quiet machine, rounded down),
#: and one operation of its loops interpreted (measured: 1-4 µs).
COLD_GRAD = 2.0
INTERPRETED_OP = 4e-6


class MLP:
    """A dense feed-forward network with a hand-written, Numba-compiled backprop.

    Row-major throughout: a batch ``X`` is ``(B, n_0)``, layer l computes
    ``Z_l = A_{l−1}·W_l + b_l`` with ``W_l`` of shape ``(n_{l−1}, n_l)``,
    ``H_l = act_l(Z_l)`` and ``A_l = H_l ⊙ M_l`` (the dropout mask, hidden
    layers only).  The cost is

        J(θ) = data_loss(A_L, y) + ½·l2·Σ_l ‖W_l‖²   (biases are not regularized).

    Parameters
    ----------
    sizes : sequence of int
        Widths ``(n_0, n_1, …, n_L)``: inputs, then every layer's units.
    activations : str or sequence of str
        One name for every layer (output layer included) or one per layer,
        from ``identity, sigmoid, tanh, relu, leaky_relu, softplus``.
    loss : {"sse", "mse", "bce", "softmax_ce"}
        ``"sse"``: ½·Σ(y − ŷ)² (Neural Networks Demystified's); ``"mse"``: mean (y − ŷ)²;
        ``"bce"``: mean binary cross-entropy of σ(ŷ) against y ∈ {0, 1};
        ``"softmax_ce"``: mean over the batch of −Σ_k y_k·log softmax(ŷ)_k.
        bce and softmax_ce read the output as logits.
    l2 : float
        L2 strength, in the cost and in the gradient.
    keep_prob : float
        Dropout keep probability of the hidden layers, in (0, 1].  The mask
        is fixed, drawn from ``dropout_seed`` for each batch size, so the cost
        is deterministic and can be checked (inverted dropout: kept units are
        scaled by 1/keep_prob).
    dropout_seed : int
    bias : bool
        Whether the layers have biases (the Neural Networks Demystified network has none).
    mutant : str, optional
        Plant the bug of that name (see :data:`fastcheck.models.MUTANTS`) in
        the gradient; the cost is unchanged.  Usually reached through
        :meth:`mutant`.

    Precision: the cost (and every perturbed cost of a check) computes in
    any of :attr:`dtypes`, chosen by the ``dtype`` of :meth:`cost_args` (or
    of θ in :func:`fastcheck.check_model`); the backprop is the float64
    reference.
    """

    #: Precisions the forward pass and the costs compute in.
    dtypes = ("float64", "float32")

    def __init__(
        self,
        sizes,
        activations="sigmoid",
        loss="sse",
        l2=0.0,
        keep_prob=1.0,
        dropout_seed=0,
        bias=True,
        mutant=None,
    ):
        self.sizes = _check_sizes(sizes)
        L = len(self.sizes) - 1
        self.activation_names = _check_activations(activations, L)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
        self.loss = loss
        self.l2 = _check_real(l2, "l2", lo=0.0)
        self.keep_prob = _check_real(keep_prob, "keep_prob", lo=0.0, hi=1.0, open_lo=True)
        if isinstance(dropout_seed, bool) or not isinstance(dropout_seed, (int, np.integer)):
            raise TypeError(f"dropout_seed must be an integer, got {dropout_seed!r}")
        self.dropout_seed = int(dropout_seed)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        self.bug = None if mutant is None else get_mutant(mutant).name
        self._bug_code = 0 if mutant is None else get_mutant(mutant).code
        self._build()

    def _build(self):
        n, L = self.sizes, self.depth
        names, shapes = [], []
        for l in range(1, L + 1):
            names.append(f"W{l}")
            shapes.append((n[l - 1], n[l]))
            if self.bias:
                names.append(f"b{l}")
                shapes.append((n[l],))
        self.layout = Layout(tuple(names), tuple(shapes))
        arch = np.zeros((L, 7), np.int64)
        col = n[0]
        for l in range(L):
            arch[l, backprop.N_IN] = n[l]
            arch[l, backprop.N_OUT] = n[l + 1]
            arch[l, backprop.ACT] = ACTIVATIONS[self.activation_names[l]]
            arch[l, backprop.W_OFF] = self.layout.offsets[names.index(f"W{l + 1}")]
            arch[l, backprop.B_OFF] = self.layout.offsets[names.index(f"b{l + 1}")] if self.bias else -1
            arch[l, backprop.IN_OFF] = col - n[l]
            arch[l, backprop.OUT_OFF] = col
            col += n[l + 1]
        arch.setflags(write=False)
        self.arch = arch
        self._masks = {}

    # -- description ---------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of dense layers L."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return self.layout.size

    @property
    def loss_code(self) -> int:
        return LOSSES[self.loss]

    @property
    def activation_codes(self) -> np.ndarray:
        return self.arch[:, backprop.ACT].copy()

    @property
    def spec(self) -> dict:
        """Keyword arguments that rebuild this model: ``MLP(**model.spec)``."""
        acts = self.activation_names
        spec = dict(
            sizes=list(self.sizes),
            activations=acts[0] if len(set(acts)) == 1 else list(acts),
            loss=self.loss,
            l2=self.l2,
            keep_prob=self.keep_prob,
            dropout_seed=self.dropout_seed,
            bias=self.bias,
        )
        if self.bug is not None:
            spec["mutant"] = self.bug
        return spec

    def __repr__(self) -> str:
        parts = [f"sizes={list(self.sizes)}"]
        acts = self.activation_names
        parts.append(f"activations={acts[0]!r}" if len(set(acts)) == 1 else f"activations={list(acts)!r}")
        parts.append(f"loss={self.loss!r}")
        if self.l2:
            parts.append(f"l2={self.l2!r}")
        if self.keep_prob < 1:
            parts.append(f"keep_prob={self.keep_prob!r}, dropout_seed={self.dropout_seed}")
        if not self.bias:
            parts.append("bias=False")
        if self.bug:
            parts.append(f"mutant={self.bug!r}")
        return f"MLP({', '.join(parts)})"

    def __eq__(self, other):
        return isinstance(other, MLP) and self.spec == other.spec

    def __hash__(self):
        return hash(repr(self))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_masks"] = {}  # rebuilt on demand; keeps pickles small
        return state

    # -- parameters and data ------------------------------------------------------
    def init(self, seed=0, scale=None) -> np.ndarray:
        """A random θ: ``W_l ~ N(0, s²)`` with ``s = scale`` or 1/√n_{l−1}, ``b_l ~ N(0, 0.1²)``."""
        rng = np.random.default_rng(seed)
        blocks = {}
        for l in range(1, self.depth + 1):
            s = 1.0 / np.sqrt(self.sizes[l - 1]) if scale is None else float(scale)
            blocks[f"W{l}"] = s * rng.standard_normal((self.sizes[l - 1], self.sizes[l]))
            if self.bias:
                blocks[f"b{l}"] = 0.1 * rng.standard_normal(self.sizes[l])
        return self.layout.flatten(blocks)

    def sample_data(self, batch, seed=0):
        """A random batch ``(X, y)`` with targets suited to the loss.

        ``X ~ N(0, 1)``; ``y`` is one-hot for softmax_ce, in {0, 1} for bce and
        uniform in (0, 1) otherwise; ``y`` has shape ``(batch, n_L)``.
        """
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        rng = np.random.default_rng(seed)
        n0, K = self.sizes[0], self.sizes[-1]
        X = rng.standard_normal((batch, n0))
        if self.loss == "softmax_ce":
            y = np.zeros((batch, K))
            y[np.arange(batch), rng.integers(0, K, batch)] = 1.0
        elif self.loss == "bce":
            y = rng.integers(0, 2, (batch, K)).astype(np.float64)
        else:
            y = rng.uniform(0.0, 1.0, (batch, K))
        return X, y

    def dropout_mask(self, batch: int, dtype=np.float64) -> np.ndarray:
        """The fixed dropout factors for a batch of this size, ``(batch, T)``
        (read-only; 1 for input and output columns), in precision ``dtype``."""
        batch = int(batch)
        dtype = np.dtype(dtype)
        if dtype != np.float64:
            key = (batch, dtype.str)
            if key not in self._masks:
                mask = self.dropout_mask(batch).astype(dtype)
                mask.setflags(write=False)
                self._masks[key] = mask
            return self._masks[key]
        mask = self._masks.get(batch)
        if mask is None:
            T = int(self.arch[-1, backprop.OUT_OFF] + self.sizes[-1])
            mask = np.ones((batch, T))
            if self.keep_prob < 1.0:
                rng = np.random.default_rng(self.dropout_seed)
                for l in range(self.depth - 1):
                    o0, n = int(self.arch[l, backprop.OUT_OFF]), self.sizes[l + 1]
                    keep = rng.random((batch, n)) < self.keep_prob
                    mask[:, o0 : o0 + n] = keep / self.keep_prob
            mask.setflags(write=False)
            self._masks[batch] = mask
        return mask

    def check_theta(self, theta, dtype=np.float64) -> np.ndarray:
        """θ as a contiguous vector of length n_params in ``dtype`` (a clear error otherwise)."""
        arr = np.asarray(theta)
        if arr.ndim != 1 or arr.shape[0] != self.n_params:
            raise ValueError(f"theta must be 1-D of length {self.n_params} for {self!r}, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"theta must be a float array, got dtype {arr.dtype}")
        return np.ascontiguousarray(arr, dtype=self.check_dtype(dtype))

    def check_dtype(self, dtype) -> np.dtype:
        """``dtype`` as a NumPy dtype, if the network computes in it (a clear error otherwise)."""
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt is None or dt.name not in self.dtypes:
            raise TypeError(f"the built-in networks compute in {' or '.join(self.dtypes)}, not {dtype!r}")
        return dt

    def _check_X(self, X, dtype=np.float64) -> np.ndarray:
        X = np.asarray(X)
        n0 = self.sizes[0]
        if X.ndim != 2 or X.shape[1] != n0:
            raise ValueError(f"X must have shape (batch, {n0}) for {self!r}, got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X has no rows (batch of size 0)")
        _check_finite(X, "X")
        return np.ascontiguousarray(X, dtype=self.check_dtype(dtype))

    def validate_data(self, X, y, dtype=np.float64):
        """``(X, Y)`` as contiguous ``(B, n_0)`` and ``(B, n_L)`` arrays in ``dtype`` (copies if needed).

        A 1-D ``y`` is accepted for a single output.
        """
        X = self._check_X(X, dtype)
        y = np.asarray(y)
        K = self.sizes[-1]
        if y.ndim == 1 and K == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape != (X.shape[0], K):
            raise ValueError(f"y must have shape ({X.shape[0]}, {K}) to match X and the {K} output(s), got {y.shape}")
        _check_finite(y, "y")
        return X, np.ascontiguousarray(y, dtype=X.dtype)

    # -- cost and gradient -------------------------------------------------------------
    @property
    def jit_cost(self):
        """The Numba-jitted black-box cost ``jit_cost(theta, *model.cost_args(X, y))``
        (layers as BLAS matrix products; see :func:`fastcheck.models.backprop.mlp_cost_blas`)."""
        return backprop.mlp_cost_blas

    def cost_args(self, X, y, dtype=np.float64) -> tuple:
        """The extra arguments of :attr:`jit_cost` (and accepted by :meth:`grad`) for a batch.

        ``dtype`` (float64 or float32) is the precision the cost computes in:
        the data, the dropout factors and l2 come in it, and θ must too.
        """
        X, Y = self.validate_data(X, y, dtype)
        return (X, Y, self.arch, np.int64(self.loss_code), X.dtype.type(self.l2),
                self.dropout_mask(X.shape[0], X.dtype))

    def cost(self, theta, X, y, dtype=np.float64) -> float:
        """J(θ) on the batch ``(X, y)``, computed in ``dtype`` (θ and the data rounded to it)."""
        theta = self.check_theta(theta, dtype)
        return float(backprop.mlp_cost_blas(theta, *self.cost_args(X, y, dtype)))

    def grad(self, theta, X, y, *_cost_args, precision=None) -> np.ndarray:
        """∂J/∂θ by the hand-written backprop (with this model's planted bug, if any), in float64.

        Extra positional arguments (the rest of :meth:`cost_args`) are
        accepted and ignored, so ``grad`` and :attr:`jit_cost` can share one
        ``args`` tuple in :func:`fastcheck.check_gradient`.

        ``precision="float32"`` differentiates the cost *as it is defined in
        float32*: θ, the data, the dropout factors and l2 rounded to float32
        (1/keep_prob and l2 are rarely representable), then backprop in
        float64.  That is the exact derivative of what a float32 check
        evaluates, so the comparison measures the differences alone.
        """
        dt = np.dtype(np.float64) if precision is None else self.check_dtype(precision)
        theta = self.check_theta(theta, dt).astype(np.float64, copy=False)
        X, Y, arch, loss, l2, mask = self.cost_args(X, y, dt)
        if dt != np.float64:
            X, Y, mask = X.astype(np.float64), Y.astype(np.float64), mask.astype(np.float64)
        args = (X, Y, arch, loss, float(l2), mask)
        out = np.empty(self.n_params)
        # interpreted while that is quicker than compiling (see fastcheck.config.runner): the backprop
        # computes every product with BLAS either way, its loops run interpreted.
        # BLAS keeps the threads it has, as in model.cost: inside a check, which holds BLAS to one thread
        # around its parallel kernels (checks.base.held_blas), that is one; called on its own, two threads
        # ran the backprop 1.5-1.9x faster than one at 784-128-10 to 784-1260-10 on 2 cores, right after a
        # parallel check too (the medians of 40 calls, each following one; 2026-12-03)
        fn = config.runner(self._grad_kernel, self._grad_work(X.shape[0]), COLD_GRAD)
        if self._bug_code:
            fn(theta, *args, np.int64(self._bug_code), out)
        else:
            fn(theta, *args, out)
        return out

    @property
    def _grad_kernel(self):
        return mutant_backprop.mlp_grad if self._bug_code else backprop.mlp_grad

    def _grad_work(self, batch: int) -> float:
        """Estimated seconds of one backprop interpreted (its loops: the weights' and the units')."""
        n = self.sizes
        return INTERPRETED_OP * (sum(a * b for a, b in itertools.pairwise(n)) + 2 * batch * sum(n))

    def prepare_grad(self, theta, X, y, precision=None) -> float:
        """Compile the backprop now if :meth:`grad` is going to run it compiled (a check calls this
        before its clock starts); the seconds compiling (or loading it from the cache) took, 0.0 when
        nothing was compiled."""
        fn = self._grad_kernel
        if config.compiled_count(fn) or not config.compile_pays(fn, self._grad_work(len(X)), COLD_GRAD):
            return 0.0
        t0 = time.perf_counter()
        self.grad(theta, X, y, precision=precision)
        return time.perf_counter() - t0 if config.compiled_count(fn) else 0.0

    def forward(self, theta, X) -> np.ndarray:
        """The network's output ``A_L`` for a batch (with this batch size's dropout mask)."""
        theta = self.check_theta(theta)
        X = self._check_X(X)
        _, _, A = backprop.forward(theta, X, self.arch, self.dropout_mask(X.shape[0]))
        o0 = int(self.arch[-1, backprop.OUT_OFF])
        return A[:, o0:].copy()

    # -- mutants ----------------------------------------------------------------------------
    def mutant(self, name) -> "MLP":
        """The same model with the planted backprop bug ``name`` (cost unchanged)."""
        spec = self.spec
        spec["mutant"] = get_mutant(name).name
        return MLP(**spec)

    @property
    def correct(self) -> "MLP":
        """The same model without a planted bug."""
        spec = self.spec
        spec.pop("mutant", None)
        return MLP(**spec)


# -- validation helpers -----------------------------------------------------------------
def _check_sizes(sizes) -> tuple:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise TypeError(f"sizes must be a sequence of layer widths such as [784, 128, 10], got {sizes!r}")
    out = []
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"every layer width must be a positive integer, got {list(sizes)!r}")
        out.append(int(s))
    if len(out) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {list(sizes)!r}")
    return tuple(out)


def _check_activations(activations, L) -> tuple:
    if isinstance(activations, str):
        names = (activations,) * L
    elif isinstance(activations, Sequence):
        names = tuple(activations)
        if len(names) != L:
            raise ValueError(f"activations has {len(names)} entries but the network has {L} layers (one per layer)")
    else:
        raise TypeError(f"activations must be a name or a list of names, got {activations!r}")
    for a in names:
        if a not in ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}; choose one of {list(ACTIVATIONS)}")
    return names


def _check_finite(arr, name):
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")


def _check_real(value, name, lo=None, hi=None, open_lo=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = not np.isfinite(v) or (lo is not None and (v <= lo if open_lo else v < lo)) or (hi is not None and v > hi)
    if bad:
        lo_s = "" if lo is None else (f"> {lo}" if open_lo else f">= {lo}")
        hi_s = "" if hi is None else f"<= {hi}"
        raise ValueError(f"{name} must be finite {' and '.join(p for p in (lo_s, hi_s) if p)}, got {value!r}")
    return v
