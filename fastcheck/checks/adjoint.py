"""The dot-product test of an adjoint: ⟨J u, v⟩ = ⟨u, Jᵀ v⟩ for seeded random u and v.

No finite differences at all: both sides are computed by the user's own
``jvp`` and ``vjp``, and the only error allowed between them is rounding.
The error bar of a pair is ``(n + m)·ε·(Σ|(Ju)_i·v_i| + Σ|u_i·(Jᵀv)_i|)`` (the
rounding of both inner products, Higham's γ bound, with the dimension also
covering the rounding inside the two products), so a VJP that is the
transpose of a slightly wrong matrix (relative 1e-4) fails while rounding
passes; ``rtol=`` widens the bar for operators that are only adjoint to a
tolerance (an iterative solver inside).  With a layout of x, the u are drawn
inside every block, so the report names the block whose adjoint is wrong.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.checks.base import assemble
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout
from fastcheck.core.validate import as_theta, layout_for
from fastcheck.verdicts import errorbars
from fastcheck.verdicts.bands import validate_thresholds

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable, Mapping

    from numpy.typing import ArrayLike

__all__ = ["AdjointResult", "check_adjoint"]


@dataclass(frozen=True, eq=False)
class AdjointResult(CheckResult):
    """A :class:`~fastcheck.checks.result.CheckResult` of pairs (u, v): ``analytic`` is ⟨Ju, v⟩, ``numerical``
    ⟨u, Jᵀv⟩, ``error`` the rounding bar of each pair."""

    def headline(self) -> str:
        d = f"difference {self.difference:.3e}"
        if self.passed:
            return f"PASSED — {self.verdict}: <Ju, v> = <u, J^T v> within rounding for {len(self.analytic)} pairs ({d})"
        n = int(np.count_nonzero(self.status == "wrong"))
        return (f"FAILED — wrong in {', '.join(self.wrong_blocks)}: {n} of {len(self.analytic)} pairs (u, v) differ "
                f"beyond their rounding ({d})")

    def __str__(self) -> str:
        lines = [f"adjoint (dot-product) test: {self.headline()}", "", "per block of x:"]
        table = self.blocks.drop(columns=["worst_index"]).rename(columns={"checked": "pairs"})
        lines += ["  " + ln for ln in table.to_string(index=False).splitlines()]
        if not self.passed:
            worst = self.worst(5).rename(columns={"index": "pair", "analytic": "<Ju,v>", "numerical": "<u,JTv>"})
            lines += ["", "worst pairs:"] + ["  " + ln for ln in worst.drop(columns=["estimate"]).to_string(
                index=False).splitlines()]
        return "\n".join(lines)


def _flat(value, shape, what) -> np.ndarray:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{what} must return a float array, got dtype {arr.dtype}")
    if shape is not None and arr.size != int(np.prod(shape)):
        raise ValueError(f"{what} returned shape {arr.shape}; expected {tuple(shape)} (is it the transpose?)")
    arr = arr.reshape(-1).astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} returned NaN or inf")
    return arr


def check_adjoint(jvp: Callable[..., ArrayLike], vjp: Callable[..., ArrayLike], x: ArrayLike, *, args: tuple = (),
                  n_pairs: int = 8, seed: int = 0, layout: Layout | None = None,
                  thresholds: Mapping[str, float] | None = None,
                  rtol: float = 0.0) -> AdjointResult:
    """The dot-product test: ``⟨jvp(x, u), v⟩`` against ``⟨u, vjp(x, v)⟩`` for ``n_pairs`` random pairs.

    Parameters
    ----------
    jvp : callable
        ``jvp(x, u, *args)`` returns J u (any shape; v is drawn in that shape).
    vjp : callable
        ``vjp(x, v, *args)`` returns Jᵀ v, shaped like x.
    x : 1-D float array
        The point (for a linear operator, any x of the right size).
    n_pairs : int
        Random pairs (u, v), standard normal, from ``seed``; with ``layout``
        (x's blocks) that many per block, u zero outside its block.
    rtol : float
        A relative tolerance added to the rounding bar, for operators that are
        adjoint only to a solver's tolerance.

    Returns
    -------
    AdjointResult
        ``kind="adjoint"``; per pair ``analytic`` is ⟨Ju, v⟩, ``numerical``
        ⟨u, Jᵀv⟩, ``error`` the bar; wrong beyond ``config.MARGIN`` bars.
    """
    x = as_theta(x, "x")
    args = args if isinstance(args, tuple) else (args,)
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    if not (np.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    thresholds = validate_thresholds(thresholds)
    lay = layout_for(x, layout) if layout is not None else Layout.single(len(x), "x")
    rng = np.random.default_rng(seed)
    n = len(x)
    out_shape = None
    t0 = time.perf_counter()
    lhs, rhs, bars, blocks = [], [], [], []
    for b, (a0, a1) in enumerate(zip(lay.offsets[:-1], lay.offsets[1:])):
        for _ in range(int(n_pairs)):
            u = np.zeros(n)
            u[a0:a1] = rng.standard_normal(a1 - a0)
            ju = np.asarray(jvp(x.copy(), u.astype(x.dtype), *args))
            if out_shape is None:
                out_shape = ju.shape
            ju = _flat(ju, out_shape, "jvp")
            v = rng.standard_normal(ju.size)
            jtv = _flat(vjp(x.copy(), v.reshape(out_shape).astype(x.dtype), *args), (n,), "vjp")
            left, right = float(ju @ v), float(u @ jtv)
            mag = float(np.abs(ju) @ np.abs(v) + np.abs(u) @ np.abs(jtv))
            eps = float(np.finfo(x.dtype).eps)
            lhs.append(left)
            rhs.append(right)
            bars.append((n + ju.size) * eps * mag + rtol * mag)
            blocks.append(b)
    lhs, rhs, bars = np.array(lhs), np.array(rhs), np.array(bars)
    blocks = np.asarray(blocks, np.int64)
    dev = np.abs(lhs - rhs)
    status = np.where(dev > config.MARGIN * bars, errorbars.WRONG, errorbars.AGREE).astype(np.int8)
    status[(lhs == 0) & (rhs == 0)] = errorbars.ZERO
    seconds = time.perf_counter() - t0
    ev = SimpleNamespace(threads=1, path="dot-product test", note="no finite differences: ⟨Ju, v⟩ against ⟨u, Jᵀv⟩",
                         compile_seconds=0.0)
    finite = np.ones(len(lhs), bool)
    res = assemble(ev, x, layout=lay, thresholds=thresholds, block_ids=blocks,
                    labels=[f"u{k}" for k in range(len(lhs))], analytic=lhs, compared=rhs, shown=rhs, status=status,
                    why=np.zeros(len(lhs), np.int8), finite=finite, kind="adjoint",
                    coords=np.arange(len(lhs), dtype=np.int64), eps=None, steps=np.zeros(len(lhs)),
                    scheme="dot-product", n_evals=2 * len(lhs), seconds=seconds, direction_blocks=blocks, error=bars,
                    estimate=rhs, precision=x.dtype.name)
    return AdjointResult(**{f.name: getattr(res, f.name) for f in dataclasses.fields(res)})
