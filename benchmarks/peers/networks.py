"""The networks of the peer comparison: the problems, the tests' tutorial network in the style of *Neural
Networks Demystified* (generalised to any widths and biases), its gradient-checking loop, and a torch port."""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
# The one tutorial network of the tests and benchmarks: the tutorial's ``Neural_Network``,
# generalised to any widths and biases, and its ``computeNumericalGradient`` loop.
_ROOT = Path(__file__).resolve().parents[2]  # the repository, for tests.naive (benchmarks run as scripts too)
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
from tests.naive import TutorialNetwork, tutorial_numerical_gradient  # noqa: E402, F401 - re-exported


def network_like(model) -> TutorialNetwork:
    """The tutorial network computing the same cost as a sigmoid/sse ``MLP``
    (same conventions: row-major, ``z = a·W + b``, ``getParams`` concatenating
    ``W1, b1, W2, b2, …`` each raveled in C order)."""
    _sigmoid_sse(model)
    return TutorialNetwork(model.sizes, bias=model.bias)


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
