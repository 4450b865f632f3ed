"""The verdict bands and the block table: how differences and per-entry judgements become verdicts.

A difference ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) is read against the bands of the
classic gradient-checking recipe (great below 1e-7, double-check around
1e-5, a bug at 1e-3; the defaults are in :mod:`fastcheck.config`); a block
is "wrong" when an entry lies outside its error bar, "inconclusive" when an
entry could not be read.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.core.layout import Layout
from fastcheck.core.validate import validate_thresholds  # noqa: F401 - the checks import it from here
from fastcheck.verdicts.codes import counted as counted_entries
from fastcheck.verdicts.errorbars import INCONCLUSIVE, KINK_READ, NONFINITE, SETTLE, WHY_NAMES, WRONG, ZERO

if TYPE_CHECKING:  # names of annotations only
    from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BLOCK_COLUMNS", "band", "block_table", "hint", "overall", "relative_difference", "validate_thresholds",
           "verdict", "within_error_bars"]


def relative_difference(a: ArrayLike, b: ArrayLike) -> float:
    """||a − b||₂ / (||a||₂ + ||b||₂), the classic recipe's formula; 0 when both are 0.

    Computed on a and b scaled by their largest magnitude, so a gradient near the
    largest float (|g| ~ 1e281, whose squares overflow) still gets its difference."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    top = max(_absmax(a), _absmax(b))
    if top == 0:
        return 0.0
    if a.shape != b.shape or a.size <= _CHUNK:
        if np.isfinite(top):
            a, b = a / top, b / top
        den = _norm(a) + _norm(b)
        return 0.0 if den == 0 else float(_norm(a - b) / den)
    # A long vector (a Hessian's 4,000,000 entries): the same three sums over the same values, the values
    # written chunk by chunk into one scratch array rather than into five fresh ones.
    a, b = a.reshape(-1), b.reshape(-1)
    scale = top if np.isfinite(top) else None
    buf = np.empty(a.size)

    def squares(fill):
        for i in range(0, a.size, _CHUNK):
            out = buf[i : i + _CHUNK]
            fill(a[i : i + _CHUNK], b[i : i + _CHUNK], out)
            np.multiply(out, out, out=out)
        return float(np.sqrt(np.sum(buf)))

    def scaled(x, out):
        return np.divide(x, scale, out=out) if scale is not None else np.copyto(out, x)

    den = squares(lambda x, y, out: scaled(x, out)) + squares(lambda x, y, out: scaled(y, out))
    if den == 0:
        return 0.0
    if scale is None:
        return float(squares(lambda x, y, out: np.subtract(x, y, out=out)) / den)
    return float(squares(lambda x, y, out: np.subtract(x / scale, y / scale, out=out)) / den)


_CHUNK = 1 << 16


def _norm(x) -> float:
    """√Σx², by NumPy's own summation rather than BLAS: called right after a Numba
    parallel kernel, a BLAS ``ddot`` can stall for far longer than the sum
    takes while its threads wake up against Numba's still-spinning workers."""
    x = np.ravel(x)
    return float(np.sqrt(np.sum(x * x)))


def _absmax(x) -> float:
    """max |x| (NaN if any x is), without an array of |x|."""
    if not x.size:
        return 0.0
    hi = float(np.max(x))
    return hi if np.isnan(hi) else max(0.0, hi, -float(np.min(x)))


def verdict(difference: float, thresholds=None, *, at_noise: bool = False) -> str:
    """Read a difference against the bands ("great", "ok", "suspect", "wrong").

    ``at_noise`` marks a difference whose absolute errors are all below the
    round-off noise of the difference quotient: nothing can be read from it,
    so it is not held against the gradient.
    """
    t = thresholds or config.THRESHOLDS
    if at_noise:
        return "great"
    if not np.isfinite(difference):
        return "wrong"
    for name in ("great", "ok", "suspect"):
        if difference < t[name]:
            return name
    return "wrong"


def band(difference: float, thresholds=None) -> str:
    """The classic reading of a difference: "great", "ok", "suspect" or "wrong"."""
    return verdict(difference, thresholds)


def within_error_bars(difference: float, thresholds=None) -> str:
    """The verdict of a difference whose every coordinate agrees within its error bar:
    the band, but never worse than "ok" (numerics alone never make a gradient wrong)."""
    b = band(difference, thresholds)
    return b if b in config.PASSING else "ok"


