"""Eps sweeps: their run time over network sizes, and the truncation orders
they fit, tracked so that an accuracy regression shows up like a slowdown."""
import numpy as np

from ._problems import optional

SCHEMES = ("forward", "central", "central4")
SPECS = {
    "seed": "seed",
    "64-32-10": "mlp:64-32-10,batch=64,act=sigmoid,loss=sse",
    "256-64-10": "mlp:256-64-10,batch=64,act=sigmoid,loss=sse",
    "784-128-10": "mlp:784-128-10,batch=64,act=sigmoid,loss=sse",
}


class EpsSweep:
    """13 steps from 1e-1 to 1e-13 × forward/central/central4, float64,
    16 coordinates per block (structure-aware)."""

    params = (list(SPECS),)
    param_names = ["network"]
    timeout = 300

    def setup(self, net):
        self.sweep = optional("fastcheck.sweep", "eps_sweep")
        self.spec = SPECS[net]
        self.eps = tuple(float(e) for e in np.logspace(-1, -13, 13))
        self.sweep.eps_sweep(self.spec, eps=self.eps[:1], schemes=SCHEMES, dtypes=("float64",), sample=1)

    def time_eps_sweep(self, net):
        self.sweep.eps_sweep(self.spec, eps=self.eps, schemes=SCHEMES, dtypes=("float64",), sample=16)


class FittedOrders:
    """The tutorial's network swept over the default 29 steps (1 to 1e-14) in
    float64 and float32; the fitted truncation slopes should stay at the
    schemes' orders (1, 2, 4, 2) and the best errors at their floors."""

    params = (list(SCHEMES) + ["complex"], ["float64", "float32"])
    param_names = ["scheme", "dtype"]
    timeout = 300

    def setup(self, scheme, dtype):
        sweep = optional("fastcheck.sweep", "eps_sweep", "fit_orders")
        problems = optional("fastcheck.problems", "PROBLEMS").PROBLEMS
        name = "tutorial" if "tutorial" in problems else "seed"  # the network's name before and after the rename
        fit = sweep.fit_orders(sweep.eps_sweep(name, schemes=(scheme,), dtypes=(dtype,))).iloc[0]
        self.fit = {k: float(fit[k]) for k in ("truncation_slope", "floor", "best_eps")}
        if not np.isfinite(self.fit["floor"]):  # commits whose network had no such curve
            raise NotImplementedError(f"no {scheme} {dtype} curve for the 2-3-1 network of Neural Networks Demystified")

    def track_truncation_slope(self, scheme, dtype):
        return self.fit["truncation_slope"]

    track_truncation_slope.unit = "log10(err) / log10(eps)"

    def track_error_floor(self, scheme, dtype):
        return self.fit["floor"]

    track_error_floor.unit = "max abs error"

    def track_best_eps(self, scheme, dtype):
        return self.fit["best_eps"]

    track_best_eps.unit = "eps"
