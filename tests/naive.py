"""Slow, obvious reference implementations that the fast paths are tested against.

Each is written from the formulas, independently of the package (nothing here imports fastcheck), and is
named after what it checks:

=============================  ==============================================================
reference                      checks
=============================  ==============================================================
central_difference             fastcheck.numerical_gradient / the stencil kernels
roundoff                       the round-off floor of the error bars (verdicts.errorbars)
TutorialNetwork, SeedNetwork   check_object (the object style of Neural Networks Demystified)
tutorial_numerical_gradient    the tutorial's own loop, the baseline of the benchmarks
course_forward/_backward       check_functions (the dictionary style)
mlp_cost, mlp_backprop         models.MLP's cost and backprop (models.backprop)
mlp_numerical_gradient         check_model's numbers (the structure-aware kernel)
mlp_preactivations, mlp_kinks  the exact kink flags of LayeredEvaluator.kinks
richardson_table               kernels.richardson (the adaptive ladder's extrapolation)
=============================  ==============================================================
"""
from __future__ import annotations

import numpy as np


def roundoff(n_terms: int, dtype=np.float64, c: float = 8.0) -> float:
    """Relative round-off allowance between two implementations of one network computation.

    A sum of ``n`` products accumulated in any order is exact to γ_n ≈ n·u
    relative to the sum of the magnitudes (u = ε/2, Higham, *Accuracy and
    Stability of Numerical Algorithms*, §3.1); BLAS kernels (which differ
    between CPUs) and row loops only change the order.  ``n_terms`` is the
    longest accumulation (the batch plus every layer's fan-in) and ``c``
    covers the activations and the loss between the sums.
    """
    return c * n_terms * float(np.finfo(dtype).eps) / 2


def central_difference(f, theta, eps):
    """The seeds' loop: perturb one coordinate at a time, two-sided."""
    theta = np.array(theta, dtype=np.float64)
    g = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


def seed_data():
    """The tutorial's training data: hours of sleep/study, scaled by column max; test scores / 100."""
    X = np.array([[3, 5], [5, 1], [10, 2]], dtype=np.float64)
    y = np.array([[75], [82], [93]], dtype=np.float64)
    return X / np.amax(X, axis=0), y / 100


