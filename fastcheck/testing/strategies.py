"""Hypothesis strategies for gradient checks: θ for a :class:`~fastcheck.Layout`, and layouts.

>>> from hypothesis import HealthCheck, given, settings
>>> from fastcheck import Layout
>>> from fastcheck.testing.strategies import thetas
>>> layout = Layout.from_shapes({"W": (3, 2), "b": (2,)})
>>> @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # gradcheck keeps no state
... @given(theta=thetas(layout, avoid=0.0))
... def test_my_gradient(theta, gradcheck):       # with the pytest plugin's fixture
...     gradcheck(cost, theta, grad, layout=layout)

Each block is drawn at its own scale (``scale``: one number or ``{block: scale}``), never NaN or inf,
and, with ``avoid=``, away from given values (``avoid=0.0`` keeps every entry at least ``margin *
scale`` from 0: a ReLU's corner is where a correct gradient and a finite difference disagree).
Hypothesis shrinks a failing θ towards small, simple entries.

Needs ``hypothesis`` (in fastcheck's ``dev`` extra), imported with this module.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastcheck.core.layout import Layout

__all__ = ["layouts", "params", "thetas"]


def _floats(scale: float, dtype, avoid, margin: float):
    width = 32 if np.dtype(dtype) == np.float32 else 64
    base = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=width)
    if avoid is None:
        return base
    points = np.atleast_1d(np.asarray(avoid, np.float64))
    gap = margin * scale
    return base.filter(lambda v: bool(np.all(np.abs(v - points) > gap)))


def thetas(layout: Layout, *, scale: float | Mapping = 1.0, dtype=np.float64, avoid=None,
           margin: float = 1e-3) -> st.SearchStrategy[np.ndarray]:
    """Flat parameter vectors θ of ``layout.size`` entries (``dtype``), block by block.

    Parameters
    ----------
    layout : Layout
        The blocks; θ is their concatenation in layout order (as :meth:`Layout.flatten`).
    scale : float or {block: float}
        Entries of a block lie in ``[-scale, scale]``.
    avoid : float or sequence of floats, optional
        Values no entry may come within ``margin * scale`` of (say ``0.0`` for a ReLU network's kinks).
    """
    if not isinstance(layout, Layout):
        raise TypeError(f"thetas needs a fastcheck.Layout, got {type(layout).__name__}")
    scales = dict(scale) if isinstance(scale, Mapping) else {n: float(scale) for n in layout.names}
    unknown = set(scales) - set(layout.names)
    if unknown:
        raise ValueError(f"scale names blocks the layout lacks: {sorted(unknown)}; blocks: {list(layout.names)}")
    parts = [hnp.arrays(dtype, n, elements=_floats(float(scales.get(name, 1.0)), dtype, avoid, margin))
             for name, n in zip(layout.names, layout.sizes)]
    if not parts:
        return st.just(np.zeros(0, dtype))
    return st.tuples(*parts).map(lambda blocks: np.concatenate(blocks).astype(dtype, copy=False))


def params(layout: Layout, **options) -> st.SearchStrategy[dict]:
    """Parameter dicts ``{block: array of its shape}`` (copies, not views), drawn as :func:`thetas`."""
    return thetas(layout, **options).map(lambda t: {k: v.copy() for k, v in layout.unflatten(t).items()})


def layouts(*, max_blocks: int = 4, max_dim: int = 5, max_ndim: int = 2, prefix: str = "p") -> st.SearchStrategy[Layout]:
    """Layouts of 1..``max_blocks`` blocks named ``p0, p1, ...``, each of 1..``max_ndim`` axes of
    length 1..``max_dim``."""
    shape = st.lists(st.integers(1, max_dim), min_size=1, max_size=max_ndim).map(tuple)
    return st.lists(shape, min_size=1, max_size=max_blocks).map(
        lambda shapes: Layout.from_shapes({f"{prefix}{i}": s for i, s in enumerate(shapes)}))
