"""The figures of a sweep, drawn in memory: the V of an eps sweep and the time of a size sweep.

:mod:`fastcheck.report` saves them as PNG files; a sweep's table
(:class:`fastcheck.sweep.result.SweepTable`) shows them inline in a notebook.
Needs matplotlib (the ``report`` extra), imported when a figure is drawn; the
figures use matplotlib's object API on an Agg canvas, never pyplot, so drawing
one changes no global state and opens no window.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastcheck.support.escape import mathtext_plain

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLORS", "draw_eps", "draw_size_time", "new_figure"]

#: One colour per scheme / mode, stable across plots.
COLORS = {
    "forward": "#1f77b4", "backward": "#17becf", "central": "#d62728", "central4": "#2ca02c", "complex": "#9467bd",
    "structured": "#d62728", "blackbox": "#1f77b4", "directional": "#2ca02c", "sampled": "#ff7f0e",
}


def new_figure(nrows, ncols, w=5.2, h=4.0):
    """A matplotlib ``Figure`` on an Agg canvas and its 2-d array of axes (``w`` × ``h`` inches a panel)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows), dpi=110)
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    return fig, axes


def draw_eps(df: pd.DataFrame, fits: pd.DataFrame):
    """The V: error against ε per scheme, one panel per (problem, dtype), the fitted truncation and
    round-off lines dashed and the best ε starred (``fits``: :func:`fastcheck.sweep.fit_orders` of ``df``)."""
    problems = list(dict.fromkeys(df["problem"]))
    dtypes = list(dict.fromkeys(df["dtype"]))
    fig, axes = new_figure(len(problems), len(dtypes))
    metric = fits["metric"].iloc[0] if len(fits) else "max_abs_err"
    for i, prob in enumerate(problems):
        for j, dt in enumerate(dtypes):
            ax = axes[i, j]
            sub = df[(df["problem"] == prob) & (df["dtype"] == dt)]
            for scheme in dict.fromkeys(sub["scheme"]):
                g = sub[sub["scheme"] == scheme].sort_values("eps")
                ok = np.isfinite(g[metric]) & (g[metric] > 0)
                if not ok.any():
                    continue
                color = COLORS.get(scheme, None)
                f = fits[(fits["problem"] == prob) & (fits["dtype"] == dt) & (fits["scheme"] == scheme)]
                label = mathtext_plain(scheme)
                if len(f):
                    f = f.iloc[0]
                    ts, rs = f["truncation_slope"], f["roundoff_slope"]
                    parts = [f"{ts:+.2f}" if np.isfinite(ts) else "–", f"{rs:+.2f}" if np.isfinite(rs) else "–"]
                    label = f"{label}: slopes {parts[0]} / {parts[1]}"
                ax.loglog(g["eps"][ok], g[metric][ok], "o-", ms=3, lw=1.2, color=color, label=label)
                if len(f):
                    for branch in ("truncation", "roundoff"):
                        s, b = f[f"{branch}_slope"], f[f"{branch}_intercept"]
                        lo, hi = f[f"{branch}_eps_min"], f[f"{branch}_eps_max"]
                        if np.isfinite(s):
                            x = np.array([lo, hi])
                            ax.loglog(x, 10 ** (b + s * np.log10(x)), "--", lw=2.2, color=color, alpha=0.55)
                    if np.isfinite(f["best_eps"]) and f["floor"] > 0:
                        ax.loglog([f["best_eps"]], [f["floor"]], "*", ms=13, color=color, mec="black", mew=0.6)
            if not ax.has_data():  # every point skipped: say why instead of an empty frame
                import textwrap

                reasons = [mathtext_plain(n) for n in dict.fromkeys(sub["note"]) if n]
                ax.text(0.5, 0.5, "\n".join(textwrap.fill(r, 48) for r in reasons[:3]) or "no finite errors",
                        ha="center", va="center", fontsize=8, transform=ax.transAxes, color="dimgray")
                ax.set_xscale("log")
                ax.set_yscale("log")
            ax.set_title(mathtext_plain(f"{prob} — {dt}"), fontsize=10)
            ax.set_xlabel("ε (absolute step)")
            ax.set_ylabel(mathtext_plain(f"{metric} of the numerical gradient"))
            ax.grid(True, which="major", alpha=0.3)
            if ax.has_data():
                ax.legend(fontsize=7, loc="best")
    fig.suptitle("error vs ε: dashed = fitted truncation / round-off lines, ★ = best ε", fontsize=11)
    fig.tight_layout()
    return fig


def draw_size_time(df: pd.DataFrame):
    """Seconds per check against n_params, per mode, at the largest thread count, with O(n) and O(n²) guides."""
    fig, axes = new_figure(1, 1, 6.4, 4.6)
    ax = axes[0, 0]
    t_max = int(df["threads"].max())
    sub = df[(df["threads"] == t_max) & np.isfinite(df["seconds"])]
    for mode in dict.fromkeys(sub["mode"]):
        g = sub[sub["mode"] == mode].sort_values("n_params")
        ax.loglog(g["n_params"], g["seconds"], "o-", color=COLORS.get(mode), label=mathtext_plain(mode))
    if len(sub):
        n = np.array([sub["n_params"].min(), sub["n_params"].max()], dtype=float)
        if n[1] > n[0]:
            anchor = sub.sort_values("n_params").iloc[0]
            t0 = anchor["seconds"]
            ax.loglog(n, t0 * n / n[0], ":", color="gray", label="O(n) guide")
            ax.loglog(n, t0 * (n / n[0]) ** 2, "-.", color="gray", label="O(n²) guide")
    ax.set_xlabel("n_params")
    ax.set_ylabel(f"seconds per check ({t_max} thread{'s' if t_max > 1 else ''})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("time vs model size", fontsize=11)
    fig.tight_layout()
    return fig
