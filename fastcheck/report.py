"""Report files of a sweep: results.parquet/.csv, PNG plots and a README.md.

``write_report(directory)`` reads what a sweep left in ``directory``
(``results.csv`` and ``sweep.json``) and writes

* eps sweeps: ``eps_error.png`` (log-log error against ε, one panel per
  problem and dtype, one curve per scheme, the fitted truncation and
  round-off lines dashed, the best ε starred: the classic V) and
  ``fits.csv`` (:func:`fastcheck.sweep.fit_orders`);
* size sweeps: ``time_vs_params.png`` (seconds against n_params per mode,
  with O(n) and O(n²) guides) and ``speedup_vs_threads.png``;
* ``README.md`` with the tables and the plots embedded.

Needs the ``report`` extra (matplotlib, pyarrow).  Every file is written
through a temporary file and an atomic replace, under the directory's lock
(:mod:`fastcheck.support.files`): a full disk or a kill leaves the previous complete
file, and ``results.csv`` read from the directory is never rewritten.
"""
from __future__ import annotations

import datetime as _dt
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.errors import ReportError, SweepFileError
from fastcheck.support.escape import mathtext_plain, md_code_block, md_text
from fastcheck.support.files import atomic_write, directory_lock, read_bounded, write_text
from fastcheck.sweep.fit import best_rows, fit_notes, fit_orders
from fastcheck.sweep.plot import COLORS, draw_eps, draw_size_time, new_figure
from fastcheck.sweep.result import as_sweep_table
from fastcheck.sweep.schema import EPS_SCHEMA, SIZE_SCHEMA
from fastcheck.sweep.store import META_JSON, RESULTS_CSV, RESULTS_PARQUET, ResultStore, read_json, safe_cells

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_results", "markdown_table", "plot_eps", "plot_size_time", "plot_speedup", "write_report"]

def _save(fig, path) -> Path:
    """``fig`` as a PNG at ``path``, replaced atomically."""
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")
    return Path(path)


def _to_csv(df, path) -> None:
    with atomic_write(path, "w", newline="") as fh:
        safe_cells(df).to_csv(fh, index=False)  # no text cell a spreadsheet would run as a formula


def _to_parquet(df, path) -> None:
    with atomic_write(path, "wb") as fh:
        df.to_parquet(fh, index=False)


# -- loading ---------------------------------------------------------------------------
def load_results(directory):
    """``(table, meta)`` of a sweep directory (parquet if present and newer, else CSV); the table is a
    :class:`fastcheck.sweep.SweepTable`, which shows its plot in a notebook."""
    import pandas as pd

    directory = Path(directory)
    meta_path = directory / META_JSON
    if not directory.is_dir():
        raise ReportError(f"{directory} is not a directory")
    try:
        meta = read_json(meta_path) if meta_path.exists() else {}
    except SweepFileError as exc:
        raise ReportError(str(exc)) from None
    csv = directory / RESULTS_CSV
    kind = meta.get("kind")
    if not csv.exists() and not (directory / RESULTS_PARQUET).exists():
        raise ReportError(f"{directory} holds no {RESULTS_CSV}; run `fastcheck sweep` with this directory first")
    if csv.exists():
        try:
            if kind is None:
                header = read_bounded(csv).split(b"\n", 1)[0].decode("utf-8", "replace").split(",")
                kind = "eps" if "eps" in header else "size" if "mode" in header else None
            schema = EPS_SCHEMA if kind == "eps" else SIZE_SCHEMA
            df = ResultStore(directory, schema).read()
        except SweepFileError as exc:
            raise ReportError(str(exc)) from None
    else:
        import io

        try:
            data = read_bounded(directory / RESULTS_PARQUET)
        except SweepFileError as exc:
            raise ReportError(str(exc)) from None
        df = pd.read_parquet(io.BytesIO(data))
        kind = kind or ("eps" if "eps" in df.columns else "size")
    if kind not in ("eps", "size"):
        raise ReportError(f"cannot tell what kind of sweep {directory} holds")
    meta["kind"] = kind
    return as_sweep_table(df), meta  # in a notebook the table shows its plot


# -- tables ----------------------------------------------------------------------------
def _fmt(v, spec):
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return format(v, spec)
    if isinstance(v, (bool, int, np.bool_, np.integer)):
        return str(v)
    return md_text(v)  # text from the results file shows as text (no HTML, no Markdown, one line)


