"""A stencil shared between schemes: forward, central and central4 at one ε computed once."""
from __future__ import annotations

import time

import numpy as np

from fastcheck.evaluators.protocol import Wrapper

__all__ = ["SharedStencil"]


class SharedStencil(Wrapper):
    """An evaluator that computes the union of several stencils of its ``base`` once.

    forward (+1), central (±1) and central4 (±1, ±2) at the same ε perturb
    the same coordinates by the same effective steps, so the costs at
    offsets {−2, −1, +1, +2} serve all three.  Each cost is computed exactly
    as the scheme alone would compute it (same point, same kernel), so the
    numbers are identical to separate runs; only the work is shared.
    Everything else is the base's (see :class:`~fastcheck.evaluators.protocol.Wrapper`).
    """

    def __init__(self, base, offsets):
        super().__init__(base)
        self.offsets = np.array(sorted(set(float(o) for o in offsets)), dtype=np.float64)
        self.compute_seconds = 0.0
        self._key = None
        self._vals = None
        self._kinks = None

    def _same(self, theta, coords, steps) -> bool:
        return (self._key is not None and self._key[0] is theta and np.array_equal(self._key[1], coords)
                and np.array_equal(self._key[2], steps))

    def prepare(self, theta, kind):
        # Once the shared costs exist nothing is left to compile; skipping the
        # call also keeps a structured evaluator's own kink cache intact.
        if kind == "stencil" and self._vals is not None:
            return
        self.base.prepare(theta, kind)

    def stencil(self, theta, coords, steps, offsets):
        offsets = np.asarray(offsets, np.float64)
        where = [np.flatnonzero(self.offsets == o) for o in offsets]
        if any(len(w) == 0 for w in where):
            return self.base.stencil(theta, coords, steps, offsets)
        if not self._same(theta, coords, steps):
            t0 = time.perf_counter()
            self._vals = self.base.stencil(theta, coords, steps, self.offsets)
            # Kink flags of the same points, while the evaluator still holds them.
            self._kinks = self.base.kinks(theta, coords, steps) if self.base.caps.finds_kinks else None
            self.compute_seconds += time.perf_counter() - t0
            self._key = (theta, np.array(coords), np.array(steps))
        return self._vals[:, [int(w[0]) for w in where]]

    def kinks(self, theta, coords, steps):
        """Flags of the shared points (every offset of the union), or none."""
        if self._kinks is not None and self._same(theta, coords, steps):
            return self._kinks
        return self.base.kinks(theta, coords, steps)