def _layer_of(name: str, default: int) -> int:
    digits = re.search(r"(\d+)$", name)
    return int(digits.group(1)) if digits else default


def hint(layout: Layout, failing) -> str:
    """Where to look first, from which blocks fail.

    Backprop carries an error downwards: a wrong delta at layer l spoils the
    gradients of every layer below it.  So when every block up to some layer
    fails, the highest of them is where the error most likely enters; when
    every block fails, the gradient of the loss at the output is the first
    suspect.
    """
    failing = list(failing)
    if not failing:
        return ""
    names = list(layout.names)
    layers = [_layer_of(n, i + 1) for i, n in enumerate(names)]
    bad = {n for n in failing}
    if len(names) > 1 and bad == set(names):
        return ("every block fails: look first at the gradient of the loss with respect to the network's"
                " output (dJ/dŷ), which every block's gradient goes through")
    top = max(layers[names.index(n)] for n in failing)
    below = [n for n, l in zip(names, layers) if l <= top]
    if len({l for n, l in zip(names, layers) if n in bad}) > 1 and set(below) <= bad:
        entry = [n for n, l in zip(names, layers) if l == top]
        return (f"every block up to layer {top} fails: the error most likely enters at {', '.join(entry)}"
                " (the highest failing layer) and propagates down through backprop; look there first")
    return f"look at the backprop of: {', '.join(failing)}"


BLOCK_COLUMNS = ["block", "size", "checked", "difference", "max_abs_err", "worst_index", "verdict", "wrong", "resolution",
                 "note"]


def block_table(layout: Layout, ids, labels, analytic, numerical, status, why, thresholds, resolution=None,
                overall=None) -> pd.DataFrame:
    """Per-block verdicts of checked entries (coordinates or directions).

    ``ids`` gives the block number of each entry and ``labels`` its name
    inside the block (an index such as ``[2,0]``, or ``u3`` for a
    direction); ``status`` and ``why`` are the per-entry judgement of
    :mod:`fastcheck.verdicts.errorbars`.  A block is "wrong" when any entry is, else
    "inconclusive" when any entry could not be read (or a partial sample saw
    only zero gradients), else the band of its difference, no worse than
    "ok".  ``resolution`` (per block): the smallest error, relative to the block's gradient
    scale, the block's judgement would have caught (:mod:`fastcheck.verdicts.resolution`).
    ``overall``: the difference over every counted entry, when the caller
    has it (a block that holds every entry has that difference).
    """
    import pandas as pd

    ids = np.asarray(ids, np.int64)
    resolution = np.full(len(layout.names), np.nan) if resolution is None else np.asarray(resolution, np.float64)
    cols: dict[str, list] = {c: [] for c in BLOCK_COLUMNS}  # built by column: one DataFrame, no dict per row
    # entries sorted by block (a full check): each block is a slice, read through views rather than copies
    bounds = (np.searchsorted(ids, np.arange(len(layout.names) + 1)) if len(ids) and np.all(ids[1:] >= ids[:-1])
              else None)
    for b, name in enumerate(layout.names):
        if bounds is not None:
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            in_block, checked = slice(lo, hi), hi - lo
        else:
            in_block = ids == b
            checked = int(np.count_nonzero(in_block))
        if checked == 0:
            continue
        whole = checked == len(ids)  # one block holds every entry (a Hessian without a layout): no copies
        st = status if whole else status[in_block]
        wy = why if whole else why[in_block]
        members = _members(in_block)  # the block's entries: a slice, or their indices
        counted = counted_entries(st, wy)
        if whole and counted.all():
            sel, a, g = None, analytic, numerical
        elif isinstance(members, slice) and counted.all():
            sel, a, g = members, analytic[members], numerical[members]
        else:
            sel = np.flatnonzero(counted) if whole else _index(members, np.flatnonzero(counted))
            a, g = analytic[sel], numerical[sel]
        if len(a):
            w, max_err = _largest_gap(a, g)
            worst_label = labels[w if sel is None else (sel.start + w if isinstance(sel, slice) else sel[w])]
            diff = overall if whole and overall is not None else relative_difference(a, g)
        else:
            worst_label, max_err, diff = "", 0.0, 0.0
        n_wrong = int(np.count_nonzero(st == WRONG))
        note = ""
        if n_wrong:
            bad = _index(members, np.flatnonzero(st == WRONG))
            e = np.abs(analytic[bad] - numerical[bad])
            worst_label = labels[bad[int(np.argmax(e))]]
            max_err = max(max_err, float(e.max()))
            verdict_b = "wrong"
            note = f"{n_wrong} outside their error bars"
            n_left = int(np.count_nonzero((st == INCONCLUSIVE) & (wy == WHY_NAMES.index("unrefined"))))
            if n_left:
                note += f"; {n_left} more left unrefined"  # (the block is wrong already)
        elif np.any(st == NONFINITE) or np.any(st == INCONCLUSIVE):
            verdict_b = "inconclusive"
            keys = wy[(wy > 0) & (wy != KINK_READ)]
            note = SETTLE[WHY_NAMES[_main_reason(keys)]] if len(keys) else ""
            if len(keys) and WHY_NAMES[_main_reason(keys)] == "flat":
                top = float(np.max(np.abs(analytic[members])))
                note = (f"the cost did not change at all with this block's coordinates, while its analytic gradient"
                        f" is up to {top:.1e}: " + note)
        elif not counted.any():
            verdict_b = "inconclusive"
            note = SETTLE["kinks"]
        elif np.all(st == ZERO) and checked < layout.sizes[b]:
            verdict_b = "inconclusive"
            note = SETTLE["zeros"]
        else:
            verdict_b = within_error_bars(diff, thresholds)
            if np.all(st == ZERO):
                note = "all zero"
        for column, value in zip(BLOCK_COLUMNS, (
                name, int(layout.sizes[b]), checked, float(diff), float(max_err), worst_label, verdict_b, n_wrong,
                float(resolution[b]) if b < len(resolution) else np.nan, note)):
            cols[column].append(value)
    return pd.DataFrame(cols, columns=BLOCK_COLUMNS)


