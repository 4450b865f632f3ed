"""``fastcheck report DIR``: (re)write the tables, plots and README of a sweep directory."""
from __future__ import annotations

from pathlib import Path

from fastcheck.errors import ReportError, UsageError


def register(sub) -> None:
    from fastcheck.cli import add_parser

    p = add_parser(
        sub,
        "report",
        help="write results.parquet, plots and README.md of a sweep directory",
        description="Read DIR/results.csv (and DIR/sweep.json) left by `fastcheck sweep` - finished or "
        "interrupted - and write results.parquet, the plots and README.md into DIR.",
    )
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--title", help="title of the README")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastcheck.report import write_report

    directory = Path(args.directory)
    try:
        written = write_report(directory, title=args.title)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        print(path)
    return 0
