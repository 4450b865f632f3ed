"""``reseed=``: a cost that draws random numbers made a function of θ for the length of a check.

:class:`Reseeded` wraps the user's cost (and gradient): before every call it sets the seed of NumPy's global
random state and the stdlib :mod:`random` with the same integer (or calls the user's own reseeding
function), and afterwards puts both states back as they were, so the user's program continues with
the random numbers it would have drawn.  The wrapper is a plain picklable object: it travels with
the cost to worker processes, so the perturbed evaluations there are reseeded too.
"""
from __future__ import annotations

import random

import numpy as np

__all__ = ["Reseeded", "check_reseed", "reseeded"]


def check_reseed(reseed):
    """``None``, an integer seed (0 ≤ seed < 2**32) or a callable; anything else raises."""
    if reseed is None or callable(reseed):
        return reseed
    if isinstance(reseed, bool) or not isinstance(reseed, (int, np.integer)) or not 0 <= int(reseed) < 2**32:
        raise ValueError(f"reseed must be None, an integer seed in [0, 2**32) or a callable run before every "
                         f"evaluation, got {reseed!r}")
    return int(reseed)


class Reseeded:
    """``fn`` with the random state reseeded before every call and restored after it."""

    def __init__(self, fn, reseed):
        self.fn = fn
        self.reseed = check_reseed(reseed)

    def __call__(self, *args):
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            if callable(self.reseed):
                self.reseed()
            else:
                np.random.seed(self.reseed)
                random.seed(self.reseed)
            return self.fn(*args)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def __repr__(self) -> str:
        return f"Reseeded({self.fn!r}, reseed={self.reseed!r})"


def reseeded(fn, reseed):
    """``fn`` itself when ``reseed`` is None (or ``fn`` is not callable), else :class:`Reseeded`."""
    if check_reseed(reseed) is None or not callable(fn):
        return fn
    return Reseeded(fn, reseed)
