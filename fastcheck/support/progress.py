"""Progress of a sweep: a rich bar on a terminal, plain lines otherwise."""
from __future__ import annotations

import sys
import time


def make_progress(mode, total: int, description: str, stream=None):
    """A progress reporter.

    Parameters
    ----------
    mode : {None, True, False, "rich", "plain"}
        ``None``/``True``: a rich bar when ``stream`` is a terminal, plain
        lines otherwise; ``False``: nothing.
    """
    stream = stream or sys.stderr
    if mode is False or mode == "off":
        return _Silent()
    if mode in (None, True):
        mode = "rich" if getattr(stream, "isatty", lambda: False)() else "plain"
    if mode == "rich":
        try:
            return _Rich(total, description, stream)
        except ImportError:
            mode = "plain"
    if mode == "plain":
        return _Plain(total, description, stream)
    raise ValueError(f"progress must be True, False, None, 'rich' or 'plain', got {mode!r}")


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self, n: int = 1, info: str = "") -> None:
        pass


class _Plain(_Silent):
    """One line every ~5 % of the points or every 10 s, and one at the end."""

    def __init__(self, total, description, stream):
        self.total, self.description, self.stream = max(int(total), 0), description, stream
        self.done = 0
        self.t0 = self.last = time.perf_counter()
        self.step = max(1, self.total // 20)

    def __enter__(self):
        print(f"{self.description}: {self.total} point(s) to compute", file=self.stream, flush=True)
        return self

    def advance(self, n=1, info=""):
        self.done += n
        now = time.perf_counter()
        if self.done >= self.total or self.done % self.step == 0 or now - self.last > 10:
            self.last = now
            pct = 100.0 * self.done / self.total if self.total else 100.0
            tail = f" [{info}]" if info else ""
            print(f"{self.description}: {self.done}/{self.total} ({pct:.0f}%) {now - self.t0:.1f} s{tail}",
                  file=self.stream, flush=True)


class _Rich(_Silent):
    def __init__(self, total, description, stream):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}", markup=False),
            console=Console(file=stream, emoji=False), transient=False,
        )
        self.task = self.progress.add_task(description, total=total, info="")

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def advance(self, n=1, info=""):
        self.progress.update(self.task, advance=n, info=info)