class TutorialNetwork:
    """The network class of *Neural Networks Demystified*, written plainly in NumPy (object style):
    the one tutorial network of the tests and the benchmarks.

    ``sizes`` (default the tutorial's 2-3-1), sigmoid units, cost ``J = ½·Σ(y − ŷ)²``,
    row-major ``z = a·W (+ b)``; the arrays are attributes ``W1, (b1,) W2, …`` in
    the order ``getParams`` concatenates them, so fastcheck can name the blocks.
    The weights are drawn from a standard normal with ``seed`` (the tutorial's
    own draw), divided by √fan-in when ``scaled``; biases start at zero.
    ``broken=True`` plants a wrong sigmoid derivative in the output layer.
    (The tutorial writes ``0.5*sum(...)``, a vector for several outputs;
    ``np.sum`` keeps J a scalar.)
    """

    def __init__(self, sizes=(2, 3, 1), seed=0, broken=False, bias=False, scaled=False):
        rng = np.random.default_rng(seed)
        self.sizes, self.bias, self.broken = tuple(int(s) for s in sizes), bool(bias), bool(broken)
        self.n_layers = len(self.sizes) - 1
        for l, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            setattr(self, f"W{l}", rng.standard_normal((a, b)) / (np.sqrt(a) if scaled else 1.0))
            if self.bias:
                setattr(self, f"b{l}", np.zeros(b))

    def _names(self):
        return [n for l in range(1, self.n_layers + 1) for n in ((f"W{l}", f"b{l}") if self.bias else (f"W{l}",))]

    @staticmethod
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_prime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def forward(self, X):
        self.z, self.a = [], [X]
        a = X
        for l in range(1, self.n_layers + 1):
            z = a @ getattr(self, f"W{l}")
            if self.bias:
                z = z + getattr(self, f"b{l}")
            a = self.sigmoid(z)
            self.z.append(z)
            self.a.append(a)
        self.z2 = self.z[0]
        self.a2 = self.a[1]
        self.z3 = self.z[-1]
        return a

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * np.sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        """Backprop, one (dW, db) per layer: δ_L = −(y − ŷ)·σ'(z_L), δ_l = (δ_{l+1}·W_{l+1}ᵀ)·σ'(z_l)."""
        self.yHat = self.forward(X)
        d_out = self.sigmoid(self.z[-1]) if self.broken else self.sigmoid_prime(self.z[-1])
        delta = -(y - self.yHat) * d_out
        grads = [None] * self.n_layers
        for l in range(self.n_layers, 0, -1):
            grads[l - 1] = (self.a[l - 1].T @ delta, delta.sum(axis=0))
            if l > 1:
                delta = (delta @ getattr(self, f"W{l}").T) * self.sigmoid_prime(self.z[l - 2])
        return grads

    def getParams(self):
        return np.concatenate([getattr(self, n).ravel() for n in self._names()])

    def setParams(self, params):
        start = 0
        for n in self._names():
            shape = getattr(self, n).shape
            end = start + int(np.prod(shape))
            setattr(self, n, np.reshape(params[start:end], shape))
            start = end

    def computeGradients(self, X, y):
        parts = []
        for dW, db in self.costFunctionPrime(X, y):
            parts.append(dW.ravel())
            if self.bias:
                parts.append(db.ravel())
        return np.concatenate(parts)

    def cost(self, params, X, y) -> float:
        """J at ``params`` (sets them first, as the tutorial's loop does)."""
        self.setParams(params)
        return float(self.costFunction(X, y))

    def cost_of(self, theta, X, y):
        """J(θ) without touching the network's own weights."""
        saved = self.getParams()
        self.setParams(theta)
        try:
            return self.costFunction(X, y)
        finally:
            self.setParams(saved)

    def grad_of(self, theta, X, y):
        saved = self.getParams()
        self.setParams(theta)
        try:
            return self.computeGradients(X, y)
        finally:
            self.setParams(saved)


class SeedNetwork(TutorialNetwork):
    """The tutorial's own 2-3-1 network without biases."""

    def __init__(self, seed=0, broken=False):
        super().__init__((2, 3, 1), seed=seed, broken=broken)


def tutorial_numerical_gradient(N, X, y, coords=None, e: float = 1e-4) -> np.ndarray:
    """The tutorial's ``computeNumericalGradient``, optionally over ``coords`` only.

    For each weight p: ``perturb[p] = e``, J⁺ at ``params + perturb``, J⁻ at
    ``params − perturb``, ``numgrad[p] = (J⁺ − J⁻) / 2e``; the parameters
    are restored at the end.  Entries outside ``coords`` stay 0.
    """
    paramsInitial = N.getParams()
    numgrad = np.zeros(paramsInitial.shape)
    perturb = np.zeros(paramsInitial.shape)
    for p in range(len(paramsInitial)) if coords is None else coords:
        perturb[p] = e
        N.setParams(paramsInitial + perturb)
        loss2 = N.costFunction(X, y)
        N.setParams(paramsInitial - perturb)
        loss1 = N.costFunction(X, y)
        numgrad[p] = (loss2 - loss1) / (2 * e)
        perturb[p] = 0
    N.setParams(paramsInitial)
    return numgrad


