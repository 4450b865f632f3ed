"""Checks of the built-in networks: structured against black-box, sampled,
directional, thread scaling, peak memory, and the accuracy of correct models.

The networks are those of ``python -m benchmarks.peers`` (sigmoid units, the
the tutorial's cost, batch 64).  ``setup`` checks one coordinate first, which
compiles the kernels, so the timings hold no compilation.
"""
import fastcheck

from ._problems import NETWORKS, check_model, network, require_threads


class ModelCheck:
    """A full check of every parameter, structure-aware or black-box.

    Black-box checks of 256-64-10 and 784-128-10 are skipped: they re-run the
    whole network for each of 2n perturbations (~25 s and ~13 min here); the
    peer table extrapolates them instead.
    """

    params = (list(NETWORKS), ["structured", "blackbox"])
    param_names = ["network", "mode"]
    timeout = 300

    def setup(self, net, mode):
        if mode == "blackbox" and net in ("256-64-10", "784-128-10"):
            raise NotImplementedError("black-box full check too slow for a routine benchmark")
        self.check = check_model()
        self.model, self.theta, self.X, self.y = network(net)
        self.check(self.model, self.theta, self.X, self.y, mode=mode, coords=[0])

    def time_check(self, net, mode):
        self.check(self.model, self.theta, self.X, self.y, mode=mode)

    def track_difference(self, net, mode):
        """Normalised difference of the correct backprop at the default step."""
        return self.check(self.model, self.theta, self.X, self.y, mode=mode).difference

    track_difference.unit = "relative difference"


class ModelPrecision:
    """A full structure-aware check in float32, and by the complex step
    (complex128 for float64 θ, complex64 for float32)."""

    params = (list(NETWORKS), ["float64", "float32"], ["central", "complex"])
    param_names = ["network", "dtype", "scheme"]
    timeout = 300

    def setup(self, net, dtype, scheme):
        self.check = check_model()
        self.model, theta, self.X, self.y = network(net)
        self.theta = theta.astype(dtype)
        try:
            self.check(self.model, self.theta, self.X, self.y, scheme=scheme, coords=[0])
        except (TypeError, ValueError) as exc:  # commits whose networks had no float32 / complex step
            raise NotImplementedError(str(exc)) from None

    def time_check(self, net, dtype, scheme):
        self.check(self.model, self.theta, self.X, self.y, scheme=scheme)

    def track_difference(self, net, dtype, scheme):
        """Normalised difference of the correct backprop at the default step."""
        return self.check(self.model, self.theta, self.X, self.y, scheme=scheme).difference

    track_difference.unit = "relative difference"


class ModelSampled:
    """16 coordinates per block, structure-aware."""

    params = (list(NETWORKS),)
    param_names = ["network"]
    timeout = 300

    def setup(self, net):
        self.check = check_model()
        self.model, self.theta, self.X, self.y = network(net)
        self.check(self.model, self.theta, self.X, self.y, coords=[0])

    def time_sampled(self, net):
        self.check(self.model, self.theta, self.X, self.y, sample=16)


class ModelDirectional:
    """8 random directions per block on the jitted black-box cost."""

    params = (list(NETWORKS),)
    param_names = ["network"]
    timeout = 300

    def setup(self, net):
        self.model, self.theta, self.X, self.y = network(net)
        self.args = self.model.cost_args(self.X, self.y)
        fastcheck.check_directional(self.model.jit_cost, self.theta, self.model.grad, args=self.args, n_dirs=1)

    def time_directional(self, net):
        fastcheck.check_directional(
            self.model.jit_cost, self.theta, self.model.grad, args=self.args, layout=self.model.layout
        )


class ModelThreads:
    """The structure-aware full check of 784-128-10 on 1 and 2 Numba threads."""

    params = ([1, 2],)
    param_names = ["threads"]
    timeout = 300

    def setup(self, threads):
        require_threads(threads)
        self.check = check_model()
        self.model, self.theta, self.X, self.y = network("784-128-10")
        self.check(self.model, self.theta, self.X, self.y, coords=[0], threads=threads)

    def time_structured(self, threads):
        self.check(self.model, self.theta, self.X, self.y, threads=threads)


class ModelPeakMemory:
    """Peak memory of the checks of the largest network, 784-128-10."""

    timeout = 300

    def setup(self):
        self.check = check_model()
        self.model, self.theta, self.X, self.y = network("784-128-10")
        self.args = self.model.cost_args(self.X, self.y)
        self.check(self.model, self.theta, self.X, self.y, coords=[0])
        fastcheck.check_directional(self.model.jit_cost, self.theta, self.model.grad, args=self.args, n_dirs=1)

    def peakmem_structured(self):
        self.check(self.model, self.theta, self.X, self.y)

    def peakmem_directional(self):
        fastcheck.check_directional(
            self.model.jit_cost, self.theta, self.model.grad, args=self.args, layout=self.model.layout
        )
