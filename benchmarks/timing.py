"""Timing helper shared by the stand-alone benchmark scripts (run as ``python benchmarks/bench_*.py``)."""
from __future__ import annotations

import re
import statistics
import time

#: A section one script writes into a README another script also writes: between ``<!-- NAME: begin -->`` and
#: ``<!-- NAME: end -->`` (reports/structured: bench_forward_units.py's forward-units, profile_structured.py's profile).
SECTION = re.compile(r"<!-- ([\w-]+): begin -->.*?<!-- \1: end -->", re.DOTALL)


def median_time(fn, repeat):
    """Median wall time of ``repeat`` calls of ``fn``, and every time."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def add_write_option(parser, tracked) -> None:
    """``--write``: put the results into the tracked report folder ``tracked``; without it they go to a
    fresh temporary folder (printed), so running a benchmark never dirties a checkout."""
    parser.add_argument("--write", action="store_true",
                        help=f"write the results into {tracked} (the tracked report); default: a temporary folder")


def report_dir(write: bool, tracked):
    """Where a benchmark writes: ``tracked`` with ``--write``, else a new temporary folder holding a copy
    of the tracked README.md (benchmarks that update one section of it edit the copy)."""
    import shutil
    import tempfile
    from pathlib import Path

    tracked = Path(tracked)
    if write:
        return tracked
    out = Path(tempfile.mkdtemp(prefix=f"fastcheck-{tracked.name}-"))
    if (tracked / "README.md").exists():
        shutil.copy2(tracked / "README.md", out / "README.md")
    print(f"results go to {out}/ (--write puts them into {tracked}/)", flush=True)
    return out


def keep_sections(text: str, old: str) -> str:
    """``text`` followed by every marked section (:data:`SECTION`) of ``old``, in its order: a script that
    rewrites a README keeps the sections other scripts wrote into it."""
    kept = [m.group(0) for m in SECTION.finditer(old)]
    return "\n\n".join([text.rstrip("\n"), *kept]) + "\n"