# -- the dictionary style of the deep-learning course (column-major) ------------------
def course_parameters(seed=0, sizes=(4, 5, 3, 1)):
    """``{"W1": (n1, n0), "b1": (n1, 1), …}``: W is (n_out, n_in), X is (n_in, m)."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) * 0.5
        params[f"b{l}"] = rng.standard_normal((sizes[l], 1)) * 0.1
    return params


def course_data(seed=0, n_in=4, m=6):
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((n_in, m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    return X, Y


def course_forward(X, Y, parameters):
    """LINEAR -> TANH -> LINEAR -> TANH -> LINEAR -> SIGMOID, mean cross-entropy."""
    cache = {"A0": X}
    A = X
    L = len(parameters) // 2
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        A = 1 / (1 + np.exp(-Z)) if l == L else np.tanh(Z)
        cache[f"Z{l}"], cache[f"A{l}"], cache[f"W{l}"] = Z, A, parameters[f"W{l}"]
    m = X.shape[1]
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    return cost, cache


def make_course_backward(bug=None):
    """Backward pass; ``bug="db2_axis"`` sums b2's gradient over the wrong axis."""

    def backward(X, Y, cache):
        m = X.shape[1]
        L = sum(1 for k in cache if k.startswith("W"))
        grads = {}
        dZ = cache[f"A{L}"] - Y
        for l in range(L, 0, -1):
            grads[f"dW{l}"] = dZ @ cache[f"A{l - 1}"].T / m
            if bug == "db2_axis" and l == 2:
                grads[f"db{l}"] = np.sum(dZ, axis=0, keepdims=True)[:, :1].repeat(dZ.shape[0], 0) / m
            else:
                grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
            grads[f"dZ{l}"] = dZ
            if l > 1:
                dA = cache[f"W{l}"].T @ dZ
                dZ = dA * (1 - cache[f"A{l - 1}"] ** 2)
        return grads

    return backward


# -- built-in dense networks (fastcheck.models) ----------------------------------------
def _naive_act(name, z):
    if name == "identity":
        return z
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":  # branch by the real part: also the complex step's convention
        return np.where(z.real > 0, z, 0 * z)
    if name == "leaky_relu":
        return np.where(z.real > 0, z, 0.01 * z)
    if name == "softplus":
        return np.log(1 + np.exp(z))
    raise ValueError(name)


def mlp_cost(theta, X, y, sizes, activations, loss, l2=0.0, bias=True, masks=None):
    """A plain NumPy forward pass and cost of a dense network, written from the definitions.

    θ holds W1 (n0×n1, C order), b1, W2, b2, … ; ``masks[l]`` multiplies the
    activations of hidden layer l+1 (dropout factors); losses: sse ½Σ(y−ŷ)²,
    mse mean (y−ŷ)², bce −mean(y log p + (1−y) log(1−p)) with p = σ(ŷ),
    softmax_ce −mean_b Σ_k y log softmax(ŷ); plus ½·l2·ΣW².

    Computes in θ's dtype (float64, float32, or complex for the complex
    step; NumPy keeps float32 as float32 with Python-float literals); X, y
    and the masks are rounded to its real precision.
    """
    theta = np.asarray(theta)
    if theta.dtype not in (np.float32, np.complex64, np.complex128):
        theta = theta.astype(np.float64)
    real = theta.real.dtype
    L = len(sizes) - 1
    if isinstance(activations, str):
        activations = [activations] * L
    a = np.asarray(X, dtype=real)
    pos, reg = 0, 0.0
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + 1]
        W = theta[pos : pos + n_in * n_out].reshape(n_in, n_out)
        pos += n_in * n_out
        z = a @ W
        if bias:
            z = z + theta[pos : pos + n_out]
            pos += n_out
        a = _naive_act(activations[l], z)
        if masks is not None and l < L - 1:
            a = a * np.asarray(masks[l], dtype=real)
        reg += np.sum(W * W)
    assert pos == len(theta)
    y = np.asarray(y, dtype=real).reshape(a.shape)
    if loss == "sse":
        data = 0.5 * np.sum((y - a) ** 2)
    elif loss == "mse":
        data = np.mean((y - a) ** 2)
    elif loss == "bce":
        p = 1 / (1 + np.exp(-a))
        data = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    elif loss == "softmax_ce":
        shifted = a - np.take_along_axis(a, np.argmax(a.real, axis=1)[:, None], axis=1)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        data = -np.mean(np.sum(y * logp, axis=1))
    else:
        raise ValueError(loss)
    return data + 0.5 * l2 * reg


def mlp_numerical_gradient(model, theta, X, y, eps=1e-6):
    """The seeds' loop over :func:`mlp_cost` for a ``fastcheck.models.MLP`` (its options and dropout masks)."""
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]

    def f(t):
        return mlp_cost(t, X, y, model.sizes, list(model.activation_names), model.loss, model.l2, model.bias, masks)

    return central_difference(f, theta, eps), f


