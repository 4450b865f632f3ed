"""Speed of the zero-glue style calls against each style's own checker (issue 24).

Three of the styles in the README's "Styles fastcheck recognises", each written afresh in the manner of
public code, at a size where one check takes a fraction of a second; the "own checker" is the classic
central-difference loop over every coordinate that such code ships with (``gradcheck_naive``-style, step
1e-5).  Per style: the own checker, fastcheck serially (``workers=1``), with the default settings
(``workers="auto"``), and the first call in a fresh process (``--first``, run as a subprocess).

    python benchmarks/bench_styles.py --repeat 3 > reports/user-code/styles.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastcheck as fc  # noqa: E402
from tests.inputs import layer_zoo  # noqa: E402


def naive(f, x, h=1e-5):
    """The loop such code ships with: f(x) -> (loss, grad); central differences at every entry."""
    fx, grad = f(x)
    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fp = f(x)[0]
        x[ix] = old - h
        fm = f(x)[0]
        x[ix] = old
        num[ix] = (fp - fm) / (2 * h)
        it.iternext()
    return np.max(np.abs(num - grad) / np.maximum(1e-8, np.abs(num) + np.abs(grad)))


# -- style 1: (loss, grad) over a word-vector matrix ---------------------------------------------------------
rng = np.random.default_rng(0)
CTX = rng.normal(size=(40, 12))


def skipgram(W):
    s = CTX @ W.T  # (40, V)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    idx = np.arange(40) % W.shape[0]
    loss = -np.sum(np.log(p[np.arange(40), idx]))
    d = p.copy()
    d[np.arange(40), idx] -= 1
    return loss, d.T @ CTX


W0 = rng.normal(size=(30, 12)) * 0.1


# -- style 2: lossFun over module-like globals (char-RNN) ----------------------------------------------------
V, H, SEQ = 10, 16, 8
G = {"np": np}
exec(
    "r = np.random.RandomState(1)\n"
    f"Wxh, Whh, Why = r.randn({H}, {V}) * .3, r.randn({H}, {H}) * .3, r.randn({V}, {H}) * .3\n"
    f"bh, by = np.zeros(({H}, 1)), np.zeros(({V}, 1))\n"
    "def lossFun(inputs, targets, hprev):\n"
    "    xs, hs, ps, loss = {}, {-1: hprev.copy()}, {}, 0.0\n"
    "    for t in range(len(inputs)):\n"
    f"        xs[t] = np.zeros(({V}, 1)); xs[t][inputs[t]] = 1\n"
    "        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)\n"
    "        y = Why @ hs[t] + by; e = np.exp(y - y.max()); ps[t] = e / e.sum()\n"
    "        loss -= np.log(ps[t][targets[t], 0])\n"
    "    dWxh, dWhh, dWhy, dbh, dby = [np.zeros_like(a) for a in (Wxh, Whh, Why, bh, by)]\n"
    "    dhnext = np.zeros_like(hs[0])\n"
    "    for t in reversed(range(len(inputs))):\n"
    "        dy = ps[t].copy(); dy[targets[t]] -= 1\n"
    "        dWhy += dy @ hs[t].T; dby += dy\n"
    "        dhraw = (1 - hs[t] ** 2) * (Why.T @ dy + dhnext)\n"
    "        dbh += dhraw; dWxh += dhraw @ xs[t].T; dWhh += dhraw @ hs[t - 1].T\n"
    "        dhnext = Whh.T @ dhraw\n"
    "    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]\n",
    G,
)
INPUTS, TARGETS, HPREV = list(range(SEQ)), [(i + 1) % V for i in range(SEQ)], np.zeros((H, 1))
NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def rnn_own():
    """Its own checker: every parameter, every entry, through lossFun (as the script's gradCheck, unsampled)."""
    worst = 0.0
    for k, name in enumerate(NAMES):
        param = G[name]

        def f(p, k=k):
            out = G["lossFun"](INPUTS, TARGETS, HPREV)
            return out[0], out[1 + k]

        worst = max(worst, naive(f, param))
    return worst


# -- style 3: a layer object with accumulating gradients ------------------------------------------------------
XL = rng.normal(size=(16, 20))


def layer_own():
    layer = layer_zoo.Dense(20, 10)
    dY = np.random.default_rng(0).standard_normal((16, 10))

    def f_of(block):
        def f(_):
            out = layer.forward(XL)
            for g in layer.gradients.values():
                g[...] = 0
            dX = layer.backward(dY)
            return float(np.sum(dY * out)), (dX if block == "X" else layer.gradients[block])
        return f

    worst = naive(f_of("W"), layer.parameters["W"])
    worst = max(worst, naive(f_of("b"), layer.parameters["b"]))
    return max(worst, naive(f_of("X"), XL))


STYLES = {
    "(loss, grad) over a 30x12 word-vector matrix (360 parameters)": (
        lambda: naive(skipgram, W0.copy()), lambda **o: fc.check_gradient(skipgram, W0, **o)),
    "char-RNN lossFun over globals, V=10 H=16 T=8 (602 parameters)": (
        rnn_own, lambda **o: fc.check_loss(G["lossFun"], G, INPUTS, TARGETS, HPREV, **o)),
    "Dense layer object, += gradients, 20->10 batch 16 (530 coordinates)": (
        layer_own, lambda **o: fc.check_layer(layer_zoo.Dense(20, 10), XL, **o)),
}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first", default=None, help="(internal) time the first call of this style")
    a = ap.parse_args()
    if a.first is not None:
        name = list(STYLES)[int(a.first)]
        t, res = timed(lambda: STYLES[name][1]())
        print(f"{t:.3f} {res.path}")
        return
    print("# Zero-glue style calls against each style's own checker\n")
    print(f"`python benchmarks/bench_styles.py --repeat {a.repeat}`: numpy {np.__version__}, "
          f"{os.cpu_count()} core(s), 1-minute load average {os.getloadavg()[0]:.2f} at the start "
          "(a shared machine: other sessions compete for the cores; treat the ratios as rough). "
          "Median of the repeats after one warm-up; `first call` is a fresh process (imports excluded, "
          "pool start-up included).\n")
    for i, (name, (own, ours)) in enumerate(STYLES.items()):
        own(), ours(workers=1)  # warm-up
        rows = {"own checker (central loop, every coordinate)": [], "fastcheck, workers=1": [],
                "fastcheck, default settings": []}
        paths = {}
        for _ in range(a.repeat):
            rows["own checker (central loop, every coordinate)"].append(timed(own)[0])
            t, r = timed(lambda: ours(workers=1))
            rows["fastcheck, workers=1"].append(t)
            paths["fastcheck, workers=1"] = f"{r.path}, {r.verdict}"
            t, r = timed(ours)
            rows["fastcheck, default settings"].append(t)
            paths["fastcheck, default settings"] = f"{r.path}, {r.verdict}"
        out = subprocess.run([sys.executable, __file__, "--first", str(i)], capture_output=True, text=True).stdout.split()
        print(f"## {name}\n\n| variant | seconds | vs own checker | note |\n|---|---:|---:|---|")
        base = statistics.median(rows["own checker (central loop, every coordinate)"])
        for k, v in rows.items():
            m = statistics.median(v)
            ratio = "" if k.startswith("own") else f"{base / m:.2f}x"
            print(f"| {k} | {m:.3f} | {ratio} | {paths.get(k, '')} |")
        if out:
            print(f"| fastcheck first call, fresh process | {out[0]} | {base / float(out[0]):.2f}x | "
                  f"{' '.join(out[1:])} |")
        print()


if __name__ == "__main__":
    main()
