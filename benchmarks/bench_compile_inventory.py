"""What a cold command compiles: every Numba compilation, its signature and its CPU seconds.

    flock /tmp/fastcheck-bench.lock python benchmarks/bench_compile_inventory.py [--only NAME] [--write]

Runs a command of the cold-start benchmark (``benchmarks/asv_suite/_coldstart.py``: ``demo`` and the full
check of MLP 784-128-10) in a fresh process on a new empty compilation cache, with a listener on Numba's
``numba:compile`` events (fired for a real compilation only, never for a load from the cache).  Each
compilation is timed in CPU seconds of the process (``time.process_time``: load-independent, unlike wall
time) and in wall seconds, inclusive (with the compilations it started, callees first) and exclusive
(without them).  Then the process's user+sys CPU, the cache files written (``.nbi`` indexes, ``.nbc``
entries) and the same command again warm, on that cache (its CPU and whatever it still compiled).
Results go to ``reports/cold-start/inventory-<name>.md`` only with ``--write`` (else a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from asv_suite._coldstart import COMMANDS
from timing import add_write_option, report_dir

TRACKED = ROOT / "reports" / "cold-start"


def _child(out_path: str, args: list) -> int:
    """In the measured process: record every compilation while the command runs."""
    from numba.core import event

    records, stack = [], []

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append([ev.data, time.process_time(), time.perf_counter(), 0.0, 0.0])

        def on_end(self, ev):
            data, c0, w0, child_cpu, child_wall = stack.pop()
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            disp = data["dispatcher"]
            py = getattr(disp, "py_func", None)
            name = f"{py.__module__}.{py.__qualname__}" if py is not None else repr(disp)
            records.append({"function": name, "args": str(tuple(data["args"])), "cpu": cpu, "wall": wall,
                            "cpu_self": cpu - child_cpu, "wall_self": wall - child_wall, "depth": len(stack)})
            if stack:
                stack[-1][3] += cpu
                stack[-1][4] += wall

    event.register("numba:compile", Listener())
    from fastcheck.cli import main

    c0, w0 = time.process_time(), time.perf_counter()
    try:
        rc = main(args)
    finally:
        Path(out_path).write_text(json.dumps({"records": records, "cpu": time.process_time() - c0,
                                              "wall": time.perf_counter() - w0}))
    return rc


def _run(args: list, cache: str, threads: int, tree: Path = ROOT) -> dict:
    """The command in a fresh process on ``cache``: its records, user+sys CPU and wall seconds."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if k != "FASTCHECK_COMPILE"}
    env.update(NUMBA_CACHE_DIR=cache, FASTCHECK_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH", "")) if p))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", out, *args], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"fastcheck {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    got = json.loads(Path(out).read_text())
    os.unlink(out)
    got["process_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    got["process_wall"] = wall
    got["stdout"] = proc.stdout
    return got


def _cache_files(cache: str) -> dict:
    counts = defaultdict(int)
    for _, _, files in os.walk(cache):
        for f in files:
            counts[os.path.splitext(f)[1]] += 1
    return dict(counts)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def _table(records: list) -> list:
    """Per function: signatures compiled, exclusive CPU and wall seconds, largest first."""
    by = defaultdict(lambda: {"n": 0, "cpu_self": 0.0, "wall_self": 0.0, "sigs": []})
    for r in records:
        row = by[r["function"]]
        row["n"] += 1
        row["cpu_self"] += r["cpu_self"]
        row["wall_self"] += r["wall_self"]
        row["sigs"].append(r["args"])
    return sorted(by.items(), key=lambda kv: -kv[1]["cpu_self"])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return _child(argv[1], argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(COMMANDS), default="mlp-784-128-10")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-warm", action="store_true", help="skip the warm run")
    parser.add_argument("--keep-cache", action="store_true", help="keep the cache folder (printed) for later warm runs")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the checkout whose fastcheck is measured (default: this one), e.g. another branch's")
    add_write_option(parser, TRACKED)
    args = parser.parse_args(argv)
    cmd = COMMANDS[args.only]
    load_before = _load()
    cache = tempfile.mkdtemp(prefix="fastcheck-inventory-")
    cold = _run(cmd, cache, args.threads, args.tree)
    files = _cache_files(cache)
    warm = None if args.no_warm else _run(cmd, cache, args.threads, args.tree)
    load_after = _load()
    commit = subprocess.run(["git", "-C", str(args.tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "?"
    rows = _table(cold["records"])
    total_self = sum(r["cpu_self"] for r in cold["records"])
    lines = [f"# What `fastcheck {' '.join(cmd)}` compiles on an empty cache", "",
             (f"Written by `benchmarks/bench_compile_inventory.py --only {args.only}` (under "
             f"`flock /tmp/fastcheck-bench.lock`), commit {commit}, NUMBA_NUM_THREADS={args.threads}, load average "
             f"{load_before} before and {load_after} after.  CPU seconds are the process's (load-independent); "
             "a function's seconds exclude the compilations it started (its callees, listed on their own)."), "",
             (f"- cold: {len(cold['records'])} compilations of {len(rows)} functions, {total_self:.1f} CPU s compiling; "
             f"process {cold['process_cpu']:.1f} CPU s (user+sys), {cold['process_wall']:.1f} s wall; cache files "
             f"written: {files}"),
             ]
    if warm is not None:
        wself = sum(r["cpu_self"] for r in warm["records"])
        lines.append(f"- warm (same cache, fresh process): {len(warm['records'])} compilations, {wself:.1f} CPU s "
                     f"compiling; process {warm['process_cpu']:.1f} CPU s, {warm['process_wall']:.1f} s wall"
                     + (f"; still compiled: {sorted({r['function'] for r in warm['records']})}" if warm["records"] else ""))
    lines += ["", "| function | signatures | CPU s (own) | wall s (own) |", "|---|---|---|---|"]
    for name, r in rows:
        lines.append(f"| `{name}` | {r['n']} | {r['cpu_self']:.2f} | {r['wall_self']:.2f} |")
    lines += ["", "Signatures (argument types) of the functions compiled more than once:", ""]
    for name, r in rows:
        if r["n"] > 1:
            lines.append(f"- `{name}`: " + "; ".join(f"`{s}`" for s in r["sigs"]))
    text = "\n".join(lines) + "\n"
    out = report_dir(args.write, TRACKED)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"inventory-{args.only}.md").write_text(text)
    (out / f"inventory-{args.only}.json").write_text(json.dumps(
        {"cold": {k: v for k, v in cold.items() if k != "stdout"}, "cache_files": files,
         "warm": None if warm is None else {k: v for k, v in warm.items() if k != "stdout"},
         "load_before": load_before, "load_after": load_after, "commit": commit}, indent=1) + "\n")
    print(text)
    print(f"written to {out}/")
    if args.keep_cache:
        print(f"cache kept in {cache}")
    else:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
