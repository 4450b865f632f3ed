"""Repeated full checks with the C heap kept open (fastcheck.support.heap) beside the allocator left alone.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_heap.py [--rounds 3] [--repeat 15] [--write]

Each round runs two fresh processes per network, one after the other: one with ``FASTCHECK_HEAP_PAD=0``
(glibc's malloc as it comes), one with the default pad.  Each process warms up (compilation excluded),
then times ``--repeat`` full central checks of the network (sigmoid, sse, batch 64, 2 Numba threads)
and counts the minor page faults they take (``getrusage``).  Medians over the checks of a process, then
over rounds; the ratio is taken inside each round (the two processes ran back to back).  Writes
reports/heap/README.md and heap.csv.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "reports" / "heap"
NETWORKS = ("784,128,10", "784,256,64,10")

CHILD = r"""
import json, resource, sys, time
import numpy as np
import fastcheck
from fastcheck.models import MLP
fastcheck.config.COMPILE = "always"
sizes, repeat = [int(s) for s in sys.argv[1].split(",")], int(sys.argv[2])
m = MLP(sizes, activations="sigmoid", loss="sse")
theta = m.init(seed=0)
X, y = m.sample_data(64, seed=1)
for _ in range(3):
    r = fastcheck.check_model(m, theta, X, y, threads=2)
times, faults = [], []
for _ in range(repeat):
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    r = fastcheck.check_model(m, theta, X, y, threads=2)
    times.append(time.perf_counter() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"seconds": float(np.median(times)), "faults": float(np.median(faults)), "verdict": r.verdict,
                  "difference": r.difference}))
"""


def run(network, repeat, pad):
    env = dict(os.environ, NUMBA_NUM_THREADS="2", PYTHONPATH=str(ROOT))
    if pad is not None:
        env["FASTCHECK_HEAP_PAD"] = str(pad)
    else:
        env.pop("FASTCHECK_HEAP_PAD", None)
    out = subprocess.run([sys.executable, "-c", CHILD, network, str(repeat)], env=env, capture_output=True,
                         text=True, check=True, cwd="/tmp").stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=15)
    sys.path.insert(0, str(HERE))
    from timing import add_write_option, report_dir

    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
    rows = []
    for rnd in range(args.rounds):
        for network in NETWORKS:
            for name, pad in (("allocator left alone (FASTCHECK_HEAP_PAD=0)", 0), ("heap kept (default)", None)):
                r = run(network, args.repeat, pad)
                rows.append(dict(round=rnd, network=network.replace(",", "-"), heap=name, **r))
                print(rnd, network, name, f"{r['seconds'] * 1e3:.1f} ms, {r['faults']:.0f} faults", flush=True)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "heap.csv", index=False)
    wide = df.pivot_table(index=["round", "network"], columns="heap", values="seconds").reset_index()
    kept, alone = "heap kept (default)", "allocator left alone (FASTCHECK_HEAP_PAD=0)"
    wide["ratio"] = wide[kept] / wide[alone]
    med = df.groupby(["network", "heap"], sort=False)[["seconds", "faults"]].median().reset_index()
    ratio = wide.groupby("network", sort=False)["ratio"].median()
    lines = ["# Repeated full checks: the C heap kept open beside the allocator left alone", "",
             f"Command: `flock /tmp/fastcheck-bench.lock python benchmarks/bench_heap.py --rounds {args.rounds}"
             f" --repeat {args.repeat} --write` (Python {platform.python_version()}, {platform.machine()},"
             f" {os.cpu_count()} cores).", "",
             "Per round and network two fresh processes back to back, each warmed up (compilation excluded), then"
             f" {args.repeat} full central checks (sigmoid, sse, batch 64, 2 Numba threads); medians over the checks"
             " of a process, then over rounds.  Minor page faults per check by `getrusage`.", "",
             "| network | heap | check (ms) | minor page faults per check |", "|---|---|---:|---:|"]
    for r in med.itertuples():
        lines.append(f"| {r.network} | {r.heap} | {r.seconds * 1e3:.1f} | {r.faults:.0f} |")
    lines += ["", "Kept ÷ left alone, the median over rounds of each round's ratio: "
              + ", ".join(f"{n} **{v:.2f}**" for n, v in ratio.items()) + ".", "",
              "Every process's figures are in `heap.csv`; what is set and why is in `fastcheck/support/heap.py`."]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
