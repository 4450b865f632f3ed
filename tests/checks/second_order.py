"""Smooth costs with closed-form gradients and Hessians, for the second-order checks (issue 25).

Each problem is ``(cost, grad, hess, theta, layout)``; the Hessians are
written out by hand from the formulas (not from fastcheck), so a check that
passes on them has been compared with an independent answer.
"""
from __future__ import annotations

import numpy as np


class Quadratic:
    """J = ½ θᵀAθ + bᵀθ with A symmetric positive definite; H = A."""

    def __init__(self, n=12, seed=0):
        rng = np.random.default_rng(seed)
        M = rng.standard_normal((n, n))
        self.A = M @ M.T / n + np.eye(n)
        self.b = rng.standard_normal(n)
        self.theta = rng.standard_normal(n)

    def cost(self, t):
        return float(0.5 * t @ self.A @ t + self.b @ t)

    def grad(self, t):
        return self.A @ t + self.b

    def hess(self, t):
        return self.A.copy()

    def hvp(self, t, v):
        return self.A @ v


class LogSumExp:
    """J = log Σ exp(Mθ) − yᵀMθ (softmax regression on one sample set); H = Mᵀ(diag p − ppᵀ)M."""

    def __init__(self, n=10, m=7, seed=1):
        rng = np.random.default_rng(seed)
        self.M = rng.standard_normal((m, n)) * 0.7
        self.y = rng.dirichlet(np.ones(m))
        self.theta = rng.standard_normal(n) * 0.5

    def _p(self, t):
        z = self.M @ t
        e = np.exp(z - z.max())
        return e / e.sum(), z

    def cost(self, t):
        z = self.M @ t
        c = z.max()
        return float(c + np.log(np.sum(np.exp(z - c))) - self.y @ z)

    def grad(self, t):
        p, _ = self._p(t)
        return self.M.T @ (p - self.y)

    def hess(self, t):
        p, _ = self._p(t)
        return self.M.T @ (np.diag(p) - np.outer(p, p)) @ self.M

    def hvp(self, t, v):
        p, _ = self._p(t)
        w = self.M @ v
        return self.M.T @ (p * w - p * (p @ w))


class Rosenbrock:
    """The extended Rosenbrock function Σ 100(θ_{i+1} − θ_i²)² + (1 − θ_i)²; tridiagonal H."""

    def __init__(self, n=10, seed=2):
        rng = np.random.default_rng(seed)
        self.theta = 1.0 + 0.3 * rng.standard_normal(n)

    @staticmethod
    def cost(t):
        return float(np.sum(100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2))

    @staticmethod
    def grad(t):
        g = np.zeros_like(t)
        d = t[1:] - t[:-1] ** 2
        g[:-1] += -400.0 * t[:-1] * d - 2.0 * (1.0 - t[:-1])
        g[1:] += 200.0 * d
        return g

    @staticmethod
    def hess(t):
        n = len(t)
        H = np.zeros((n, n))
        for i in range(n - 1):
            H[i, i] += 1200.0 * t[i] ** 2 - 400.0 * t[i + 1] + 2.0
            H[i + 1, i + 1] += 200.0
            H[i, i + 1] += -400.0 * t[i]
            H[i + 1, i] += -400.0 * t[i]
        return H


class MLP:
    """J = ½ Σ_n (tanh(x_n W1 + b1) W2 − y_n)², blocks W1 (d, k), b1 (k,), W2 (k,); H = Σ ∇r∇rᵀ + r∇²r by hand."""

    def __init__(self, d=3, k=4, m=5, seed=3):
        rng = np.random.default_rng(seed)
        self.d, self.k = d, k
        self.X = rng.standard_normal((m, d))
        self.y = rng.standard_normal(m)
        self.theta = rng.standard_normal(d * k + 2 * k) * 0.6
        self.layout = {"W1": np.zeros((d, k)), "b1": np.zeros(k), "W2": np.zeros(k)}

    def unpack(self, t):
        d, k = self.d, self.k
        return t[: d * k].reshape(d, k), t[d * k : d * k + k], t[d * k + k :]

    def _forward(self, t):
        W1, b1, W2 = self.unpack(t)
        a = np.tanh(self.X @ W1 + b1)
        r = a @ W2 - self.y
        return W1, b1, W2, a, r

    def cost(self, t):
        *_, r = self._forward(t)
        return float(0.5 * r @ r)

    def grad(self, t):
        _, _, W2, a, r = self._forward(t)
        s = 1 - a**2
        dz = (r[:, None] * W2[None, :]) * s
        return np.concatenate([(self.X.T @ dz).ravel(), dz.sum(axis=0), a.T @ r])

    def _indices(self):
        d, k = self.d, self.k
        iW1 = lambda i, j: i * k + j
        ib1 = lambda j: d * k + j
        iW2 = lambda j: d * k + k + j
        return iW1, ib1, iW2

    def hess(self, t):
        _, _, W2, a, r = self._forward(t)
        d, k = self.d, self.k
        s = 1 - a**2
        s2 = -2 * a * s  # tanh''
        iW1, ib1, iW2 = self._indices()
        n = len(t)
        H = np.zeros((n, n))
        for row in range(len(r)):
            x = self.X[row]
            jr = np.zeros(n)  # ∇r_n
            for j in range(k):
                jr[iW2(j)] = a[row, j]
                jr[ib1(j)] = W2[j] * s[row, j]
                for i in range(d):
                    jr[iW1(i, j)] = W2[j] * s[row, j] * x[i]
            H += np.outer(jr, jr)
            second = np.zeros((n, n))  # ∇²r_n
            for j in range(k):
                # W2_j with W1_ij and b1_j
                second[iW2(j), ib1(j)] = second[ib1(j), iW2(j)] = s[row, j]
                for i in range(d):
                    second[iW2(j), iW1(i, j)] = second[iW1(i, j), iW2(j)] = s[row, j] * x[i]
                second[ib1(j), ib1(j)] = W2[j] * s2[row, j]
                for i in range(d):
                    second[iW1(i, j), ib1(j)] = second[ib1(j), iW1(i, j)] = W2[j] * s2[row, j] * x[i]
                    for i2 in range(d):
                        second[iW1(i, j), iW1(i2, j)] = W2[j] * s2[row, j] * x[i] * x[i2]
            H += r[row] * second
        return H


def problems():
    """``name -> problem`` of every closed-form problem."""
    return {"quadratic": Quadratic(), "logsumexp": LogSumExp(), "rosenbrock": Rosenbrock(), "mlp": MLP()}
