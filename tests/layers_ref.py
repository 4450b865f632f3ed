"""Layers written the way course assignments write them: ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads``, plain NumPy, naive loops where a course has them.

Written for fastcheck's tests.  ``BUGS`` plants one wrong gradient in each backward pass
(the block it breaks is the key's second part), so the tests can check that it is caught
and named.
"""
from __future__ import annotations

import numpy as np


# -- affine, ReLU -------------------------------------------------------------------------------------
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache, bug=None):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    if bug == "dw":
        dw = dw * 1.01
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache, bug=None):
    x = cache
    return dout * ((x >= 0) if bug == "x" else (x > 0)) * (1.02 if bug == "x" else 1.0)


# -- batch and layer normalisation ----------------------------------------------------------------------------
def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward(dout, cache, bug=None):
    xhat, gamma, var, eps = cache
    n = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var + eps))
    if bug == "x":  # forgets the mean's dependence on x
        dx = dxhat / np.sqrt(var + eps) - xhat * (dxhat * xhat).sum(axis=0) / (n * np.sqrt(var + eps))
    # a course's batchnorm returns (1, D) parameter gradients for (D,) parameters
    return dx, dgamma.reshape(1, -1), dbeta.reshape(1, -1)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def layernorm_backward(dout, cache, bug=None):
    xhat, gamma, var, eps = cache
    d = dout.shape[1]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (d * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (
        d * np.sqrt(var + eps))
    if bug == "gamma":
        dgamma = (dout * xhat).sum(axis=0) + 1e-2 * dbeta
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


# -- naive convolution and max pooling -------------------------------------------------------------------------
def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, ho, wo), dtype=np.result_type(x, w))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, :, r * stride:r * stride + hh, s * stride:s * stride + ww]
                    out[i, k, r, s] = np.sum(patch * w[k]) + b[k]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache, bug=None):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, f, ho, wo = dout.shape
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    sl = (slice(r * stride, r * stride + hh), slice(s * stride, s * stride + ww))
                    dw[k] += dout[i, k, r, s] * xp[i, :, sl[0], sl[1]]
                    dxp[i, :, sl[0], sl[1]] += dout[i, k, r, s] * w[k]
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    if bug == "b":
        db = db + 0.01 * np.abs(db).max()
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    ho, wo = 1 + (h - ph) // stride, 1 + (w - pw) // stride
    out = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for r in range(ho):
        for s in range(wo):
            out[:, :, r, s] = x[:, :, r * stride:r * stride + ph, s * stride:s * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache, bug=None):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for i in range(n):
        for j in range(c):
            for r in range(ho):
                for s in range(wo):
                    win = x[i, j, r * stride:r * stride + ph, s * stride:s * stride + pw]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    if bug == "x" and i == 0 and j == 0 and r == 0 and s == 0:
                        a, b = (a + 1) % ph, b  # routes one gradient to the wrong cell
                    dx[i, j, r * stride + a, s * stride + b] += dout[i, j, r, s]
    return dx


# -- dropout with a fixed mask -------------------------------------------------------------------------------
def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    mask = (np.random.default_rng(dropout_param["seed"]).random(x.shape) < p) / p
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache, bug=None):
    _, mask = cache
    return dout * (mask if bug != "x" else (mask > 0))  # bug: forgets the 1/p scaling


# -- recurrent steps ------------------------------------------------------------------------------------------
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache, bug=None):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    grads = {"dx": da @ Wx.T, "dprev_h": da @ Wh.T, "dWx": x.T @ da, "dWh": prev_h.T @ da, "db": da.sum(axis=0)}
    if bug == "Wh":
        grads["dWh"] = prev_h.T @ (dnext_h * (1 - next_h))  # a wrong tanh derivative, in one block only
    return grads


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    a = x @ Wx + prev_h @ Wh + b
    h = prev_h.shape[1]
    i, f, o, g = _sigmoid(a[:, :h]), _sigmoid(a[:, h:2 * h]), _sigmoid(a[:, 2 * h:3 * h]), np.tanh(a[:, 3 * h:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache, bug=None):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    t = np.tanh(next_c)
    dnext_c += dnext_h * o * (1 - t**2)  # in place, as course solutions often write it
    do = dnext_h * t
    di, df, dg = dnext_c * g, dnext_c * prev_c, dnext_c * i
    dprev_c = dnext_c * f
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)])
    dx, dprev_h = da @ Wx.T, da @ Wh.T
    dWx, dWh, db = x.T @ da, prev_h.T @ da, da.sum(axis=0)
    if bug == "prev_c":
        dprev_c = dnext_c * f * 1.01
    return dx, dprev_h, dprev_c, dWx, dWh, db


# -- the table: (forward, backward, inputs, args, bug: block it breaks) -----------------------------------------
def layer_cases(seed=0):
    rng = np.random.default_rng(seed)
    n, d, h = 4, 5, 3
    x_img = rng.standard_normal((2, 3, 5, 5))
    return {
        "affine": (affine_forward, affine_backward,
                   {"x": rng.standard_normal((n, 2, 3)), "w": rng.standard_normal((6, h)), "b": rng.standard_normal(h)},
                   (), "dw", "w"),
        "relu": (relu_forward, relu_backward, {"x": rng.standard_normal((n, d))}, (), "x", "x"),
        "batchnorm": (batchnorm_forward, batchnorm_backward,
                      {"x": 2 + 3 * rng.standard_normal((n, d)), "gamma": rng.standard_normal(d),
                       "beta": rng.standard_normal(d)}, ({"mode": "train"},), "x", "x"),
        "layernorm": (layernorm_forward, layernorm_backward,
                      {"x": rng.standard_normal((n, d)), "gamma": rng.standard_normal(d),
                       "beta": rng.standard_normal(d)}, ({"eps": 1e-5},), "gamma", "gamma"),
        "conv": (conv_forward_naive, conv_backward_naive,
                 {"x": x_img, "w": rng.standard_normal((2, 3, 3, 3)), "b": rng.standard_normal(2)},
                 ({"stride": 2, "pad": 1},), "b", "b"),
        "maxpool": (max_pool_forward_naive, max_pool_backward_naive, {"x": rng.standard_normal((2, 2, 4, 4))},
                    ({"pool_height": 2, "pool_width": 2, "stride": 2},), "x", "x"),
        "dropout": (dropout_forward, dropout_backward, {"x": rng.standard_normal((n, d))},
                    ({"p": 0.6, "seed": 3},), "x", "x"),
        "rnn": (rnn_step_forward, rnn_step_backward,
                {"x": rng.standard_normal((n, d)), "prev_h": rng.standard_normal((n, h)),
                 "Wx": rng.standard_normal((d, h)), "Wh": rng.standard_normal((h, h)), "b": rng.standard_normal(h)},
                (), "Wh", "Wh"),
        "lstm": (lstm_step_forward, lstm_step_backward,
                 {"x": rng.standard_normal((n, d)), "prev_h": rng.standard_normal((n, h)),
                  "prev_c": rng.standard_normal((n, h)), "Wx": rng.standard_normal((d, 4 * h)),
                  "Wh": rng.standard_normal((h, 4 * h)), "b": rng.standard_normal(4 * h)},
                 (), "prev_c", "prev_c"),
    }
