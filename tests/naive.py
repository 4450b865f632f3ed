"""Slow, obvious reference implementations that the fast paths are tested against."""
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
    """The seeds' training data: hours of sleep/study, scaled by column max; test scores / 100."""
    X = np.array([[3, 5], [5, 1], [10, 2]], dtype=np.float64)
    y = np.array([[75], [82], [93]], dtype=np.float64)
    return X / np.amax(X, axis=0), y / 100


class SeedNetwork:
    """The seeds' 2-3-1 sigmoid network, written plainly in NumPy (object style).

    ``broken=True`` plants a wrong sigmoid derivative in the output layer.
    """

    def __init__(self, seed=0, broken=False):
        rng = np.random.default_rng(seed)
        self.W1 = rng.standard_normal((2, 3))
        self.W2 = rng.standard_normal((3, 1))
        self.broken = broken

    @staticmethod
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_prime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def forward(self, X):
        self.z2 = X @ self.W1
        self.a2 = self.sigmoid(self.z2)
        self.z3 = self.a2 @ self.W2
        return self.sigmoid(self.z3)

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * np.sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        self.yHat = self.forward(X)
        d3 = self.sigmoid(self.z3) if self.broken else self.sigmoid_prime(self.z3)
        delta3 = -(y - self.yHat) * d3
        dJdW2 = self.a2.T @ delta3
        delta2 = (delta3 @ self.W2.T) * self.sigmoid_prime(self.z2)
        dJdW1 = X.T @ delta2
        return dJdW1, dJdW2

    def getParams(self):
        return np.concatenate((self.W1.ravel(), self.W2.ravel()))

    def setParams(self, params):
        self.W1 = np.reshape(params[:6], (2, 3))
        self.W2 = np.reshape(params[6:9], (3, 1))

    def computeGradients(self, X, y):
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return np.concatenate((dJdW1.ravel(), dJdW2.ravel()))

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
