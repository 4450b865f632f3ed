"""Layout: one flat parameter vector θ for many named arrays, and back.

This is ``getParams``/``setParams`` of Neural Networks Demystified and ``dictionary_to_vector``
done once and generally: blocks are concatenated in a fixed order, each
raveled in C order, and any coordinate of θ can be named by its block and
its index in that block's own shape.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fastcheck.errors import GradientMismatchError, ShapeNoteWarning

__all__ = ["Layout", "fit_gradient_shape"]


def fit_gradient_shape(g, shape, label: str, error=ValueError) -> np.ndarray:
    """``g`` as an array of ``shape``: equal shapes, or shapes that differ only by singleton axes
    (a ``(1, 20)`` gradient for a ``(20,)`` parameter, as some course code returns; accepted with a
    :class:`ShapeNoteWarning`).  Anything else raises ``error`` naming ``label``."""
    g = np.asarray(g)
    shape = tuple(shape)
    if not np.issubdtype(g.dtype, np.number):
        raise error(f"gradient {label} is not a numeric array (dtype {g.dtype})")
    if g.shape == shape:
        return g
    if g.size == int(np.prod(shape)) and tuple(d for d in g.shape if d != 1) == tuple(d for d in shape if d != 1):
        warnings.warn(f"gradient {label} has shape {g.shape}, its parameter {shape}: accepted (they differ only "
                      "by singleton axes)", ShapeNoteWarning, stacklevel=3)
        return g.reshape(shape)
    raise error(f"gradient {label} has shape {g.shape} but its parameter has shape {shape}")


@dataclass(frozen=True)
class Layout:
    """Ordered named blocks of a flat parameter vector.

    Parameters
    ----------
    names : tuple of str
        Block names, in the order the blocks appear in θ.
    shapes : tuple of tuple of int
        Shape of each block.

    Attributes
    ----------
    offsets : tuple of int
        Start of each block in θ, plus the total size as a last entry
        (``len(offsets) == len(names) + 1``); block ``b`` is
        ``theta[offsets[b]:offsets[b + 1]]``.
    """

    names: tuple
    shapes: tuple

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        shapes = tuple(tuple(int(d) for d in s) for s in self.shapes)
        if len(names) != len(shapes):
            raise ValueError(f"Layout needs one shape per name: {len(names)} names, {len(shapes)} shapes")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"Layout block names must be unique; repeated: {dup}")
        for n, s in zip(names, shapes):
            if any(d < 0 for d in s):
                raise ValueError(f"block {n!r} has a negative dimension in shape {s}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "shapes", shapes)
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        object.__setattr__(self, "offsets", tuple(int(o) for o in np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])))

    # -- construction -------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays) -> "Layout":
        """Layout of a dict of arrays (its order) or of a list of arrays.

        A list's blocks are named ``"p0"``, ``"p1"``, … .
        """
        if isinstance(arrays, Mapping):
            items = list(arrays.items())
        elif isinstance(arrays, Sequence) and not isinstance(arrays, (str, bytes)):
            items = [(f"p{i}", a) for i, a in enumerate(arrays)]
        else:
            raise TypeError(f"Layout.from_arrays takes a dict or a list of arrays, got {type(arrays).__name__}")
        if not items:
            raise ValueError("Layout.from_arrays needs at least one array")
        return cls(tuple(k for k, _ in items), tuple(np.shape(a) for _, a in items))

    @classmethod
    def from_shapes(cls, shapes: Mapping) -> "Layout":
        """Layout from ``{name: shape}``."""
        return cls(tuple(shapes), tuple(tuple(np.atleast_1d(s)) if np.ndim(s) else (int(s),) for s in shapes.values()))

    @classmethod
    def single(cls, n: int, name: str = "theta") -> "Layout":
        """One block of ``n`` coordinates."""
        return cls((name,), ((int(n),),))

    # -- sizes --------------------------------------------------------------
    @property
    def size(self) -> int:
        """Total number of parameters."""
        return self.offsets[-1]

    def __len__(self) -> int:
        return self.size

    @property
    def sizes(self) -> tuple:
        return tuple(b - a for a, b in zip(self.offsets[:-1], self.offsets[1:]))

    def block_slice(self, name: str) -> slice:
        b = self._index(name)
        return slice(self.offsets[b], self.offsets[b + 1])

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no block {name!r} in layout; blocks are {list(self.names)}") from None

    # -- flatten / unflatten -----------------------------------------------
    def flatten(self, arrays, dtype=np.float64) -> np.ndarray:
        """Concatenate the blocks into a new 1-D vector θ (a copy).

        A dict is read by name in the layout's order, whatever order its keys
        come in; a list is read in order.  Every shape must match.
        """
        if isinstance(arrays, Mapping):
            missing = [n for n in self.names if n not in arrays]
            extra = [k for k in arrays if k not in self.names]
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing {missing}")
                if extra:
                    parts.append(f"unexpected {extra}")
                raise KeyError(f"arrays do not match the layout ({', '.join(parts)}); layout blocks are {list(self.names)}")
            blocks = [arrays[n] for n in self.names]
        elif isinstance(arrays, Sequence) and not isinstance(arrays, (str, bytes)):
            if len(arrays) != len(self.names):
                raise ValueError(f"expected {len(self.names)} arrays for layout {list(self.names)}, got {len(arrays)}")
            blocks = list(arrays)
        else:
            raise TypeError(f"flatten takes a dict or a list of arrays, got {type(arrays).__name__}")
        out = np.empty(self.size, dtype=dtype)
        for name, shape, a, b, arr in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:], blocks):
            arr = np.asarray(arr)
            if arr.shape != shape:
                raise ValueError(f"block {name!r} has shape {arr.shape}, layout expects {shape}")
            out[a:b] = arr.ravel()
        return out

    def unflatten(self, theta) -> dict:
        """Split θ into ``{name: view}`` with the original shapes (no copy)."""
        theta = np.asarray(theta)
        if theta.ndim != 1 or theta.shape[0] != self.size:
            raise ValueError(f"theta must be 1-D of length {self.size} for this layout, got shape {theta.shape}")
        return {
            name: theta[a:b].reshape(shape)
            for name, shape, a, b in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])
        }

    # -- naming coordinates --------------------------------------------------
    def block_ids(self, coords) -> np.ndarray:
        """Block number of each flat coordinate."""
        coords = np.asarray(coords, dtype=np.int64)
        return np.searchsorted(np.asarray(self.offsets[1:]), coords, side="right")

    def locate(self, i: int):
        """``(block_name, index_tuple)`` of flat coordinate ``i``."""
        i = int(i)
        if not 0 <= i < self.size:
            raise IndexError(f"coordinate {i} is outside theta of length {self.size}")
        b = int(self.block_ids([i])[0])
        local = i - self.offsets[b]
        return self.names[b], tuple(int(k) for k in np.unravel_index(local, self.shapes[b])) if self.shapes[b] else ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}{list(s)}" for n, s in zip(self.names, self.shapes))
        return f"Layout({inner}; size={self.size})"
