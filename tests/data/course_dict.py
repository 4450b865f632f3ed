"""A user's network in the dictionary style: make() returns (forward, backward, parameters, X, Y)."""
import numpy as np


def forward(X, Y, parameters):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = 1 / (1 + np.exp(-Z2))
    m = X.shape[1]
    cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
    return cost, (X, A1, A2, W2)


def backward(X, Y, cache):
    X, A1, A2, W2 = cache
    m = X.shape[1]
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    return {
        "dW2": dZ2 @ A1.T / m,
        "db2": dZ2.sum(axis=1, keepdims=True) / m,
        "dW1": dZ1 @ X.T / m,
        "db1": dZ1.sum(axis=1, keepdims=True) * 4 / m,  # the bug: a stray factor in db1
    }


def make():
    rng = np.random.default_rng(1)
    parameters = {
        "W1": rng.standard_normal((4, 3)),
        "b1": np.zeros((4, 1)),
        "W2": rng.standard_normal((1, 4)),
        "b2": np.zeros((1, 1)),
    }
    X = rng.standard_normal((3, 5))
    Y = (rng.random((1, 5)) > 0.5).astype(float)
    return forward, backward, parameters, X, Y
