"""Networks as users write them by hand, in plain NumPy (for the pool, sequential
and benchmark code): an object-style sigmoid network with the tutorial's
numerical-gradient loop, and a small convolutional network written as stages
with naive loops for the convolution and the pooling, as a course writes it.
"""
from __future__ import annotations

import numpy as np

from tests.naive import TutorialNetwork, tutorial_numerical_gradient


# -- the object style of *Neural Networks Demystified* ------------------------------------
class ObjectNet(TutorialNetwork):
    """A sizes[0]-sizes[1]-sizes[2] sigmoid network, squared-error cost, weights scaled by √fan-in."""

    def __init__(self, sizes=(100, 120, 10), seed=0):
        super().__init__(sizes, seed=seed, scaled=True)


def object_data(sizes=(100, 120, 10), batch=20, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, sizes[0])), rng.random((batch, sizes[2]))


def computeNumericalGradient(N, X, y):  # noqa: N802 - the tutorial's name
    """The tutorial's loop: perturb one parameter at a time by ±1e-4."""
    return tutorial_numerical_gradient(N, X, y)


# -- a small convolutional network as stages ------------------------------------------------
def conv_forward_naive(x, w, b):
    """3×3 (any odd size) convolution, stride 1, zero padding to keep the size; loops as a course writes them."""
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    p = HH // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.empty((N, F, H, W), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(H):
                for j in range(W):
                    out[n, f, i, j] = np.sum(xp[n, :, i : i + HH, j : j + WW] * w[f]) + b[f]
    return out


def conv_backward_naive(dout, x, w):
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    p = HH // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H):
                for j in range(W):
                    dw[f] += dout[n, f, i, j] * xp[n, :, i : i + HH, j : j + WW]
    return dw, db


def relu(a):
    return np.maximum(a, 0.0)


def max_pool_naive(a):
    """2×2 max pooling, stride 2."""
    N, C, H, W = a.shape
    out = np.empty((N, C, H // 2, W // 2), dtype=a.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H // 2):
                for j in range(W // 2):
                    out[n, c, i, j] = np.max(a[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2])
    return out


def max_pool_backward_naive(dout, a):
    N, C, H, W = a.shape
    da = np.zeros_like(a)
    for n in range(N):
        for c in range(C):
            for i in range(H // 2):
                for j in range(W // 2):
                    win = a[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                    k = np.unravel_index(np.argmax(win), win.shape)
                    da[n, c, 2 * i + k[0], 2 * j + k[1]] += dout[n, c, i, j]
    return da


def affine(a, W, b):
    return a.reshape(a.shape[0], -1) @ W + b


def softmax_loss(labels):
    """The last stage: mean cross-entropy of the scores against ``labels``."""

    def loss(scores):
        shifted = scores - scores.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        return -np.mean(logp[np.arange(len(labels)), labels])

    return loss


def conv_net(batch=2, channels=1, size=8, filters=3, hidden=12, classes=5, seed=0):
    """``(stages, params, x, grads)`` of conv-relu-pool-affine-relu-affine-softmax."""
    rng = np.random.default_rng(seed)
    pooled = filters * (size // 2) ** 2
    params = {
        "W1": rng.standard_normal((filters, channels, 3, 3)) * 0.5,
        "b1": rng.standard_normal(filters) * 0.1,
        "W2": rng.standard_normal((pooled, hidden)) / np.sqrt(pooled),
        "b2": rng.standard_normal(hidden) * 0.1,
        "W3": rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
        "b3": rng.standard_normal(classes) * 0.1,
    }
    x = rng.standard_normal((batch, channels, size, size))
    labels = rng.integers(0, classes, batch)
    stages = [
        (conv_forward_naive, ("W1", "b1")),
        (relu, ()),
        (max_pool_naive, ()),
        (affine, ("W2", "b2")),
        (relu, ()),
        (affine, ("W3", "b3")),
        (softmax_loss(labels), ()),
    ]

    def grads(p, x):
        c = conv_forward_naive(x, p["W1"], p["b1"])
        r = relu(c)
        m = max_pool_naive(r)
        h = affine(m, p["W2"], p["b2"])
        hr = relu(h)
        s = affine(hr, p["W3"], p["b3"])
        e = np.exp(s - s.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        prob[np.arange(len(labels)), labels] -= 1
        ds = prob / len(labels)
        dW3, db3 = hr.T @ ds, ds.sum(axis=0)
        dh = (ds @ p["W3"].T) * (h > 0)
        mflat = m.reshape(len(m), -1)
        dW2, db2 = mflat.T @ dh, dh.sum(axis=0)
        dm = (dh @ p["W2"].T).reshape(m.shape)
        dc = max_pool_backward_naive(dm, r) * (c > 0)
        dW1, db1 = conv_backward_naive(dc, x, p["W1"])
        return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}

    return stages, params, x, grads


# -- the same convolutional network as a list of layer objects (a from-scratch layer framework) -----------
class ConvLayer:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, a):
        self.a = a
        return conv_forward_naive(a, self.W, self.b)

    def backward(self, d):
        self.dW, self.db = conv_backward_naive(d, self.a, self.W)
        # the first layer: no gradient for its input (None)


class ReluLayer:
    def forward(self, a):
        self.mask = a > 0
        return relu(a)

    def backward(self, d):
        return d * self.mask


class PoolLayer:
    def forward(self, a):
        self.a = a
        return max_pool_naive(a)

    def backward(self, d):
        return max_pool_backward_naive(d, self.a)


class AffineLayer:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, a):
        self.shape = a.shape
        self.a2 = a.reshape(a.shape[0], -1)
        return self.a2 @ self.W + self.b

    def backward(self, d):
        self.dW, self.db = self.a2.T @ d, d.sum(axis=0)
        return (d @ self.W.T).reshape(self.shape)


class LayerListNet:
    """conv-relu-pool-affine-relu-affine-softmax as ``self.layers``, the arrays shared with ``self.params``
    (the params-dict style: ``loss(X, y) -> (loss, grads)``)."""

    def __init__(self, batch=2, channels=1, size=8, filters=3, hidden=12, classes=5, seed=0, bug=None):
        _, self.params, self.x, _ = conv_net(batch, channels, size, filters, hidden, classes, seed)
        self.labels = np.random.default_rng(seed + 1).integers(0, classes, batch)
        p = self.params
        self.layers = [ConvLayer(p["W1"], p["b1"]), ReluLayer(), PoolLayer(), AffineLayer(p["W2"], p["b2"]),
                       ReluLayer(), AffineLayer(p["W3"], p["b3"])]
        self.names = {0: ("W1", "b1"), 3: ("W2", "b2"), 5: ("W3", "b3")}
        self.bug, self.reg = bug, 0.05

    def loss(self, X, y):
        a = X
        for layer in self.layers:
            a = layer.forward(a)
        shifted = a - a.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        loss = -np.mean(logp[np.arange(len(y)), y])
        # a weight penalty read from the params dict: every parameter, whichever layers ran
        loss += 0.5 * self.reg * sum(float(np.sum(self.params[k] ** 2)) for k in ("W1", "W2", "W3"))
        d = np.exp(logp)
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        grads = {}
        for layer in reversed(self.layers):
            d = layer.backward(d)
            if hasattr(layer, "W"):
                grads[self._name(layer, "W")] = layer.dW + self.reg * layer.W
                grads[self._name(layer, "b")] = layer.db
            if d is None:
                break
        if self.bug in grads:
            grads[self.bug] = grads[self.bug] * 1.01
        return loss, grads

    def _name(self, layer, attr):
        return next(k for k, v in self.params.items() if v is getattr(layer, attr))
