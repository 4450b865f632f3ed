"""Terminal rendering of check results (rich tables)."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fastcheck.verdicts.bands import hint

_STYLE = {"great": "green", "ok": "green", "suspect": "yellow", "wrong": "bold red", "inconclusive": "yellow"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return "–" if v != v else f"{v:.3e}"  # NaN: nothing to show
    return str(v)


def table_of(frame, title: str | None = None, verdict_col: str | None = "verdict") -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "if" else "left")
    for row in frame.itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, row):
            text = escape(_fmt(v))
            if col == verdict_col and v in _STYLE:
                text = f"[{_STYLE[v]}]{text}[/]"
            cells.append(text)
        table.add_row(*cells)
    return table


def print_result(result, title: str = "", console: Console | None = None, worst: int = 5) -> None:
    """Verdict line, per-block table, kinks and worst coordinates."""
    console = console or Console()
    style = "bold green" if result.passed else _STYLE.get(result.verdict, "bold red")
    what = "random directions" if result.kind == "directional" else "coordinates"
    console.print(f"{escape(title + ': ') if title else ''}[{style}]{escape(result.headline())}[/]")
    console.print(
        f"  {len(result.coords)} {what} of {result.n_params} parameters, scheme {result.scheme}, "
        f"{result.n_evals} cost evaluations, {result.seconds:.3g} s on {result.threads} thread(s) " + escape(f"[{result.path}]"),
        highlight=False,
    )
    if result.note:
        console.print("  " + escape(f"({result.note})"), highlight=False)
    if result.precision and result.precision != result.dtype:
        console.print(f"  [yellow]the cost computes in {escape(result.precision)}[/], not in {result.dtype}:"
                      " error bars and steps use its round-off", highlight=False)
    console.print(table_of(result.blocks, "per block"))
    if len(result.nonfinite):
        console.print(f"[red]non-finite cost at {len(result.nonfinite)} perturbed point(s)[/]: {result.nonfinite[:10].tolist()}")
    if len(result.kinks):
        console.print(
            f"[yellow]{len(result.kinks)} coordinate(s) at a kink of the cost[/] (the slopes left and right of θ"
            " differ, or the estimate jumps as the step shrinks): excluded from the verdict"
        )
        console.print(table_of(result.kinks.head(worst), "kinks", verdict_col=None))
    if not result.passed and len(result.coords):
        console.print(table_of(result.worst(worst), "worst coordinates", verdict_col=None))
        tip = hint(result.layout, result.wrong_blocks)
        if tip:
            console.print(escape(tip))
