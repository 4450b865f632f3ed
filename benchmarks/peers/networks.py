"""The networks of the peer comparison: the problems, a NumPy network in the style of *Neural Networks
Demystified* generalised to any widths and biases, its gradient-checking loop, and a torch port."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

#: Problems by name: ``None`` is the tutorial's own network and data, a tuple the
#: widths of an MLP with sigmoid units and biases on a random batch.
PROBLEMS = {
    "seed 2-3-1": None,
    "64-32-10": (64, 32, 10),
    "256-64-10": (256, 64, 10),
    "784-128-10": (784, 128, 10),
}


# -- problems -------------------------------------------------------------------
@dataclass
class Problem:
    """One network, its parameters, a batch, and the analytic gradient."""

    name: str
    model: object
    theta: np.ndarray
    X: np.ndarray
    y: np.ndarray
    grad: np.ndarray = field(repr=False)

    @property
    def n_params(self) -> int:
        return int(self.theta.shape[0])

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])


def make_problem(name: str, batch: int = 64, seed: int = 0) -> Problem:
    """Build the problem ``name`` (see :data:`PROBLEMS`).

    The tutorial's problem keeps its own three-sample data set; the MLPs get a
    random batch of ``batch`` samples and θ from ``model.init(seed)``.
    """
    from fastcheck import models

    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {list(PROBLEMS)}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    sizes = PROBLEMS[name]
    if sizes is None:
        model, theta, X, y = models.tutorial_network(seed)
    else:
        model = models.MLP(list(sizes), activations="sigmoid", loss="sse")
        theta = model.init(seed)
        X, y = model.sample_data(int(batch), seed=seed)
    return Problem(name, model, theta, X, y, model.grad(theta, X, y))


def _sigmoid_sse(model) -> None:
    """The peers re-implement only sigmoid units with the tutorial's cost."""
    acts = set(model.activation_names)
    if acts != {"sigmoid"} or model.loss != "sse" or model.l2 != 0 or model.keep_prob != 1:
        raise ValueError(
            f"the peer networks implement sigmoid units with the 'sse' loss and no l2/dropout only, got {model!r}"
        )


# -- the tutorial's network and loop ---------------------------------------------------
class TutorialNetwork:
    """The tutorial's ``Neural_Network``, generalised to any widths and to biases.

    Same conventions as the tutorial and as :class:`fastcheck.models.MLP`:
    row-major, ``z = a·W + b``, sigmoid units, cost ``J = ½·Σ(y − ŷ)²``, and
    ``getParams`` concatenating ``W1, b1, W2, b2, …`` each raveled in C order.
    (The tutorial write ``0.5*sum(...)``, which is a vector for several
    outputs; ``np.sum`` keeps J a scalar.)
    """

    def __init__(self, sizes, bias: bool = True):
        self.sizes = tuple(int(s) for s in sizes)
        self.bias = bool(bias)
        self.W = [np.zeros((a, b)) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        self.b = [np.zeros(b) for b in self.sizes[1:]] if self.bias else []

    @classmethod
    def like(cls, model) -> "TutorialNetwork":
        """The network computing the same cost as a sigmoid/sse ``MLP``."""
        _sigmoid_sse(model)
        return cls(model.sizes, bias=model.bias)

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoidPrime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def forward(self, X):
        self.z, self.a = [], [X]
        a = X
        for l, W in enumerate(self.W):
            z = np.dot(a, W)
            if self.bias:
                z = z + self.b[l]
            a = self.sigmoid(z)
            self.z.append(z)
            self.a.append(a)
        return a

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * np.sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        """Backprop: δ_L = −(y − ŷ)·σ'(z_L), δ_l = (δ_{l+1}·W_{l+1}ᵀ)·σ'(z_l)."""
        self.yHat = self.forward(X)
        delta = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z[-1]))
        dW, db = [None] * len(self.W), [None] * len(self.W)
        for l in range(len(self.W) - 1, -1, -1):
            dW[l] = np.dot(self.a[l].T, delta)
            db[l] = delta.sum(axis=0)
            if l:
                delta = np.dot(delta, self.W[l].T) * self.sigmoidPrime(self.z[l - 1])
        return dW, db

    def getParams(self):
        parts = []
        for l, W in enumerate(self.W):
            parts.append(W.ravel())
            if self.bias:
                parts.append(self.b[l].ravel())
        return np.concatenate(parts)

    def setParams(self, params):
        start = 0
        for l, W in enumerate(self.W):
            end = start + W.size
            self.W[l] = np.reshape(params[start:end], W.shape)
            start = end
            if self.bias:
                end = start + self.b[l].size
                self.b[l] = np.reshape(params[start:end], self.b[l].shape)
                start = end

    def computeGradients(self, X, y):
        dW, db = self.costFunctionPrime(X, y)
        parts = []
        for l in range(len(dW)):
            parts.append(dW[l].ravel())
            if self.bias:
                parts.append(db[l].ravel())
        return np.concatenate(parts)

    def cost(self, params, X, y) -> float:
        """J at ``params`` (sets them first)."""
        self.setParams(params)
        return float(self.costFunction(X, y))


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


# -- torch --------------------------------------------------------------------------
def torch_available() -> bool:
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def torch_cost(model, X, y):
    """``f(theta_tensor) -> J`` in float64 torch, the same function as ``model.cost``."""
    import torch

    _sigmoid_sse(model)
    Xt = torch.as_tensor(np.asarray(X, np.float64))
    Yt = torch.as_tensor(np.asarray(y, np.float64).reshape(X.shape[0], -1))
    lay = model.layout
    blocks = [(lay.offsets[i], lay.offsets[i + 1], lay.shapes[i]) for i in range(len(lay.names))]

    def f(theta):
        a = Xt
        i = 0
        while i < len(blocks):
            lo, hi, shape = blocks[i]
            z = a @ theta[lo:hi].reshape(shape)
            i += 1
            if model.bias:
                lo, hi, _ = blocks[i]
                z = z + theta[lo:hi]
                i += 1
            a = torch.sigmoid(z)
        return 0.5 * ((Yt - a) ** 2).sum()

    return f
