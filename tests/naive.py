"""Slow, obvious reference implementations that the fast paths are tested against."""
from __future__ import annotations

import numpy as np


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
