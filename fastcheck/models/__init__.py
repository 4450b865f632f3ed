"""Built-in layered networks with hand-written backprop, and their planted bugs.

* :class:`MLP`: dense layers, activations and losses each written beside its
  derivative, L2 regularization and a fixed dropout mask, compiled by Numba;
* :data:`MUTANTS`: the planted backprop bugs, name -> :class:`Mutant` (``model.mutant(name)``), and
  :data:`MUTANT_DESCRIPTIONS`, name -> its one-line description;
* :func:`tutorial_network`: the 2-3-1 sigmoid network of Neural Networks Demystified and its data
  (:mod:`fastcheck.models.tutorial` also has it in the tutorial's NumPy style).
"""

from fastcheck.models import mutants
from fastcheck.models.functions import ACTIVATIONS, KINKED, LOSS_FORMULAS, LOSSES
from fastcheck.models.mlp import MLP
from fastcheck.models.mutants import MUTANT_DESCRIPTIONS, MUTANTS, SHOWCASE, Mutant, get_mutant
from fastcheck.models.tutorial import seed_network, sleep_study_data, tutorial_network

__all__ = [
    "ACTIVATIONS",
    "KINKED",
    "LOSSES",
    "LOSS_FORMULAS",
    "MLP",
    "MUTANTS",
    "MUTANT_DESCRIPTIONS",
    "SHOWCASE",
    "Mutant",
    "get_mutant",
    "seed_network",
    "sleep_study_data",
    "tutorial_network",
]


def __getattr__(name):
    """``MUTANT_INFO``, the old name of :data:`MUTANTS`, with a DeprecationWarning (as in :mod:`.mutants`)."""
    if name == "MUTANT_INFO":
        return mutants.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
