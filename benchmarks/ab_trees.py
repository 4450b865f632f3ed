"""The checks benchmarks/ab_trees.sh times in each source tree (PYTHONPATH): one JSON line of medians (ms).

Every check is warmed twice (compilation excluded), then timed 9 or 15 times.  The calls use only
what every tree since e2cea96 accepts (``n_dirs=``, the old spelling of ``directions=``).
"""
import json
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")
import fastcheck
from fastcheck.models import MLP
if hasattr(fastcheck.config, "COMPILE"):  # the compiled kernels are measured, in every tree
    fastcheck.config.COMPILE = "always"


def med(fn, n):
    fn(); fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))

out = {}
m = MLP([784, 128, 10], activations="sigmoid", loss="sse")
th = m.init(0); X, y = m.sample_data(64, seed=0)
out["check_model 784-128-10 structured"] = med(lambda: fastcheck.check_model(m, th, X, y), 9)
m2 = MLP([64, 32, 10], activations="relu", loss="softmax_ce") if "softmax_ce" in getattr(__import__("fastcheck.models", fromlist=["LOSSES"]), "LOSSES", {}) else MLP([64, 32, 10])
th2 = m2.init(0); X2, y2 = m2.sample_data(64, seed=0)
out["check_model 64-32-10 structured"] = med(lambda: fastcheck.check_model(m2, th2, X2, y2), 15)
out["check_model 64-32-10 blackbox"] = med(lambda: fastcheck.check_model(m2, th2, X2, y2, mode="blackbox"), 15)
import numba


@numba.njit
def quad(t, a):
    return np.sum(a * t**4 - t**2)
@numba.njit
def quad_g(t, a):
    return 4 * a * t**3 - 2 * t
t4 = np.linspace(-1, 1, 4000)
g4 = quad_g(t4, 0.3)
out["check_gradient n=4000 central (jitted)"] = med(lambda: fastcheck.check_gradient(quad, t4, g4, args=(0.3,)), 9)
t1 = np.linspace(-1, 1, 100000)
g1 = quad_g(t1, 0.3)
out["check_directional n=1e5"] = med(lambda: fastcheck.check_directional(quad, t1, g1, args=(0.3,), n_dirs=8), 9)
py = lambda t: float(np.sum(np.sin(t) * t))
pyg = lambda t: np.sin(t) + t * np.cos(t)
t3 = np.linspace(-1, 1, 300)
out["check_gradient n=300 Python loop"] = med(lambda: fastcheck.check_gradient(py, t3, pyg, workers=1, jit=False), 9)
print(json.dumps(out))
