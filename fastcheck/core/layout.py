"""Layout: one flat parameter vector θ for many named arrays, and back.

This is ``getParams``/``setParams`` of Neural Networks Demystified and ``dictionary_to_vector``
done once and generally: blocks are concatenated in a fixed order, each
raveled in C order, and any coordinate of θ can be named by its block and
its index in that block's own shape.
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.errors import GradientMismatchError, ShapeNoteWarning

if TYPE_CHECKING:  # names of annotations only
    from numpy.typing import ArrayLike, DTypeLike

__all__ = ["Layout", "fit_gradient_shape"]


def fit_gradient_shape(g, shape, label: str, error=GradientMismatchError) -> np.ndarray:
    """``g`` as a real array of ``shape``: equal shapes, or shapes that differ only by singleton axes
    (a ``(1, 20)`` gradient for a ``(20,)`` parameter, as some course code returns; accepted with a
    :class:`~fastcheck.errors.ShapeNoteWarning`).  Anything else, and a complex or non-numeric ``g``,
    raises ``error`` with a message that starts with ``label`` ("the gradient for block 'W1'")."""
    try:
        g = np.asarray(g)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise error(f"{label} is not an array ({exc})") from None
    shape = tuple(shape)
    if np.iscomplexobj(g):
        raise error(f"{label} is complex ({g.dtype}): the gradient of a real cost is real; an imaginary part was "
                    "left in (a stray 1j term, or a complex intermediate)")
    if not np.issubdtype(g.dtype, np.number):
        raise error(f"{label} is not a numeric array (dtype {g.dtype})")
    if g.shape == shape:
        return g
    if g.size == int(np.prod(shape)) and tuple(d for d in g.shape if d != 1) == tuple(d for d in shape if d != 1):
        warnings.warn(f"{label} has shape {g.shape}, the block {shape}: accepted (they differ only by singleton "
                      "axes)", ShapeNoteWarning, stacklevel=3)
        return g.reshape(shape)
    raise error(f"{label} has shape {g.shape} but the block has shape {shape}")


def _blocks(layout) -> str:
    return ", ".join(f"{n!r} {s}" for n, s in zip(layout.names, layout.shapes))


def _shape_of(value) -> str:
    try:
        return str(np.shape(value))
    except (TypeError, ValueError):
        return type(value).__name__


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
        # Python's integers: exact, and a tenth of NumPy's time for a few blocks (every call builds a layout)
        object.__setattr__(self, "offsets", tuple(itertools.accumulate((math.prod(s) for s in shapes), initial=0)))

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
    def flatten(self, arrays: Mapping[str, ArrayLike], dtype: DTypeLike = np.float64) -> np.ndarray:
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

    def flatten_gradients(self, grads: Mapping[str, ArrayLike], prefixes: tuple[str, ...] = ("", "d"), *,
                          what: str = "the gradient") -> np.ndarray:
        """An analytic gradient as one float64 vector in the layout's order: the one reader of the
        gradients every entry point is handed.

        ``grads`` is a mapping with an entry for every block, keyed by the block's name or by a prefix and the
        name (``"dW1"``; the first of ``prefixes`` present wins; other keys, ``"dZ1"`` and the like, are
        ignored); or a list or tuple of arrays in block order; or one array, a flat vector of all the
        coordinates (or, for a one-block layout, that block).  A gradient may differ from its block's shape by
        singleton axes only (accepted with a :class:`~fastcheck.errors.ShapeNoteWarning`).

        Raises :class:`~fastcheck.errors.GradientMismatchError`, whose message starts with ``what`` and names
        the block, the keys (or arrays) given and the shapes, for a missing block, a wrong number of arrays,
        a wrong shape, and a complex or non-numeric gradient.
        """
        if isinstance(grads, Mapping):
            parts = []
            for name in self.names:
                key = next((p + name for p in prefixes if p + name in grads), None)
                if key is None:
                    looked = " or ".join(repr(p + name) for p in dict.fromkeys(prefixes))
                    given = ", ".join(f"{k!r} {_shape_of(v)}" for k, v in grads.items()) or "no keys"
                    raise GradientMismatchError(f"{what} for block {name!r} is missing: looked for {looked} among "
                                                f"{given}; the blocks are {_blocks(self)}")
                label = f"{what} for block {name!r}" + (f" ({key!r})" if key != name else "")
                parts.append((label, grads[key]))
        elif isinstance(grads, (list, tuple)):
            if len(grads) != len(self.names):
                given = ", ".join(_shape_of(g) for g in grads) or "none"
                raise GradientMismatchError(f"{what} has {len(grads)} array(s) for {len(self.names)} block(s); "
                                            f"their shapes: {given}; the blocks are {_blocks(self)}")
            parts = [(f"{what} for block {n!r} (array {i})", g) for i, (n, g) in enumerate(zip(self.names, grads))]
        elif isinstance(grads, (np.ndarray, np.generic, int, float, complex)):
            g = np.asarray(grads)
            if g.ndim == 1 and g.size == self.size:
                return fit_gradient_shape(g, (self.size,), what).astype(np.float64)
            if len(self.names) != 1:
                raise GradientMismatchError(f"{what} is one array of shape {g.shape}; expected a dict keyed by block, "
                                            f"a list in block order or a flat vector of {self.size}; the blocks are "
                                            f"{_blocks(self)}")
            parts = [(f"{what} for block {self.names[0]!r}", g)]
        else:
            keys = " or ".join(repr(p + "<block>") for p in dict.fromkeys(prefixes))
            raise GradientMismatchError(f"{what} must be a dict keyed by {keys}, a list of arrays in block order, "
                                        f"or an array; got {type(grads).__name__}")
        out = np.empty(self.size)
        for (label, g), shape, a, b in zip(parts, self.shapes, self.offsets[:-1], self.offsets[1:]):
            out[a:b] = fit_gradient_shape(g, shape, label).ravel()
        return out

    def unflatten(self, theta: ArrayLike) -> dict[str, np.ndarray]:
        """Split θ into ``{name: view}`` with the original shapes (no copy)."""
        theta = np.asarray(theta)
        if theta.ndim != 1 or theta.shape[0] != self.size:
            raise ValueError(f"theta must be 1-D of length {self.size} for this layout, got shape {theta.shape}")
        return {
            name: theta[a:b].reshape(shape)
            for name, shape, a, b in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])
        }

    # -- naming coordinates --------------------------------------------------
    def block_ids(self, coords: ArrayLike) -> np.ndarray:
        """Block number of each flat coordinate."""
        coords = np.asarray(coords, dtype=np.int64)
        bounds = np.asarray(self.offsets[1:])
        if len(coords) > 4 * len(bounds) and np.all(coords[1:] >= coords[:-1]):
            # sorted (a full check): the blocks' edges found in the coordinates, not each coordinate
            # among the edges (the same numbers; 10⁵ binary searches cost about a millisecond)
            edges = np.searchsorted(coords, bounds, side="left")
            return np.repeat(np.arange(len(bounds) + 1), np.diff(edges, prepend=0, append=len(coords)))
        return np.searchsorted(bounds, coords, side="right")

    def locate(self, i: int) -> tuple[str, tuple[int, ...]]:
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
