"""Built-in layered networks with hand-written backprop, and their planted bugs.

* :class:`MLP`: dense layers, activations and losses each written beside its
  derivative, L2 regularization and a fixed dropout mask, compiled by Numba;
* :data:`MUTANTS`: the planted backprop bugs (``model.mutant(name)``);
* :func:`seed_network`: the 2-3-1 sigmoid network of Neural Networks Demystified and data.
"""
from .functions import ACTIVATIONS, KINKED, LOSS_FORMULAS, LOSSES
from .mlp import MLP, seed_network
from .mutants import MUTANT_INFO, MUTANTS, SHOWCASE, Mutant, get_mutant

__all__ = [
    "ACTIVATIONS",
    "KINKED",
    "LOSSES",
    "LOSS_FORMULAS",
    "MLP",
    "MUTANTS",
    "MUTANT_INFO",
    "Mutant",
    "SHOWCASE",
    "get_mutant",
    "seed_network",
]
