"""The comparison as a Markdown table, a log-log plot and report files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .harness import REFERENCES


# -- reports ----------------------------------------------------------------------------------
def _fmt_seconds(s, extrapolated) -> str:
    if s is None or not np.isfinite(s):
        return ""
    txt = f"{s:.3g}" if s >= 1e-3 else f"{s:.2e}"
    return f"~{txt} (extrapolated)" if extrapolated else txt


def markdown_table(df: pd.DataFrame) -> str:
    """The comparison as a Markdown table (extrapolated times marked)."""
    head = ["problem", "n_params", "peer", "seconds", "ratio", "difference", "checked", "passed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in df.itertuples(index=False):
        ratio = "" if not np.isfinite(r.ratio) else f"{r.ratio:.3g}"
        diff = "n/a" if not np.isfinite(r.difference) else f"{r.difference:.2e}"
        passed = "" if r.passed is None or (isinstance(r.passed, float) and np.isnan(r.passed)) else str(bool(r.passed))
        checked = f"{r.checked} {r.unit}" if r.unit != "coordinates" else f"{r.checked} of {r.n_params}"
        cells = [r.problem, str(r.n_params), r.peer, _fmt_seconds(r.seconds, r.extrapolated), ratio, diff, checked, passed]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(df: pd.DataFrame, path) -> Path:
    """Log-log time against n_params, one line per peer; hollow markers are extrapolated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, (peer, rows) in enumerate(df.groupby("peer", sort=False)):
        rows = rows.sort_values("n_params")
        color = f"C{i % 10}"
        # A checker that does not check every coordinate says so in the legend, and is drawn dashed:
        # torch's fast mode checks one random projection, fastcheck's directional mode a few directions.
        units = set(rows["unit"]) - {"coordinates"}
        sampled = ((rows["checked"] < rows["n_params"]) & ~rows["extrapolated"].astype(bool)).any()
        label, style = peer, "-"
        if units:
            label, style = f"{peer} (checks {rows['checked'].iloc[-1]} {rows['unit'].iloc[-1]} only)", "--"
        elif sampled:
            label, style = f"{peer} (checks a sample of coordinates)", "--"
        ax.plot(rows["n_params"], rows["seconds"], style, color=color, label=label, alpha=0.8)
        meas = rows[~rows["extrapolated"].astype(bool)]
        extra = rows[rows["extrapolated"].astype(bool)]
        ax.plot(meas["n_params"], meas["seconds"], "o", color=color)
        ax.plot(extra["n_params"], extra["seconds"], "o", mfc="none", color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters n")
    ax.set_ylabel("seconds per check")
    ax.set_title("Gradient checkers on the same networks (hollow: extrapolated)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    from fastcheck.support.files import atomic_write

    try:
        with atomic_write(path, "wb") as fh:  # a full disk leaves the previous plot
            fig.savefig(fh, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path


def write_report(df: pd.DataFrame, out_dir, *, header: str = "") -> dict:
    """Save ``peers.csv``, ``peers.parquet`` (when pyarrow is installed),
    ``peers.md`` and ``peers.png`` in ``out_dir``; returns the paths."""
    from fastcheck.support.files import atomic_write, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "peers.csv"}
    with atomic_write(paths["csv"], "w", newline="") as fh:  # each file: complete, or the previous one
        df.to_csv(fh, index=False)
    try:
        import pyarrow  # noqa: F401

        with atomic_write(out / "peers.parquet", "wb") as fh:
            df.to_parquet(fh, index=False)
        paths["parquet"] = out / "peers.parquet"
    except ImportError:
        pass
    md = out / "peers.md"
    ref = ", else ".join(f"`{r}`" for r in REFERENCES)
    write_text(
        md,
        "# fastcheck and its peers, one run\n\n"
        + (header + "\n\n" if header else "")
        + f"`ratio` is seconds over the seconds of {ref} on the same problem. `difference` is "
        "||g_num − g|| / (||g_num|| + ||g||) against the analytic (backprop) gradient over the checked "
        "coordinates (n/a: the checker answers pass/fail only). Times marked *extrapolated* come from a "
        "run on the coordinates shown in `checked` and a straight-line fit of time against the number of "
        "coordinates; everything else was measured on all of θ. Compilation is excluded (warm-up first).\n\n"
        + markdown_table(df)
    )
    paths["md"] = md
    try:
        paths["png"] = plot(df, out / "peers.png")
    except ImportError:
        pass
    return paths
