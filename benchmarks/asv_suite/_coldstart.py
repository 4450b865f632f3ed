"""Cold start: a fastcheck command in a fresh process on an empty compilation cache, beside the same command warm.

A cold run gets a new, empty cache directory (``NUMBA_CACHE_DIR`` and ``FASTCHECK_CACHE_DIR``); the warm
run right after it is the same command in another fresh process reading what the cold one cached.  Both
are wall times of the whole process (interpreter start, imports, compilation, the check), as a user
meets them.  Shared by ``benchmarks/bench_cold_start.py`` (the report), the asv suite (``bench_cold``)
and the gate (the cold ÷ warm ratio of the demo, see ``_ratios.py``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

#: The commands measured, by name: the CLI's arguments.
COMMANDS = {
    "demo": ["demo"],
    "mlp-784-128-10": ["check", "--model", "mlp", "--sizes", "784,128,10", "--activation", "sigmoid", "--loss", "sse",
                       "--batch", "64"],
}

#: "0.05 s + 8.1 s compiling" (or "loading compiled code") in a check's summary line.
_STATS = re.compile(r" ([\d.e+-]+) s(?: \+ ([\d.e+-]+) s (compiling|loading compiled code))?(?:, [a-z ]+)? on \d+ thread")


class Run(NamedTuple):
    """One process: its wall time, the checks' own times and compile times as their summaries print them."""

    wall: float
    check_seconds: float
    compile_seconds: float


def run_once(args, cache_dir, threads: int = 2, pythonpath: str | None = None) -> Run:
    """``python -m fastcheck *args`` in a fresh process with the compilation cache in ``cache_dir``."""
    env = {k: v for k, v in os.environ.items() if k != "FASTCHECK_COMPILE"}  # the default choice: auto
    env.update(NUMBA_CACHE_DIR=str(cache_dir), FASTCHECK_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS=str(threads))
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH", "")) if p)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "fastcheck", *args], env=env, capture_output=True, text=True,
                         check=False)
    wall = time.perf_counter() - t0
    if out.returncode not in (0, 1):  # 1: a check that failed, which the demo's broken network does not make
        raise RuntimeError(f"fastcheck {' '.join(args)} exited with {out.returncode}:\n{out.stderr[-2000:]}")
    flat = re.sub(r"\s+", " ", out.stdout)
    check = compile_ = 0.0
    for m in _STATS.finditer(flat):
        check += float(m.group(1))
        compile_ += float(m.group(2) or 0.0)
    return Run(wall, check, compile_)


class Pair(NamedTuple):
    cold: Run
    warm: Run


def cold_and_warm(args, threads: int = 2, pythonpath: str | None = None) -> Pair:
    """One cold run on a new empty cache, then one warm run on what it cached."""
    cache = tempfile.mkdtemp(prefix="fastcheck-cold-")
    try:
        cold = run_once(args, cache, threads, pythonpath)
        warm = run_once(args, cache, threads, pythonpath)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return Pair(cold, warm)


def cold_over_warm(name: str = "demo", rounds: int = 2, threads: int = 2, pythonpath: str | None = None) -> float:
    """The fastest cold run over the fastest warm run of ``rounds`` pairs taken in turns (on a loaded
    machine the fastest sample is the least disturbed, and both move together)."""
    pairs = [cold_and_warm(COMMANDS[name], threads, pythonpath) for _ in range(rounds)]
    return min(p.cold.wall for p in pairs) / min(p.warm.wall for p in pairs)
