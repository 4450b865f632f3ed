"""The tables a check returns (``blocks``, ``worst()``, ``kinks``), printable as they are.

A :class:`Table` is a pandas DataFrame in every respect but its text: ``print(result.blocks)`` shows
every row, column and number, formatted short (errors as ``1.23e-08``, values with six significant
digits), and continues the columns that do not fit in a further section (repeating the first column)
rather than hiding them behind ``...`` when the terminal (``COLUMNS``; 80 when output is piped) is
narrower than the table.  Slices keep the type, so
``print(result.blocks[["block", "verdict"]])`` reads the same way.  In a notebook, a Table renders as
pandas renders a DataFrame.

This module imports pandas: it is imported when a check builds its result, never by ``import fastcheck``.
"""
from __future__ import annotations

import html
import math
import os
import shutil

import numpy as np
import pandas as pd

__all__ = ["ERROR_COLUMNS", "VALUE_COLUMNS", "Table", "as_table", "cell", "empty_table", "format_table", "html_table",
           "terminal_width"]

#: Columns of errors and differences (shown as 1.23e-08), and of gradient values (six significant digits).
ERROR_COLUMNS = frozenset({"difference", "max_abs_err", "abs_err", "rel_err", "error_bar", "error", "floor",
                           "best_eps", "best eps", "eps", "step", "step_median", "resolution"})
VALUE_COLUMNS = frozenset({"analytic", "numerical", "estimate", "left", "right"})

#: How verdict cells are coloured in HTML.
VERDICT_COLOURS = {"great": "#1a7f37", "ok": "#1a7f37", "suspect": "#9a6700", "wrong": "#cf222e",
                   "inconclusive": "#9a6700", "agree": "#1a7f37", "zero": "#1a7f37", "kink": "#9a6700",
                   "nonfinite": "#cf222e"}


def terminal_width(default: int = 80) -> int:
    """Columns to fit: ``COLUMNS`` if set, the terminal's width on a terminal, else ``default``."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return shutil.get_terminal_size((default, 24)).columns


def cell(value, column: str = "") -> str:
    """One table cell as text: never cut; NaN as ``–``."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "–"
        if column in ERROR_COLUMNS:
            return f"{v:.2e}"
        if column in VALUE_COLUMNS:
            return f"{v:.6g}"
        return f"{v:.4g}"
    return str(value)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in values if v is not None)


def format_table(frame: pd.DataFrame, width: int | None = None, index: bool = False, drop_empty: bool = True) -> str:
    """``frame`` as plain text: every row, every column and every number in full (numbers right-aligned,
    text left-aligned, two spaces between columns).  Columns that do not fit ``width`` (default:
    :func:`terminal_width`) continue in a further section below, which repeats the first column; no
    cell is ever cut.  A text column with no text in any row (a ``note`` nothing needed) is left out
    (``drop_empty=False`` keeps it)."""
    if index:
        frame = frame.reset_index()
    if drop_empty and len(frame):
        empty = [c for c in frame.columns
                 if (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))
                 and all(v is None or (isinstance(v, str) and v == "") for v in frame[c].tolist())]
        frame = frame.drop(columns=empty)
    columns = [str(c) for c in frame.columns]
    if not columns:
        return "(no columns)"
    width = terminal_width() if width is None else max(int(width), 20)
    cols = []
    for name, col in zip(columns, frame.columns):
        values = frame[col].tolist()
        cells = [cell(v, name) for v in values]
        w = max([len(name)] + [len(c) for c in cells])
        right = _numeric(values) and len(values) > 0
        cols.append((name, cells, w, right))

    def render(chunk) -> list:
        def fit(text, w, right):
            return text.rjust(w) if right else text.ljust(w)

        lines = ["  ".join(fit(n, w, r) for n, _, w, r in chunk).rstrip()]
        for i in range(len(frame)):
            lines.append("  ".join(fit(c[i], w, r) for _, c, w, r in chunk).rstrip())
        return lines

    sections, chunk, used = [], [], 0
    for col in cols:
        need = col[2] + (2 if chunk else 0)
        if chunk and used + need > width:
            sections.append(chunk)
            chunk, used = [cols[0]], cols[0][2]
            need = col[2] + 2
        chunk.append(col)
        used += need
    sections.append(chunk)
    out = []
    for k, section in enumerate(sections):
        if k:
            out.append("")
        out += render(section)
    return "\n".join(out)


def html_table(frame: pd.DataFrame, verdict_columns=("verdict", "status"), max_rows: int | None = None) -> str:
    """``frame`` as an HTML ``<table>``, numbers formatted as in the text, verdicts coloured."""
    rows = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = []
    for record in rows.itertuples(index=False):
        cells = []
        for c, v in zip(rows.columns, record):
            text = html.escape(cell(v, c))
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            style = "text-align:right;font-family:monospace" if numeric else "text-align:left"
            if c in verdict_columns and v in VERDICT_COLOURS:
                style += f";color:{VERDICT_COLOURS[v]};font-weight:bold"
            cells.append(f'<td style="{style}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = "" if max_rows is None or len(frame) <= max_rows else (
        f'<tr><td colspan="{len(rows.columns)}">… {len(frame) - max_rows} more</td></tr>')
    return (f'<table class="fastcheck"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}{more}'
            "</tbody></table>")


class Table(pd.DataFrame):
    """A DataFrame whose text shows every column and number (see the module's docstring)."""

    _metadata: list = []

    @property
    def _constructor(self):
        return Table

    def __repr__(self) -> str:
        return format_table(self)

    __str__ = __repr__

    def to_text(self, width: int | None = None) -> str:
        """The table as plain text fitted to ``width`` columns (default: the terminal's)."""
        return format_table(self, width)


def as_table(frame) -> Table:
    """``frame`` as a :class:`Table`: a plain DataFrame is retyped in place (a Table adds no state, only its
    text, so this costs nothing per check); a Table is returned as it is; anything else is converted."""
    if isinstance(frame, Table):
        return frame
    if type(frame) is pd.DataFrame:
        frame.__class__ = Table
        return frame
    return Table(frame)


_EMPTY: dict[tuple[str, ...], Table] = {}


def empty_table(columns) -> Table:
    """A Table with ``columns`` and no rows (most checks find no kinks and run no cross-check).

    Each call returns a new frame (a shallow copy of one kept per set of columns: building a DataFrame
    costs a millisecond, copying an empty one a fiftieth of that), so a caller may change it freely.
    """
    key = tuple(columns)
    proto = _EMPTY.get(key)
    if proto is None:
        proto = _EMPTY[key] = Table(columns=list(key))
    return proto.copy(deep=False)
