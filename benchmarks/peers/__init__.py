"""fastcheck side by side with the gradient checkers people already use (benchmark code, not part of the
installed package).

Run it from the repository root:  ``flock /tmp/fastcheck-bench.lock python -m benchmarks.peers``
(``--help`` lists the options); it writes ``reports/peers/``.

One run puts the same problems through every checker and times them on the
same machine in the same process:

* ``tutorial loop``: the tutorial's ``computeNumericalGradient`` (a Python loop over
  the weights, perturbing a NumPy network through ``setParams`` and
  calling ``costFunction``, ε = 1e-4), on :class:`TutorialNetwork`, the tutorial'
  ``Neural_Network`` generalised to any widths and biases;
* ``scipy approx_fprime``: :func:`scipy.optimize.approx_fprime` (forward
  differences, step √eps_mach);
* ``scipy approx_derivative 3-point``: scipy's private
  ``scipy.optimize._numdiff.approx_derivative(method="3-point")`` (central
  differences, relative step eps_mach^(1/3));
* ``torch gradcheck`` and ``torch gradcheck fast``:
  :func:`torch.autograd.gradcheck` with ``fast_mode=False`` / ``True`` on a
  float64 torch version of the same network (only when torch imports);
* fastcheck's own modes: ``blackbox`` (:func:`fastcheck.check_gradient` on
  the model's jitted cost), ``structured`` (``fastcheck.check_model``, when
  the installed fastcheck has it), ``sampled`` (k coordinates per block) and
  ``directional`` (:func:`fastcheck.check_directional`).

Every checker's numerical gradient is compared with the model's analytic
(backprop) gradient with the tutorial's normalised difference.  A checker whose
full run would exceed the time budget runs on an evenly spaced subset of
coordinates, and its time for all of θ is *extrapolated* from a straight-line
fit of time against the number of coordinates; such rows say so in the
``extrapolated`` column and in the Markdown table.

The networks are the built-in :class:`fastcheck.models.MLP` with sigmoid
units and the tutorial's cost ½·Σ(y − ŷ)², so :class:`TutorialNetwork` and the
torch network compute exactly the same function (the tests compare them).
"""
from .checkers import PEERS, SAMPLE, Outcome, Peer
from .harness import BUDGET, COLUMNS, REFERENCES, Timing, add_ratios, compare, subset_coords, time_peer
from .networks import (
    PROBLEMS,
    Problem,
    TutorialNetwork,
    make_problem,
    network_like,
    torch_available,
    torch_cost,
    tutorial_numerical_gradient,
)
from .table import markdown_table, plot, write_report

__all__ = [
    "BUDGET", "COLUMNS", "PEERS", "PROBLEMS", "REFERENCES", "SAMPLE", "Outcome", "Peer", "Problem", "TutorialNetwork", "network_like",
    "Timing", "add_ratios", "compare", "make_problem", "markdown_table", "plot", "tutorial_numerical_gradient",
    "subset_coords", "time_peer", "torch_available", "torch_cost", "write_report",
]