def mlp_perturbed_costs(model, theta, X, y, coords, steps, offsets):
    """Brute force: ``out[c, k]`` = :func:`mlp_cost` at θ with θ_c moved to fl(θ_c + offsets[k]·steps[c]),
    one full forward pass per point (the contract of the structure-aware kernels)."""
    theta = np.asarray(theta, dtype=np.float64)
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    masks = [mask[:, cols[l + 1] : cols[l + 2]] for l in range(model.depth - 1)]
    out = np.empty((len(coords), len(offsets)))
    for r, (c, h) in enumerate(zip(coords, steps)):
        for k, o in enumerate(offsets):
            t = theta.copy()
            t[c] = theta[c] + o * h
            out[r, k] = mlp_cost(t, X, y, model.sizes, list(model.activation_names), model.loss, model.l2,
                                 model.bias, masks)
    return out


def mlp_preactivations(model, theta, X):
    """Every layer's pre-activations Z_l of a ``fastcheck.models.MLP``, by plain NumPy (with its dropout masks)."""
    mask = model.dropout_mask(len(X))
    cols = np.cumsum([0] + list(model.sizes))
    a = np.asarray(X, dtype=np.float64)
    blocks = model.layout.unflatten(np.asarray(theta, dtype=np.float64))
    out = []
    for l in range(model.depth):
        z = a @ blocks[f"W{l + 1}"]
        if model.bias:
            z = z + blocks[f"b{l + 1}"]
        out.append(z)
        a = _naive_act(model.activation_names[l], z) * mask[:, cols[l + 1] : cols[l + 2]]
    return out


def mlp_kinks(model, theta, X, coords, steps, offsets=(-1.0, 1.0)):
    """Brute force: does moving θ_c to fl(θ_c + o·h) put any relu/leaky_relu pre-activation
    on the other side of 0 (z > 0 versus z <= 0)?"""
    theta = np.asarray(theta, dtype=np.float64)
    kinked = [a in ("relu", "leaky_relu") for a in model.activation_names]
    base = mlp_preactivations(model, theta, X)
    flags = np.zeros(len(coords), bool)
    for j, (c, h) in enumerate(zip(coords, steps)):
        for o in offsets:
            t = theta.copy()
            t[c] = theta[c] + o * h
            for z0, z1, k in zip(base, mlp_preactivations(model, t, X), kinked):
                if k and np.any((z0 > 0) != (z1 > 0)):
                    flags[j] = True
    return flags


def _naive_act_prime(name, z):
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0) * 1.0
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "softplus":
        return 1 / (1 + np.exp(-z))
    return np.ones_like(z)


def mlp_backprop(theta, X, y, sizes, activations, loss, l2=0.0, bias=True, masks=None):
    """∂J/∂θ of :func:`mlp_cost` (float64) by backprop written plainly in NumPy, from the definitions:
    δ_L = ∂J/∂a_L ⊙ act'(z_L), ∂J/∂W_l = a_{l−1}ᵀ·δ_l + l2·W_l, ∂J/∂b_l = Σ_b δ_l,
    δ_{l−1} = (δ_l·W_lᵀ) ⊙ mask ⊙ act'(z_{l−1})."""
    theta = np.asarray(theta, dtype=np.float64)
    L = len(sizes) - 1
    if isinstance(activations, str):
        activations = [activations] * L
    Ws, bs, pos = [], [], 0
    for l in range(L):
        Ws.append(theta[pos : pos + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1]))
        pos += sizes[l] * sizes[l + 1]
        if bias:
            bs.append(theta[pos : pos + sizes[l + 1]])
            pos += sizes[l + 1]
    acts, zs = [np.asarray(X, dtype=np.float64)], []
    for l in range(L):
        z = acts[-1] @ Ws[l] + (bs[l] if bias else 0.0)
        zs.append(z)
        a = _naive_act(activations[l], z)
        if masks is not None and l < L - 1:
            a = a * masks[l]
        acts.append(a)
    a, y = acts[-1], np.asarray(y, dtype=np.float64).reshape(acts[-1].shape)
    B, K = a.shape
    if loss == "sse":
        da = a - y
    elif loss == "mse":
        da = 2 * (a - y) / (B * K)
    elif loss == "bce":
        da = (1 / (1 + np.exp(-a)) - y) / (B * K)
    else:
        e = np.exp(a - a.max(axis=1, keepdims=True))
        da = (e / e.sum(axis=1, keepdims=True) * y.sum(axis=1, keepdims=True) - y) / B
    grads = [None] * L
    for l in range(L - 1, -1, -1):
        if masks is not None and l < L - 1:
            da = da * masks[l]
        dz = da * _naive_act_prime(activations[l], zs[l])
        grads[l] = (acts[l].T @ dz + l2 * Ws[l], dz.sum(axis=0))
        da = dz @ Ws[l].T
    parts = []
    for gW, gb in grads:
        parts.append(gW.ravel())
        if bias:
            parts.append(gb)
    return np.concatenate(parts)


