"""Speed in machine-independent units: ratios of two timings taken in turns in one process.

An absolute time on this shared machine moves by 2× from hour to hour; these
ratios do not, so the single-thread ones are what ``benchmarks/gate.py`` compares with
the recorded history to fail CI on a clear regression (see
benchmarks/README.md); the thread-scaling ones are charted only.  Every
``track_ratio`` is lower-is-better.
"""
from ._ratios import (
    RATIO_NETWORKS,
    blackbox_in_cost_calls,
    blackbox_parallel_over_serial,
    check_in_forward_passes,
    cold_over_warm,
    structured_parallel_over_serial,
)


class CheckInForwardPasses:
    """A full structure-aware central check in units of one forward pass of the same network and batch
    (both on one thread)."""

    params = (list(RATIO_NETWORKS),)
    param_names = ["network"]
    timeout = 600

    def track_ratio(self, net):
        return check_in_forward_passes(net)

    track_ratio.unit = "forward passes"


class StructuredThreads:
    """The full structured check on every Numba thread over one thread (0.5 is perfect on two cores)."""

    params = (["784-128-10"],)
    param_names = ["network"]
    timeout = 600

    def track_ratio(self, net):
        return structured_parallel_over_serial(net)

    track_ratio.unit = "parallel / serial"


class BlackBoxThreads:
    """A full black-box check of a jitted cost (logistic regression, n = 2000) on every thread over one."""

    timeout = 300

    def track_ratio(self):
        return blackbox_parallel_over_serial()

    track_ratio.unit = "parallel / serial"


class BlackBoxInCostCalls:
    """A full black-box central check (2n perturbed costs, n = 2000) in units of one call of the cost (one
    thread)."""

    timeout = 300

    def track_ratio(self):
        return blackbox_in_cost_calls()

    track_ratio.unit = "cost calls"


class ColdStart:
    """``fastcheck demo`` in a fresh process on an empty compilation cache over the same warm (fastest of
    two pairs taken in turns, two Numba threads): 1 when nothing needs compiling."""

    timeout = 600

    def track_ratio(self):
        return cold_over_warm("demo")

    track_ratio.unit = "cold / warm"


class ColdStartCheck:
    """A full check of MLP 784-128-10 (``fastcheck check --model mlp --sizes 784,128,10 ...``) in a fresh process
    on an empty compilation cache over the same warm, as :class:`ColdStart` measures the demo: 1 when the
    check compiles nothing it needs."""

    timeout = 900

    def track_ratio(self):
        return cold_over_warm("mlp-784-128-10")

    track_ratio.unit = "cold / warm"
