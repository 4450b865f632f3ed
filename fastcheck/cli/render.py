"""Terminal rendering of check results.

Tables are plain text from :func:`fastcheck.checks.table.format_table`: every number in full, columns
that do not fit the console's width continuing in a further section (``wide=True``: one piece), so piped
output (80 columns unless ``COLUMNS`` says otherwise) is as complete as a wide terminal's.  On a terminal
the verdicts are coloured; piped output is plain.
"""
from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from fastcheck.verdicts.bands import hint

_STYLE = {"great": "green", "ok": "green", "suspect": "yellow", "wrong": "bold red", "inconclusive": "yellow"}
#: Wide enough for any table (``--wide``).
WIDE = 100_000


class Terminal(Console):
    """The console of the command line: names print as given (no ``:x:`` emoji codes, markup escaped by the
    callers), and a closed pipe raises :class:`BrokenPipeError` for the command to handle (rich's own
    answer is ``SystemExit(1)``, which would read as the user's code exiting)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("emoji", False)
        super().__init__(**kwargs)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("stdout was closed by its reader")


def table_text(frame, console: Console, wide: bool = False, indent: str = "  ",
               verdict_col: str | None = "verdict") -> Text:
    """``frame`` as text fitted to ``console`` (never cut), its verdict column coloured on a terminal."""
    from fastcheck.checks.table import format_table

    width = WIDE if wide else max(console.width - len(indent), 20)
    lines = [(indent + ln) if ln else "" for ln in format_table(frame, width).splitlines()]
    text = Text("\n".join(lines), no_wrap=True, overflow="ignore")
    if verdict_col is not None and verdict_col in getattr(frame, "columns", ()):
        for verdict, style in _STYLE.items():
            text.highlight_regex(rf"(?<=\s){re.escape(verdict)}(?=\s|$)", style)
    return text


def print_table(console: Console, frame, title: str | None = None, wide: bool = False,
                verdict_col: str | None = "verdict") -> None:
    if title:
        console.print(escape(title) + ":", highlight=False)
    console.print(table_text(frame, console, wide, verdict_col=verdict_col), highlight=False, crop=False,
                  soft_wrap=True)


def print_result(result, title: str = "", console: Console | None = None, worst: int = 5, wide: bool = False) -> None:
    """The verdict and the blocks' verdicts, what was checked, the per-block table, kinks and worst coordinates."""
    console = console or Terminal()
    style = "bold green" if result.passed else _STYLE.get(result.verdict, "bold red")
    console.print(f"{escape(title + ': ') if title else ''}[{style}]{escape(result.summary())}[/]", highlight=False,
                  soft_wrap=True)
    console.print("  " + escape(result.stats_line()), highlight=False, soft_wrap=True)
    if result.note:
        console.print("  " + escape(f"({result.note})"), highlight=False, soft_wrap=True)
    if result.precision and result.precision != result.dtype:
        console.print(f"  [yellow]the cost computes in {escape(result.precision)}[/], not in {result.dtype}:"
                      " error bars and steps use its round-off", highlight=False, soft_wrap=True)
    print_table(console, result.blocks, "per block", wide)
    if len(result.nonfinite):
        console.print(f"[red]{escape(result.nonfinite_line())}[/]", highlight=False, soft_wrap=True)
    if len(result.kinks):
        console.print(f"[yellow]{escape(result.kink_line())}[/]", highlight=False, soft_wrap=True)
        print_table(console, result.kinks.head(worst), "kinks", wide, verdict_col=None)
    if not result.passed and len(result.coords):
        print_table(console, result.worst(worst), "worst coordinates", wide, verdict_col=None)
        tip = hint(result.layout, result.wrong_blocks)
        if tip:
            console.print(escape(tip), highlight=False, soft_wrap=True)
