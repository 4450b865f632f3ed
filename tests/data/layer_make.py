"""make() returning a layer, and a plain cost with a layout naming its blocks."""
import numpy as np


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_backward_bug(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw, 0.9 * db


def _inputs():
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 2)), "b": rng.standard_normal(2)}


def make():
    return affine_forward, affine_backward, _inputs()


def make_bug():
    return affine_forward, affine_backward_bug, _inputs()


def scale_forward(x, factor):
    return factor * x, factor


def scale_backward(dout, factor):
    return factor * dout


def make_with_args():
    return scale_forward, scale_backward, {"x": np.linspace(-1, 1, 5)}, (3.0,)


def quadratic(theta):
    return float(np.sum(theta[:4] ** 2) + 3 * np.sum(theta[4:]))


def quadratic_grad(theta):
    g = np.empty_like(theta)
    g[:4] = 2 * theta[:4]
    g[4:] = 3.0
    g[5] = 2.9  # bug in the bias block
    return g


def make_named():
    return quadratic, np.linspace(-1, 1, 6), quadratic_grad, {"W": (2, 2), "bias": 2}
