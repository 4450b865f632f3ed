"""Layer objects in the styles of from-scratch frameworks (written afresh for the tests)."""
import numpy as np


class Dense:
    """Parameters and gradients in dicts; backward accumulates with += (an optimiser flushes)."""

    def __init__(self, n_in, n_out, seed=0, bug=None):
        rng = np.random.default_rng(seed)
        self.parameters = {"W": rng.normal(size=(n_in, n_out)) / np.sqrt(n_in), "b": rng.normal(size=n_out) * 0.1}
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}
        self.bug = bug

    def forward(self, X):
        self.X = X
        return X @ self.parameters["W"] + self.parameters["b"]

    def backward(self, dY):
        self.gradients["W"] += self.X.T @ dY
        self.gradients["b"] += dY.sum(axis=0) if self.bug != "b" else dY.mean(axis=0)
        return dY @ self.parameters["W"].T

    def flush_gradients(self):
        for g in self.gradients.values():
            g[...] = 0


class Tanh:
    def forward(self, X):
        self.Y = np.tanh(X)
        return self.Y

    def backward(self, dY):
        return dY * (1 - self.Y**2)


class AttrDense:
    """Parameters as attributes, gradients assigned to dW/db (and a cached dX, which is not a parameter)."""

    def __init__(self, n_in, n_out, seed=1, bug=None):
        rng = np.random.default_rng(seed)
        self.W = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        self.b = np.zeros((n_out, 1)) + 0.1
        self.bug = bug

    def forward(self, X):
        self.X = X
        return (self.W @ X.T + self.b).T

    def backward(self, dY):
        self.dW = dY.T @ self.X
        self.db = dY.sum(axis=0)[:, None]
        self.dX = dY @ (self.W if self.bug != "X" else self.W * 0.9)
        return self.dX


class DiffDense:
    """The from-scratch LSTM style: ``*_diff`` accumulators that live from construction on."""

    def __init__(self, n_in, n_out, seed=2):
        rng = np.random.default_rng(seed)
        self.wg = rng.normal(size=(n_out, n_in)) * 0.5
        self.bg = rng.normal(size=n_out) * 0.1
        self.wg_diff, self.bg_diff = np.zeros_like(self.wg), np.zeros_like(self.bg)

    def forward(self, X):
        self.X = X
        self.g = np.tanh(X @ self.wg.T + self.bg)
        return self.g

    def backward(self, dY):
        dz = dY * (1 - self.g**2)
        self.wg_diff += dz.T @ self.X
        self.bg_diff += dz.sum(0)
        return dz @ self.wg


class MSE:
    def forward(self, pred, y):
        self.diff = pred - y
        return 0.5 * float(np.sum(self.diff**2)) / len(y)

    def backward(self):
        return self.diff / len(self.diff)


class Sequential:
    def __init__(self, layers, loss):
        self.layers, self.loss = layers, loss
