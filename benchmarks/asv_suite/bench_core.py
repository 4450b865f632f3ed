"""The core checker on a black-box jitted cost (logistic regression).

Every ``setup`` runs the check once on one coordinate, which compiles the
parallel kernel for this cost's signature, so the timings hold no
compilation; :class:`CompileTime` measures compilation on its own.
"""
import fastcheck

from ._problems import logistic_problem, require_threads


class CheckGradient:
    """A full per-coordinate check, O(n) perturbed costs of O(batch·n) each."""

    params = ([1_000, 4_000], ["forward", "central", "central4"])
    param_names = ["n", "scheme"]
    timeout = 300

    def setup(self, n, scheme):
        self.cost, self.theta, self.grad, self.args, self.layout = logistic_problem(n)
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, coords=[0], scheme=scheme)

    def time_check_gradient(self, n, scheme):
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, scheme=scheme, layout=self.layout)

    def track_difference(self, n, scheme):
        """Normalised difference of a correct gradient at the default step."""
        res = fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, scheme=scheme)
        return res.difference

    track_difference.unit = "relative difference"


class Threads:
    """The same central check on 1 and 2 Numba threads (parallel scaling)."""

    params = ([1, 2],)
    param_names = ["threads"]
    timeout = 300

    def setup(self, threads):
        require_threads(threads)
        self.cost, self.theta, self.grad, self.args, self.layout = logistic_problem(4_000)
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, coords=[0], threads=threads)

    def time_check_gradient(self, threads):
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, threads=threads)


class Sampled:
    """``sample=k`` coordinates per block: cost independent of n's coordinate count."""

    params = ([10_000, 100_000], [16, 256])
    param_names = ["n", "sample"]
    timeout = 300

    def setup(self, n, sample):
        self.cost, self.theta, self.grad, self.args, self.layout = logistic_problem(n)
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, coords=[0])

    def time_sampled(self, n, sample):
        fastcheck.check_gradient(
            self.cost, self.theta, self.grad, args=self.args, sample=sample, layout=self.layout, seed=1
        )


class Directional:
    """Random-direction checks: 2 costs per direction, whatever n."""

    params = ([10_000, 100_000, 1_000_000],)
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.cost, self.theta, self.grad, self.args, self.layout = logistic_problem(n)
        fastcheck.check_directional(self.cost, self.theta, self.grad, args=self.args, n_dirs=1)

    def time_directional(self, n):
        fastcheck.check_directional(self.cost, self.theta, self.grad, args=self.args, layout=self.layout)

    def track_difference(self, n):
        res = fastcheck.check_directional(self.cost, self.theta, self.grad, args=self.args, layout=self.layout)
        return res.difference

    track_difference.unit = "relative difference"


class PeakMemory:
    """Peak memory of the checks at the largest size (θ of 10⁶ parameters)."""

    timeout = 300

    def setup(self):
        self.cost, self.theta, self.grad, self.args, self.layout = logistic_problem(1_000_000)
        fastcheck.check_directional(self.cost, self.theta, self.grad, args=self.args, n_dirs=1)
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, coords=[0])

    def peakmem_directional(self):
        fastcheck.check_directional(self.cost, self.theta, self.grad, args=self.args, layout=self.layout)

    def peakmem_sampled(self):
        fastcheck.check_gradient(self.cost, self.theta, self.grad, args=self.args, sample=64, layout=self.layout)


_COMPILE_SETUP = """
import numpy as np
from numba import njit
import fastcheck

@njit
def cost(theta, X):
    s = 0.0
    for j in range(theta.shape[0]):
        s += X[j] * np.sin(theta[j])
    return s

theta = np.linspace(0.1, 1.0, 50)
X = np.linspace(1.0, 2.0, 50)
grad = X * np.cos(theta)
"""


class CompileTime:
    """Import and first-call compilation, each in a fresh interpreter.

    The cost is a new ``@njit`` function without cache, so the parallel
    kernel is compiled for it: first check minus import is the compile cost
    a user pays once per cost function and session.
    """

    timeout = 300
    repeat = (1, 3, 60.0)
    number = 1

    def timeraw_import(self):
        return "import fastcheck"

    def timeraw_first_check_gradient(self):
        return _COMPILE_SETUP + "fastcheck.check_gradient(cost, theta, grad, args=(X,))"

    def timeraw_first_check_directional(self):
        return _COMPILE_SETUP + "fastcheck.check_directional(cost, theta, grad, args=(X,))"