def richardson_table(costs, disp, f0, mach, ratio, cost_noise=None, levels=3, rounding=2.0, tail_noise=True):
    """The Richardson table of :func:`fastcheck.verdicts.ladder.extrapolate` in plain NumPy, whole table at once
    (columns ``[−t_0, +t_0, −t_1, +t_1, …]``).  Returns the fields of ``Ladder`` as a dict.

    ``cost_noise``: per row, an absolute error of each cost beyond its rounding (added to the round-off);
    ``tail_noise=False``: a ladder cut short of its smallest rungs (see the noise estimate below).
    """
    minus, plus = costs[:, 0::2], costs[:, 1::2]
    dm, dp = disp[:, 0::2], disp[:, 1::2]  # dm < 0 < dp
    n, K = plus.shape
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        span = dp - dm
        central = (plus - minus) / span
        right = (plus - f0) / dp
        left = (f0 - minus) / (-dm)
        rnd = rounding * mach * (np.abs(plus) + np.abs(minus)) / span
    if cost_noise is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            rnd = rnd + 2.0 * np.asarray(cost_noise, np.float64)[:, None] / span
    rnd = np.where(np.isfinite(central), rnd, np.nan)
    # The bound above counts rounding of J itself; a cost that cancels inside (J small next
    # to its terms) rounds far more.  At the smallest rungs the once-extrapolated quotients
    # (t² removed, t⁴ left: nil there) differ by round-off alone, so |R¹_k − R¹_{k+1}|·t
    # measures the cost's absolute noise, which then bounds every rung's round-off from below.
    # A ladder cut short (tail_noise=False) may still carry truncation there: when the two readings fall
    # as truncation does (by more than ratio³, and not to an exact 0), the smaller one bounds the noise.
    if K >= 4:
        w = ratio**2
        with np.errstate(invalid="ignore"):
            r1 = (w * central[:, 1:] - central[:, :-1]) / (w - 1)
            tail = np.abs(r1[:, -3:-1] - r1[:, -2:]) * (0.5 * span[:, -2:])
        tail = np.where(np.isfinite(tail), tail, 0.0)
        noise_J = tail.max(axis=1)
        if not tail_noise:
            falling = (tail[:, 1] > 0) & (tail[:, 1] < tail[:, 0] / ratio**3)
            noise_J = np.where(falling, tail[:, 1], noise_J)
            # then the twice-extrapolated quotients of the last rungs (t⁴ removed too) bound it more tightly
            w2 = ratio**4
            with np.errstate(invalid="ignore"):
                r2 = (w2 * r1[:, -2:] - r1[:, -3:-1]) / (w2 - 1)
                tail2 = np.abs(r2[:, 0] - r2[:, 1]) * (0.5 * span[:, -1])
            use = falling & np.isfinite(tail2) & (tail2 > 0) & (tail2 < noise_J)
            noise_J = np.where(use, tail2, noise_J)
        with np.errstate(invalid="ignore", divide="ignore"):
            rnd = np.maximum(rnd, 2.0 * noise_J[:, None] / span)
    cands, errs, rnds = [], [], []
    level, level_rnd = central, rnd
    for lev in range(levels + 1):
        conv = ratio ** (2 * (lev + 1))  # how much more accurate the next entry is
        if level.shape[1] < 2:
            break
        with np.errstate(invalid="ignore"):
            step_diff = np.abs(level[:, :-1] - level[:, 1:])
            floor = np.full_like(step_diff, 0.0)
            floor[:, 1:] = step_diff[:, :-1] / conv
            # the next difference too: one chance crossing of two neighbours cannot fake a tiny error
            after = np.empty_like(step_diff)
            after[:, :-1] = step_diff[:, 1:]
            after[:, -1] = step_diff[:, -1]
            err = np.maximum(step_diff, floor) + level_rnd[:, :-1]
        cands.append(level[:, :-1])
        rnds.append(level_rnd[:, :-1])
        errs.append(np.where(np.isfinite(err), err, np.inf))
        if lev == levels:
            break
        w = ratio ** (2 * (lev + 1))
        level = (w * level[:, 1:] - level[:, :-1]) / (w - 1)
        level_rnd = (w * level_rnd[:, 1:] + level_rnd[:, :-1]) / (w - 1)
    cand = np.concatenate(cands, axis=1)
    errm = np.concatenate(errs, axis=1)
    # Prefer entries that know their own sign (error below half the value): at steps far
    # above the cost's length scale the quotients can look converged on a wrong value
    # (a saturated atan), with an error small in absolute terms only.
    with np.errstate(invalid="ignore"):
        sure = errm <= 0.5 * np.abs(cand)
    pick = np.where(sure.any(axis=1)[:, None] & ~sure, np.inf, errm)
    j = np.argmin(pick, axis=1)
    rows = np.arange(n)
    best, best_err = cand[rows, j], errm[rows, j]
    best_rnd = np.concatenate(rnds, axis=1)[rows, j]
    finite = np.isfinite(best_err)
    best_err = np.where(finite, best_err, np.nan)
    return dict(estimate=best, error=best_err, central=central, right=right, left=left, roundoff=rnd,
                steps=0.5 * span, finite=finite, rounding=best_rnd)


