"""The plain-NumPy costs of the screening benchmark, and the bugs planted in their gradients.

NumPy only (no fastcheck), so that the torch side-by-side can import it in a
separate environment.  A two-layer network, sigmoid hidden units, linear
outputs, mean squared error over a batch: θ = [W1 (d×h), b1 (h), W2 (h×o),
b2 (o)], four blocks; ``SIZES`` picks d, h, o so that n = 10⁴, 10⁵, 10⁶.
"""
from __future__ import annotations

import numpy as np

#: n -> (d, h, o, batch): the input width, hidden width, outputs and batch size.
SIZES = {
    10_000: (96, 96, 8, 16),
    100_000: (316, 300, 16, 16),
    1_000_000: (1000, 980, 20, 16),
}

BLOCKS = ("W1", "b1", "W2", "b2")


class Net:
    """The network and its data; ``cost(theta)`` and ``grad(theta)`` (the correct backprop)."""

    def __init__(self, n: int, seed: int = 0):
        d, h, o, batch = SIZES[n]
        rng = np.random.default_rng(seed)
        self.shapes = {"W1": (d, h), "b1": (h,), "W2": (h, o), "b2": (o,)}
        self.X = rng.standard_normal((batch, d))
        self.Y = rng.standard_normal((batch, o))
        self.theta = np.concatenate([
            (rng.standard_normal((d, h)) / np.sqrt(d)).ravel(), 0.1 * rng.standard_normal(h),
            (rng.standard_normal((h, o)) / np.sqrt(h)).ravel(), 0.1 * rng.standard_normal(o)])
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.n = int(self.offsets[-1])

    def unpack(self, theta):
        out, a = {}, 0
        for name, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[name] = theta[a : a + size].reshape(shape)
            a += size
        return out

    def cost(self, theta) -> float:
        p = self.unpack(theta)
        a1 = 1.0 / (1.0 + np.exp(-(self.X @ p["W1"] + p["b1"])))
        r = a1 @ p["W2"] + p["b2"] - self.Y
        return 0.5 * float(np.sum(r * r)) / len(self.X)

    def grad_blocks(self, theta) -> dict:
        p = self.unpack(theta)
        a1 = 1.0 / (1.0 + np.exp(-(self.X @ p["W1"] + p["b1"])))
        r = (a1 @ p["W2"] + p["b2"] - self.Y) / len(self.X)
        d1 = (r @ p["W2"].T) * a1 * (1.0 - a1)
        return {"W1": self.X.T @ d1, "b1": d1.sum(axis=0), "W2": a1.T @ r, "b2": r.sum(axis=0)}

    def grad(self, theta) -> np.ndarray:
        return np.concatenate([v.ravel() for v in self.grad_blocks(theta).values()])

    def block(self, name: str) -> slice:
        b = BLOCKS.index(name)
        return slice(int(self.offsets[b]), int(self.offsets[b + 1]))


#: The planted bugs: name -> description.
BUGS = {
    "correct": "the correct gradient",
    "one x1.01": "one coordinate of W1 ×1.01 (drawn at random among the block's larger half of |g|)",
    "ten scattered": "ten coordinates ×1.01, drawn across θ at random (among each block's larger half of |g|)",
    "block x1.001": "the whole of W2 ×1.001",
    "transposed": "W2's gradient computed transposed: (dW2)ᵀ flattened into W2's place",
}


def _larger_half(g, rng, k):
    """``k`` indices drawn at random among the entries of ``g`` with |g| above its median."""
    big = np.flatnonzero(np.abs(g) >= np.median(np.abs(g)))
    return np.sort(rng.choice(big, size=k, replace=False))


def planted(net: Net, bug: str, seed: int = 0):
    """``(gradient vector, wrong flat coordinates)`` of a bug of :data:`BUGS` at ``net.theta``."""
    rng = np.random.default_rng(1000 + seed)
    blocks = net.grad_blocks(net.theta)
    g = np.concatenate([v.ravel() for v in blocks.values()])
    if bug == "correct":
        return g, np.zeros(0, np.int64)
    if bug == "one x1.01":
        s = net.block("W1")
        wrong = s.start + _larger_half(g[s], rng, 1)
    elif bug == "ten scattered":
        share = {"W1": 7, "b1": 1, "W2": 1, "b2": 1}
        wrong = np.sort(np.concatenate([net.block(b).start + _larger_half(g[net.block(b)], rng, k)
                                        for b, k in share.items()]))
    elif bug == "block x1.001":
        s = net.block("W2")
        g = g.copy()
        g[s] *= 1.001
        return g, np.arange(s.start, s.stop)
    elif bug == "transposed":
        s = net.block("W2")
        g = g.copy()
        g[s] = blocks["W2"].T.ravel()
        return g, s.start + np.flatnonzero(g[s] != blocks["W2"].ravel())
    else:
        raise KeyError(bug)
    g = g.copy()
    g[wrong] *= 1.01
    return g, wrong.astype(np.int64)
