"""Named problems: what a sweep (or the command line) can check.

A *problem* is a cost, a point θ and the analytic gradient there
(:class:`Problem`, in :mod:`.problem`).  It comes from one of:

* a registry name with options, ``"name:arg,key=value"`` (:mod:`.registry`;
  the built-in entries are in :mod:`.builtin`):

  ``tutorial``            the 2-3-1 sigmoid network of Neural Networks Demystified (``fastcheck.models``)
  ``tutorial-numpy``      the same network in the tutorial's own NumPy style (any dtype, complex-safe)
  ``mlp:784-128-10``      an MLP by layer sizes; options ``batch``, ``act``,
                          ``loss``, ``l2``, ``seed``
  ``smooth:n=20``         J(θ) = Σ exp(sin θ_i) + (Σ c_i θ_i)², every derivative
                          known and non-zero; ``jit=0`` for a plain NumPy cost
  ``cube``, ``square``    the worked examples θ³ at 1 (Debugging your Neural Nets and checking your
                          Gradients) and x² at 1.5 (Neural Networks Demystified)

  (``seed`` and ``seed-numpy``, the old names of the first two, are still accepted);
* a user file, ``"path/to/file.py:function"`` (loaded by :mod:`fastcheck.inputs.userfile`):
  the function is called with no arguments and returns a :class:`Problem`, a
  ``(cost, theta, grad[, args][, layout])`` tuple or a ``(model, theta, X, y)`` tuple;
* a ``(cost, theta, grad[, args])`` tuple, a built-in model, or a :class:`Problem`.

Problems built from a string keep it as :attr:`Problem.spec`, so a Dask
worker rebuilds them from a few bytes instead of receiving pickled arrays.
"""
from fastcheck.errors import ProblemError
from fastcheck.problems import builtin  # noqa: F401 - fills the registry
from fastcheck.problems.builtin import (
    cube_cost,
    cube_grad,
    smooth_cost,
    smooth_cost_numpy,
    smooth_grad,
    square_cost,
    square_grad,
)
from fastcheck.problems.problem import Problem, fingerprint
from fastcheck.problems.registry import (
    ALIASES,
    PROBLEMS,
    estimated_bytes,
    get_problem,
    list_problems,
    parse_spec,
    register,
)

__all__ = [
    "ALIASES",
    "PROBLEMS",
    "Problem",
    "ProblemError",
    "cube_cost",
    "cube_grad",
    "estimated_bytes",
    "fingerprint",
    "get_problem",
    "list_problems",
    "parse_spec",
    "register",
    "smooth_cost",
    "smooth_cost_numpy",
    "smooth_grad",
    "square_cost",
    "square_grad",
]
