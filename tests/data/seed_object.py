"""A user's network in the seeds' object style; make() returns (net, X, y)."""
import numpy as np


class Neural_Network:
    def __init__(self, broken=False):
        rng = np.random.default_rng(0)
        self.W1 = rng.standard_normal((2, 3))
        self.W2 = rng.standard_normal((3, 1))
        self.broken = broken

    def forward(self, X):
        self.z2 = X @ self.W1
        self.a2 = 1 / (1 + np.exp(-self.z2))
        self.z3 = self.a2 @ self.W2
        return 1 / (1 + np.exp(-self.z3))

    def sigmoidPrime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        self.yHat = self.forward(X)
        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)
        d2 = self.z2 if self.broken else self.sigmoidPrime(self.z2)  # the bug: z instead of σ'(z)
        delta2 = np.dot(delta3, self.W2.T) * d2
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2

    def getParams(self):
        return np.concatenate((self.W1.ravel(), self.W2.ravel()))

    def setParams(self, params):
        self.W1 = np.reshape(params[0:6], (2, 3))
        self.W2 = np.reshape(params[6:9], (3, 1))

    def computeGradients(self, X, y):
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return np.concatenate((dJdW1.ravel(), dJdW2.ravel()))


def data():
    X = np.array(([3, 5], [5, 1], [10, 2]), dtype=float)
    y = np.array(([75], [82], [93]), dtype=float)
    return X / np.amax(X, axis=0), y / 100


def make():
    return (Neural_Network(), *data())


def make_broken():
    return (Neural_Network(broken=True), *data())


def make_nan():
    X, y = data()
    X[0, 0] = np.nan
    return Neural_Network(), X, y


def make_nonsense():
    return ("not", "a", "network", "at", "all", "!")
