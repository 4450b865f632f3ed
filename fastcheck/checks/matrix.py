"""What the second-order checks share: a result over matrix entries, and its assembly.

A Hessian check judges entries (row i, column j) of H, a Hessian-vector or
Jacobian-vector check entries (row i, direction d) of H·V or J·U.
:class:`EntriesResult` is a :class:`~fastcheck.checks.result.CheckResult`
whose entries are those: its blocks are named after the rows' and the
columns' blocks (``"W1/b1"`` for a Hessian, ``"W1"`` for the rows of a
Hessian-vector product), :meth:`EntriesResult.worst` locates an entry by row
and column, and :meth:`EntriesResult.matrix` gives the numerical or analytic
matrix back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fastcheck import config
from fastcheck.checks.base import assemble
from fastcheck.checks.result import CheckResult
from fastcheck.core.layout import Layout
from fastcheck.verdicts import errorbars
from fastcheck.verdicts.errorbars import KINK_COLUMNS

__all__ = ["EntriesResult", "assemble_entries", "index_label"]


def index_label(layout: Layout, i: int) -> str:
    """``"[2,0]"``: the index of flat coordinate ``i`` in its block of ``layout``."""
    return "[" + ",".join(map(str, layout.locate(int(i))[1])) + "]"


class _EntryLabels:
    """Labels ``"[i]/[j]"`` (or ``"[i] u3"``) of entries, computed only when looked up."""

    def __init__(self, row_layout, col_label, rows, cols):
        self.row_layout, self.col_label, self.rows, self.cols = row_layout, col_label, rows, cols

    def __getitem__(self, e):
        return index_label(self.row_layout, self.rows[e]) + self.col_label(self.cols[e])


@dataclass(frozen=True, eq=False)
class EntriesResult(CheckResult):
    """A :class:`~fastcheck.checks.result.CheckResult` over the entries of a matrix.

    Extra attributes
    ----------------
    rows, cols : ndarray
        Per checked entry: its row (a flat coordinate of θ, or an output
        index) and its column (a coordinate of θ, or a direction number).
    row_layout : Layout
        The blocks of the rows (θ's layout for a Hessian or an HVP, the
        function's outputs for a JVP).
    col_layout : Layout or None
        The blocks of the columns for a Hessian (θ's layout); None when the
        columns are random directions.
    shape : tuple
        ``(n_rows, n_cols)`` of the whole matrix.
    notes : tuple of str
        Findings beyond the per-entry verdicts (an asymmetric analytic Hessian).
    what : str
        What was checked, for the report ("Hessian", "Hessian-vector products", ...).
    """

    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    row_layout: Layout = None
    col_layout: Layout = None
    shape: tuple = (0, 0)
    notes: tuple = ()
    what: str = "matrix"

    def _col_label(self, j) -> str:
        if self.col_layout is None:
            return f" u{int(j)}"
        return "/" + index_label(self.col_layout, j)

    def _col_block(self, j) -> str:
        return f"u{int(j)}" if self.col_layout is None else self.col_layout.locate(int(j))[0]

    def worst(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` entries with the largest absolute error (wrong ones first): block (the pair ``"A/B"``
        or the rows' block), index (``"[i]/[j]"`` in the pair's shape, or ``"[i] u3"``), row and col (flat),
        analytic, numerical, abs_err, rel_err, estimate, error_bar, status."""
        err = np.abs(self.analytic - self.numerical)
        err_key = np.where(np.isfinite(err), err, np.inf)
        status = self.status
        wrong_first = np.where(status == "wrong", 0, 1)
        order = np.lexsort((-err_key, wrong_first))[: max(int(k), 0)]
        scale = np.abs(self.analytic[order]) + np.abs(self.numerical[order])
        rel = np.divide(err[order], scale, out=np.zeros(len(order)), where=scale > 0)
        rows, cols = self.rows[order], self.cols[order]
        return pd.DataFrame({
            "block": [self.layout.names[b] for b in self.direction_blocks[order]],
            "index": [index_label(self.row_layout, r) + self._col_label(c) for r, c in zip(rows, cols)],
            "row": rows, "col": cols,
            "analytic": self.analytic[order], "numerical": self.numerical[order], "abs_err": err[order],
            "rel_err": rel, "estimate": self.estimate[order], "error_bar": self.error[order],
            "status": status[order],
        })

    def matrix(self, which: str = "numerical") -> np.ndarray:
        """The checked entries as a ``shape`` matrix ("numerical", "analytic", "estimate" or "error"); NaN elsewhere."""
        values = {"numerical": self.numerical, "analytic": self.analytic, "estimate": self.estimate,
                  "error": self.error}[which]
        out = np.full(self.shape, np.nan)
        out[self.rows, self.cols] = values
        return out

    def headline(self) -> str:
        d = f"difference {self.difference:.3e}"
        if self.passed:
            return f"PASSED — {self.verdict} ({d})"
        if self.verdict == "wrong":
            n = int(np.count_nonzero(self.status == "wrong"))
            return f"FAILED — wrong in {', '.join(self.wrong_blocks)}: {n} entries outside their error bars ({d})"
        return f"FAILED — inconclusive: {self.reason or 'the check could not decide'} ({d})"

    def hint(self) -> str:
        """Where to look first: the failing block pairs (and the asymmetry, if any)."""
        if not self.wrong_blocks:
            return ""
        return f"look at the {self.what} entries of: {', '.join(self.wrong_blocks)}"

    def to_dict(self, worst: int = 10) -> dict:
        out = super().to_dict(worst)
        out.update(hint=self.hint(), what=self.what, notes=list(self.notes), shape=list(self.shape))
        return out

    def __str__(self) -> str:
        head = (f"{self.what} check: {self.headline()}\n"
                f"  {len(self.analytic)} entries checked ({self.shape[0]} x {self.shape[1]}), scheme {self.scheme}, "
                f"{self.n_evals} function evaluations, {self.seconds:.3g} s on {self.threads} thread(s) [{self.path}]")
        lines = [head] + [f"  ({n})" for n in (self.note, *self.notes) if n] + ["", "per block:"]
        table = self.blocks.copy()
        table["difference"] = table["difference"].map(lambda v: f"{v:.2e}")
        table["max_abs_err"] = table["max_abs_err"].map(lambda v: f"{v:.2e}")
        lines += ["  " + ln for ln in table.to_string(index=False).splitlines()]
        if len(self.kinks):
            lines += ["", f"{len(self.kinks)} entries sit at a kink (the one-sided slopes differ); excluded from the verdict"]
        if not self.passed and len(self.analytic):
            lines += ["", "worst entries:"] + ["  " + ln for ln in self.worst(5).to_string(index=False).splitlines()]
            if self.hint():
                lines += ["", self.hint()]
        return "\n".join(lines)


def assemble_entries(ev, theta, j, *, rows, cols, row_layout, col_layout, pair_layout, pair_ids, analytic, thresholds,
                     kind, what, shape, steps, eps, scheme, seconds, notes=(), note="") -> EntriesResult:
    """An :class:`EntriesResult` from an :class:`~fastcheck.verdicts.entries.EntryJudgement` ``j``."""
    col_label = (lambda c: f" u{int(c)}") if col_layout is None else (lambda c: "/" + index_label(col_layout, c))
    labels = _EntryLabels(row_layout, col_label, rows, cols)
    kink = np.flatnonzero(j.status == errorbars.KINK)
    kinks = pd.DataFrame({"block": [pair_layout.names[b] for b in pair_ids[kink]], "index": [labels[e] for e in kink],
                          "coord": kink, "analytic": analytic[kink], "numerical": j.estimate[kink],
                          "left": j.kink_left[kink], "right": j.kink_right[kink]}, columns=KINK_COLUMNS)
    res = assemble(ev, theta, layout=pair_layout, thresholds=thresholds, block_ids=pair_ids, labels=labels,
                   analytic=analytic, compared=j.estimate, shown=j.numerical, status=j.status, why=j.why,
                   finite=j.finite, kind=kind, coords=np.arange(len(analytic), dtype=np.int64), eps=eps, steps=steps,
                   scheme=scheme, n_evals=j.n_evals, seconds=seconds, kinks=kinks,
                   nonfinite=np.flatnonzero(~j.finite), direction_blocks=pair_ids, error=j.error, estimate=j.estimate,
                   precision=theta.dtype.name, n_refined=j.refined, own_shown=True)
    fields = {f: getattr(res, f) for f in res.__dataclass_fields__}
    fields["note"] = note or fields["note"]
    return EntriesResult(**fields, rows=np.asarray(rows, np.int64), cols=np.asarray(cols, np.int64),
                         row_layout=row_layout, col_layout=col_layout, shape=tuple(shape), notes=tuple(notes),
                         what=what)


def passing(verdict: str) -> bool:
    return verdict in config.PASSING