def markdown_table(df: pd.DataFrame, formats: dict | None = None) -> str:
    """A GitHub-flavoured Markdown table (``formats``: column -> format spec); text cells and headers are
    escaped (:func:`fastcheck.support.escape.md_text`)."""
    formats = formats or {}
    cols = list(df.columns)
    lines = ["| " + " | ".join(md_text(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        cells = [_fmt(r[c], formats.get(c, ".3g")) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- plots -------------------------------------------------------------------------------
def plot_eps(df: pd.DataFrame, fits: pd.DataFrame, path) -> Path:
    """The V: error against ε per scheme, one panel per (problem, dtype) (:func:`fastcheck.sweep.plot.draw_eps`)."""
    return _save(draw_eps(df, fits), path)


def plot_size_time(df: pd.DataFrame, path) -> Path:
    """Seconds per check against n_params, per mode, at the largest thread count."""
    return _save(draw_size_time(df), path)


def plot_speedup(df: pd.DataFrame, path) -> Path:
    """Speed-up t(1 thread) / t(k threads) per mode, for the largest problem each mode ran."""
    fig, axes = new_figure(1, 1, 6.4, 4.6)
    ax = axes[0, 0]
    ok = df[np.isfinite(df["seconds"])]
    threads = sorted(ok["threads"].unique())
    for mode in dict.fromkeys(ok["mode"]):
        g = ok[ok["mode"] == mode]
        if g.empty:
            continue
        biggest = g.sort_values("n_params").iloc[-1]["problem"]
        g = g[g["problem"] == biggest].sort_values("threads")
        if len(g) < 2 or 1 not in set(g["threads"]):
            continue
        t1 = float(g.loc[g["threads"] == 1, "seconds"].iloc[0])
        ax.plot(g["threads"], t1 / g["seconds"], "o-", color=COLORS.get(mode), label=mathtext_plain(f"{mode} ({biggest})"))
    if threads:
        ax.plot(threads, threads, ":", color="gray", label="ideal")
    ax.set_xlabel("Numba threads")
    ax.set_ylabel("speed-up over 1 thread")
    ax.set_xticks(threads)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("speed-up vs threads", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


# -- the report ----------------------------------------------------------------------------
def _environment() -> str:
    import numba

    from fastcheck._version import __version__
    from fastcheck.support.resources import available_cores

    return (f"fastcheck {__version__}, numba {numba.__version__}, numpy {np.__version__}, "
            f"Python {platform.python_version()}, {available_cores()} core(s), {platform.machine()}")


def write_report(directory, df: pd.DataFrame | None = None, meta: dict | None = None, *, title: str | None = None) -> list:
    """Write the report files of a sweep into ``directory``.

    Parameters
    ----------
    directory : path
        A sweep's output directory (``results.csv`` + ``sweep.json``), or
        any directory when ``df`` is given.
    df : DataFrame, optional
        The sweep table (default: read from ``directory``).
    meta : dict, optional
        ``kind`` ("eps" or "size") and the sweep's settings (default: from
        ``sweep.json`` or ``df.attrs``).

    Returns
    -------
    list of Path
        The files written.
    """
    directory = Path(directory)
    if df is None and not directory.is_dir():
        raise ReportError(f"{directory} is not a directory")
    with directory_lock(directory):  # one writer: not while a sweep writes here
        return _write_report(directory, df, meta, title)


def _write_report(directory, df, meta, title) -> list:
    written = []
    if df is None:
        df, meta0 = load_results(directory)
        meta = {**meta0, **(meta or {})}
        from_file = True
    else:
        meta = {**dict(df.attrs), **(meta or {})}
        meta.setdefault("kind", "eps" if "eps" in df.columns else "size")
        directory.mkdir(parents=True, exist_ok=True)
        from_file = False
    if df.empty:
        raise ReportError(f"{directory}: the sweep has no finished points yet")
    kind = meta["kind"]
    df = df.copy()  # never touch the caller's table
    df.attrs = {}
    _to_parquet(df, directory / RESULTS_PARQUET)
    written.append(directory / RESULTS_PARQUET)
    if not from_file:  # a table read from results.csv is never written back over it
        _to_csv(df, directory / RESULTS_CSV)
        written.append(directory / RESULTS_CSV)
    if kind == "eps":
        fits = fit_orders(df)
        _to_csv(fits, directory / "fits.csv")
        written.append(directory / "fits.csv")
        written.append(plot_eps(df, fits, directory / "eps_error.png"))
        text = _eps_readme(df, fits, meta, title)
    else:
        written.append(plot_size_time(df, directory / "time_vs_params.png"))
        written.append(plot_speedup(df, directory / "speedup_vs_threads.png"))
        text = _size_readme(df, meta, title)
    written.append(write_text(directory / "README.md", text))
    return written


def _header(title, meta) -> list:
    lines = [f"# {md_text(title)}", ""]
    if meta.get("command"):  # a fence the command cannot close: it shows as typed, never as Markdown
        lines += ["Made with", "", *md_code_block(meta["command"]), ""]
    lines += [f"Environment: {_environment()}. Written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.", ""]
    return lines


def _eps_readme(df, fits, meta, title) -> str:
    problems = ", ".join(dict.fromkeys(df["problem"]))
    lines = _header(title or f"Error vs ε: {problems}", meta)
    eps = np.sort(df["eps"].unique())
    lines += [
        f"{len(df)} grid points: {df['problem'].nunique()} problem(s) × {df['scheme'].nunique()} scheme(s) × "
        f"{df['dtype'].nunique()} dtype(s) × {len(eps)} ε from {eps.max():.0e} to {eps.min():.0e}. "
        f"Each point is a full per-coordinate check ({int(df['checked'].max())} coordinate(s)) against the float64 "
        "analytic gradient at the same (rounded) point; the error plotted is the largest absolute error over the "
        f"checked coordinates. Total compute {df['seconds'].sum():.1f} s.",
        "",
        "![error vs eps](eps_error.png)",
        "",
        "## Fitted orders",
        "",
        "Slopes of log error against log ε (Theil–Sen) on the truncation branch (right of the best ε; theory: "
        "the scheme's order) and the round-off branch (left; theory: −1, none for the complex step). A branch "
        "starts 3× above the typical error around the best ε and runs without a gap from its end of the curve; "
        "steps with non-finite costs are left out, and so are lone round-off points far below their neighbours "
        "when placing the floor and the best ε (the largest step within 1.25× of the floor). "
        "`predicted eps` is the textbook optimum u^(1/(p+1)) for a unit-scale cost.",
        "",
    ]
    table = fits[["problem", "scheme", "dtype", "order", "truncation_slope", "truncation_points", "roundoff_slope",
                  "roundoff_points", "best_eps", "floor", "predicted_eps"]].rename(columns={
                      "truncation_slope": "truncation slope", "truncation_points": "pts",
                      "roundoff_slope": "round-off slope", "roundoff_points": "pts ", "best_eps": "best eps",
                      "predicted_eps": "predicted eps", "floor": "error floor"})
    lines += [markdown_table(table, {"truncation slope": "+.2f", "round-off slope": "+.2f", "best eps": ".1e",
                                     "error floor": ".2e", "predicted eps": ".1e"}), ""]
    why = fit_notes(fits)
    if why:
        lines += ["Why a slope is missing, and steps left out of the fit:", ""] + [f"- {md_text(w)}" for w in why] + [""]
    notes = df.loc[df["note"] != "", ["problem", "scheme", "dtype", "note"]]
    if len(notes):
        counts = notes.groupby(["problem", "scheme", "dtype", "note"], sort=False).size().reset_index(name="points")
        lines += ["## Points without a result, and remarks", "", markdown_table(counts), ""]
    best = best_rows(df, fits)
    lines += ["## At the best ε", "",
              markdown_table(best[["problem", "scheme", "dtype", "eps", "difference", "max_abs_err", "median_rel_err",
                                   "n_evals", "seconds", "threads", "path"]],
                             {"eps": ".1e", "difference": ".2e", "max_abs_err": ".2e", "median_rel_err": ".2e",
                              "seconds": ".3f"}), ""]
    lines += ["All points: [results.csv](results.csv) / `results.parquet`; fits: [fits.csv](fits.csv).", ""]
    return "\n".join(lines)


def _size_readme(df, meta, title) -> str:
    lines = _header(title or "Check time vs model size, mode and threads", meta)
    opts = meta.get("options") if isinstance(meta.get("options"), dict) else {}
    timing = meta.get("timing") if isinstance(meta.get("timing"), dict) else {}
    mlp = meta.get("mlp")
    lines += [
        "Each row is the median wall time of "
        f"{md_text(timing.get('repeat', 'several'))} check call(s) after a compiling warm-up"
        + (f"; full-coordinate checks estimated above {_fmt(timing['budget'], 'g')} s are skipped" if "budget" in timing else "")
        + (f". MLPs given by layer sizes: {md_text(mlp.get('activation'))}, {md_text(mlp.get('loss'))} loss, "
           f"batch {md_text(mlp.get('batch'))}" if isinstance(mlp, dict) else "")
        + ". Modes: structured = every "
        "coordinate with the structure-aware kernel, blackbox = every coordinate with the black-box kernel, "
        f"directional = {md_text(opts.get('n_dirs', '?'))} random directions per block, "
        f"sampled = {md_text(opts.get('sample', '?'))} "
        "coordinates per block. peak_mem_mb is the resident memory above the level before the call.",
        "",
        "![time vs n_params](time_vs_params.png) ![speed-up vs threads](speedup_vs_threads.png)",
        "",
        "## Results",
        "",
        markdown_table(df[["problem", "n_params", "mode", "threads", "checked", "n_evals", "seconds", "evals_per_s",
                           "peak_mem_mb", "difference", "verdict", "note"]],
                       {"seconds": ".4g", "evals_per_s": ".3g", "peak_mem_mb": ".1f", "difference": ".2e"}),
        "",
    ]
    ok = df[np.isfinite(df["seconds"])]
    if len(ok) and ok["threads"].nunique() > 1 and 1 in set(ok["threads"]):
        piv = ok.pivot_table(index=["problem", "mode"], columns="threads", values="seconds", sort=False)
        t_hi = max(piv.columns)
        sp = (piv[1] / piv[t_hi]).rename(f"speed-up 1→{t_hi} threads").reset_index()
        lines += ["## Speed-up", "", markdown_table(sp, {sp.columns[-1]: ".2f"}), ""]
    failed = df[(df["verdict"] != "") & ~df["passed"]]
    lines += [f"Checks that did not pass: {len(failed)}." if len(failed) else "Every check that ran passed.", ""]
    lines += ["All rows: [results.csv](results.csv) / `results.parquet`.", ""]
    return "\n".join(lines)