def _members(in_block):
    """A block's entries: its slice as it is, or the indices of a boolean mask."""
    return in_block if isinstance(in_block, slice) else np.flatnonzero(in_block)


def _index(members, k):
    """The entries at positions ``k`` of a block's ``members`` (a slice or indices)."""
    return members.start + k if isinstance(members, slice) else members[k]


def _largest_gap(a, g) -> tuple[int, float]:
    """``(i, |a_i − g_i|)`` at the first largest |a − g| (the first NaN, if any), as ``np.argmax`` finds it,
    a chunk at a time: no array of |a − g| as long as a Hessian's entries."""
    best, top = 0, -np.inf
    scratch = np.empty(min(len(a), _CHUNK))
    for i in range(0, len(a), _CHUNK):
        e = scratch[: min(_CHUNK, len(a) - i)]
        np.subtract(a[i : i + _CHUNK], g[i : i + _CHUNK], out=e)
        np.abs(e, out=e)
        k = int(np.argmax(e))
        if np.isnan(e[k]):
            return i + k, float(e[k])
        if e[k] > top:
            best, top = i + k, float(e[k])
    return best, top


def _main_reason(keys) -> int:
    """The why-code to explain a block by: the cost's own failings first, then the commonest."""
    keys = np.asarray(keys, np.int64)
    for name in ("random", "flat", "nonfinite"):
        code = WHY_NAMES.index(name)
        if np.any(keys == code):
            return code
    vals, counts = np.unique(keys, return_counts=True)
    return int(vals[np.argmax(counts)])


def overall(blocks: pd.DataFrame, difference: float, thresholds, n_nonfinite: int = 0) -> tuple[str, str]:
    """The overall verdict and, for an inconclusive one, the reason."""
    verdicts = blocks["verdict"].tolist()  # plain lists: a boolean index of a DataFrame costs a millisecond
    if "wrong" in verdicts:
        return "wrong", ""
    inc = [i for i, v in enumerate(verdicts) if v == "inconclusive"]
    if inc:
        note, block = blocks["note"].tolist(), blocks["block"].tolist()
        notes = list(dict.fromkeys(note[i] for i in inc if note[i]))
        where = ", ".join(str(block[i]) for i in inc)
        lead = f"non-finite cost at {n_nonfinite} perturbed coordinate(s); " if n_nonfinite else ""
        return "inconclusive", f"{lead}{where}: {'; '.join(notes)}"
    return within_error_bars(difference, thresholds), ""
