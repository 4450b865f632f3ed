"""The table a sweep returns: a pandas DataFrame that shows its plot in a notebook.

:func:`fastcheck.sweep.eps_sweep`, :func:`~fastcheck.sweep.hessian_eps_sweep`
and :func:`~fastcheck.sweep.size_sweep` return a :class:`SweepTable`.  It is
a DataFrame in every respect (columns, ``attrs``, ``to_csv``, :func:`fit_orders`)
except how a notebook renders it: ``_repr_html_`` embeds the sweep's figure
as a PNG — the V of error against ε with the fitted truncation and round-off
lines and the best ε starred, or the time of a check against model size — then
the fitted orders (eps sweeps) or the times per mode (size sweeps) as a
``<table>``, the points without a result and their reasons, and the rows
themselves as pandas shows them.  Without matplotlib (the ``report`` extra)
the tables come alone, with a line that says how to get the figure.  A slice
or any other table derived from it is a plain DataFrame.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from fastcheck.checks.table import html_table
from fastcheck.sweep.fit import fit_orders
from fastcheck.sweep.plot import draw_eps, draw_size_time

__all__ = ["SweepTable", "as_sweep_table", "sweep_kind"]

#: What the fitted-orders table of an eps sweep shows (the columns of :func:`fit_orders` a reader needs first).
FIT_COLUMNS = ["problem", "scheme", "dtype", "order", "truncation_slope", "roundoff_slope", "best_eps", "floor"]
#: What the times table of a size sweep shows.
SIZE_COLUMNS = ["problem", "n_params", "mode", "threads", "checked", "seconds", "difference", "verdict"]


def sweep_kind(frame: pd.DataFrame) -> str:
    """``"eps"`` or ``"size"``: the ``kind`` in ``frame.attrs``, else what its columns say."""
    kind = frame.attrs.get("kind") if isinstance(frame.attrs, dict) else None
    if kind in ("eps", "size"):
        return kind
    return "eps" if "eps" in frame.columns else "size"


class SweepTable(pd.DataFrame):
    """A sweep's table (see the module's docstring): a DataFrame whose notebook view holds its figure.

    It adds no state (its ``attrs`` are the DataFrame's), and ``_constructor`` stays pandas' own, so a
    slice, a copy or a concatenation is a plain DataFrame."""

    def figure(self):
        """The sweep's figure as a matplotlib ``Figure`` (the V of an eps sweep, the time against size of
        a size sweep); needs matplotlib."""
        frame = pd.DataFrame(self)
        if sweep_kind(self) == "eps":
            return draw_eps(frame, fit_orders(frame))
        return draw_size_time(frame)

    def _repr_html_(self) -> str:
        frame = pd.DataFrame(self)
        kind = sweep_kind(self)
        e = html.escape
        parts = ['<div class="fastcheck-sweep">', f"<p><strong>{e(_title(frame, kind))}</strong></p>"]
        finished = frame[np.isfinite(frame["difference" if kind == "eps" else "seconds"].astype(float))]
        fits = fit_orders(frame) if kind == "eps" and len(finished) else None
        if len(finished):
            parts.append(_figure_html(frame, fits, kind))
        else:
            parts.append("<p><em>no point of this sweep has a result yet: nothing to plot</em></p>")
        if fits is not None:
            parts += [("<p><strong>fitted orders</strong> (slopes of log error against log ε; "
                       "the best ε and the error floor)</p>"), html_table(fits[FIT_COLUMNS])]
        elif kind == "size" and len(finished):
            parts += ["<p><strong>seconds per check</strong></p>", html_table(finished[SIZE_COLUMNS])]
        notes = frame.loc[frame["note"].astype(str) != ""]
        if len(notes):
            keys = [c for c in ("problem", "scheme", "mode", "dtype") if c in notes.columns]
            counts = notes.groupby([*keys, "note"], sort=False).size().reset_index(name="points")
            parts += ["<p><strong>points without a result, and remarks</strong></p>", html_table(counts)]
        parts += [f"<details><summary>all {len(frame)} rows</summary>", pd.DataFrame._repr_html_(frame) or "",
                  "</details>", "</div>"]
        return "\n".join(parts)


def _title(frame: pd.DataFrame, kind: str) -> str:
    problems = ", ".join(str(p) for p in dict.fromkeys(frame["problem"]))
    if kind == "eps" and len(frame):
        eps = frame["eps"].astype(float)
        return (f"eps sweep of {problems}: {len(frame)} point(s), {frame['scheme'].nunique()} scheme(s) × "
                f"{frame['dtype'].nunique()} dtype(s) × {eps.nunique()} ε from {eps.max():.0e} to {eps.min():.0e}")
    return f"{kind} sweep of {problems}: {len(frame)} point(s)"


def _figure_html(frame: pd.DataFrame, fits, kind: str) -> str:
    """The figure as an ``<img>`` holding a base64 PNG, or a line that says why there is none."""
    try:
        import matplotlib  # noqa: F401 - the figure needs it; without it the tables come alone
    except ImportError:
        return ('<p><em>the plot needs matplotlib (<code>pip install "fastcheck[report]"</code>); '
                "the tables below hold the same numbers</em></p>")
    fig = draw_eps(frame, fits) if kind == "eps" else draw_size_time(frame)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    alt = "error against ε per scheme" if kind == "eps" else "seconds per check against n_params"
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{alt}" style="max-width:100%" src="data:image/png;base64,{data}"/>'


def as_sweep_table(frame: pd.DataFrame) -> SweepTable:
    """``frame`` as a :class:`SweepTable`: a plain DataFrame is retyped in place (nothing copied, its
    ``attrs`` kept); anything else is converted."""
    if isinstance(frame, SweepTable):
        return frame
    if type(frame) is pd.DataFrame:
        frame.__class__ = SweepTable
        return frame
    table = SweepTable(frame)
    table.attrs.update(getattr(frame, "attrs", {}))
    return table