# -- second order (issue 25): dense Hessians written out, entry by entry ----------------------------
def dense_hessian_from_grad(grad, theta, h):
    """Column j is (grad(θ + h e_j) − grad(θ − h e_j)) / 2h, in a plain double loop (rows i, columns j)."""
    theta = np.array(theta, dtype=np.float64)
    n = len(theta)
    H = np.zeros((n, n))
    for j in range(n):
        plus, minus = theta.copy(), theta.copy()
        plus[j] += h
        minus[j] -= h
        gp, gm = np.asarray(grad(plus), np.float64), np.asarray(grad(minus), np.float64)
        for i in range(n):
            H[i, j] = (gp[i] - gm[i]) / (2 * h)
    return H


def dense_hessian_from_cost(f, theta, h):
    """H_ij = (f(θ+he_i+he_j) − f(θ+he_i−he_j) − f(θ−he_i+he_j) + f(θ−he_i−he_j)) / 4h², every pair in a double loop."""
    theta = np.array(theta, dtype=np.float64)
    n = len(theta)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            corners = 0.0
            for si, sj, w in ((1, 1, 1.0), (1, -1, -1.0), (-1, 1, -1.0), (-1, -1, 1.0)):
                t = theta.copy()
                t[i] += si * h
                t[j] += sj * h
                corners += w * f(t)
            H[i, j] = corners / (4 * h * h)
    return H


def dense_hvp(grad, theta, v, h):
    """(grad(θ + h v) − grad(θ − h v)) / 2h, component by component."""
    theta = np.array(theta, dtype=np.float64)
    gp = np.asarray(grad(theta + h * np.asarray(v)), np.float64)
    gm = np.asarray(grad(theta - h * np.asarray(v)), np.float64)
    return np.array([(gp[i] - gm[i]) / (2 * h) for i in range(len(gp))])


def dot_product_test(jvp, vjp, x, u, v):
    """⟨jvp(x, u), v⟩ and ⟨u, vjp(x, v)⟩ summed term by term."""
    ju, jtv = np.ravel(jvp(x, u)), np.ravel(vjp(x, v))
    return sum(a * b for a, b in zip(ju, np.ravel(v))), sum(a * b for a, b in zip(np.ravel(u), jtv))
