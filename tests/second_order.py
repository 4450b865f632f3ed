"""A NumPy cost with a closed-form gradient and Hessian for the second-order checks' tests and benchmark, and
the comparison of two entry-by-entry results."""
import numpy as np
import pandas as pd


class Pairwise:
    """J = Σ_edges w·log cosh(θ_i − θ_j) over a random graph: a sparse Hessian (most entries exactly 0), a
    gradient of elementwise work on cache-sized arrays.  ``edges`` sets the work of one gradient."""

    def __init__(self, n=2000, edges=64000, seed=0):
        rng = np.random.default_rng(seed)
        self.i = rng.integers(0, n, edges)
        self.j = (self.i + rng.integers(1, n, edges)) % n
        self.w = rng.random(edges) + 0.5
        self.n = n
        self.theta = rng.standard_normal(n)

    def cost(self, t):
        d = np.abs(t[self.i] - t[self.j])
        return float(np.sum(self.w * (d + np.log1p(np.exp(-2 * d)) - np.log(2))))  # log cosh, overflow-free

    def grad(self, t):
        s = self.w * np.tanh(t[self.i] - t[self.j])
        return np.bincount(self.i, s, self.n) - np.bincount(self.j, s, self.n)

    def hess(self, t):
        s = self.w / np.cosh(t[self.i] - t[self.j]) ** 2
        H = np.zeros((self.n, self.n))
        for a, b, v in zip(self.i, self.j, s):  # written out entry by entry
            H[a, a] += v
            H[b, b] += v
            H[a, b] -= v
            H[b, a] -= v
        return H


def assert_same_entries(a, b):
    """Two :class:`fastcheck.EntriesResult` are the same bit for bit: every entry, the block table, the verdict."""
    for f in ("numerical", "estimate", "error", "status_code", "analytic", "rows", "cols", "direction_blocks"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    pd.testing.assert_frame_equal(a.blocks, b.blocks, check_exact=True)
    assert (a.verdict, a.difference, a.n_evals, a.n_refined, a.notes) == (b.verdict, b.difference, b.n_evals,
                                                                           b.n_refined, b.notes)
