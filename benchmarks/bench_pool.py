"""``workers="auto"`` against ``workers=1``: the first call of a fresh process, and warm calls.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_pool.py [--rounds 3] [--write]

Each measurement is a fresh Python process (so the first call pays whatever
``auto`` decides: a pool's start-up, the proof every worker gives before its
results count, or nothing), running one network's check ``1 + warm`` times and
printing the wall time of each call.  The two settings alternate, round by
round, so both see the same machine; the medians over the rounds are
reported with the 1-minute load before and after.  Networks:

* ``object``: an object-style 100-120-10 sigmoid network in plain NumPy,
  batch 32 (13,200 parameters; ``check_object``, *Neural Networks
  Demystified*'s style);
* ``small``: the same style at 20-30-5, batch 16 (750 parameters): a check
  too short for any pool to pay, which ``auto`` must keep serial;
* ``conv``: conv-relu-pool-affine-relu-affine-softmax with naive loops
  (``check_sequential``, stage caching).

Writes reports/pool/first_call.csv and reports/pool/README.md with --write
(else a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import add_write_option, report_dir

OUT = ROOT / "reports" / "pool"

CHILD = r'''
import json, sys, time, warnings
import numpy as np
sys.path.insert(0, {root!r})
import fastcheck as fc
from fastcheck.inputs.adapters import check_object
from tests.user_nets import ObjectNet, conv_net, object_data

net_name, workers, warm = sys.argv[1], sys.argv[2], int(sys.argv[3])
workers = workers if workers == "auto" else int(workers)
if net_name in ("object", "small"):
    sizes, batch = ((100, 120, 10), 32) if net_name == "object" else ((20, 30, 5), 16)
    net, (X, y) = ObjectNet(sizes), object_data(sizes, batch)
    run = lambda: check_object(net, X, y, workers=workers)
else:
    stages, params, x, grads = conv_net(batch=4, size=12, filters=4, hidden=24)
    run = lambda: fc.check_sequential(stages, params, x, grads, workers=workers)
times, paths = [], []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for _ in range(1 + warm):
        t0 = time.perf_counter()
        res = run()
        times.append(time.perf_counter() - t0)
        paths.append(res.path)
print(json.dumps({{"times": times, "paths": paths, "passed": bool(res.passed)}}))
'''


def one(net: str, workers: str, warm: int) -> dict:
    code = CHILD.format(root=str(ROOT))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code, net, workers, str(warm)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def load() -> float:
    return os.getloadavg()[0]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=3, help="warm calls after the first, per process")
    ap.add_argument("--nets", default="object,small,conv")
    add_write_option(ap, OUT)
    args = ap.parse_args(argv)
    out = report_dir(args.write, OUT)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    rows, load_before = [], load()
    for r in range(args.rounds):
        for net in args.nets.split(","):
            for workers in ("1", "auto"):
                got = one(net, workers, args.warm)
                rows.append({"round": r, "net": net, "workers": workers, "first_s": got["times"][0],
                             "warm_s": statistics.median(got["times"][1:]) if args.warm else float("nan"),
                             "first_path": got["paths"][0], "warm_path": got["paths"][-1], "passed": got["passed"],
                             "load1": load()})
                print(rows[-1], flush=True)
    load_after = load()
    df = pd.DataFrame(rows)
    df.to_csv(out / "first_call.csv", index=False)
    lines = ["# workers=\"auto\" against workers=1: first call and warm calls", "",
             ("Written by `benchmarks/bench_pool.py` (each cell: the median over "
              f"{args.rounds} fresh processes, the two settings alternating; warm: the median of {args.warm} "
              "further calls in the same process). 1-minute load "
              f"{load_before:.2f} before, {load_after:.2f} after, on {os.cpu_count()} cores."), "",
             "| network | workers | first call (s) | warm call (s) | auto / 1, first | auto / 1, warm | path (first → warm) |",
             "|---|---|---|---|---|---|---|"]
    for net in args.nets.split(","):
        med = {w: df[(df.net == net) & (df.workers == w)][["first_s", "warm_s"]].median() for w in ("1", "auto")}
        for w in ("1", "auto"):
            sub = df[(df.net == net) & (df.workers == w)].iloc[-1]
            ratio = ("", "") if w == "1" else (f"{med['auto'].first_s / med['1'].first_s:.2f}",
                                               f"{med['auto'].warm_s / med['1'].warm_s:.2f}")
            lines.append(f"| {net} | {w} | {med[w].first_s:.2f} | {med[w].warm_s:.2f} | {ratio[0]} | {ratio[1]} | "
                         f"{sub.first_path} → {sub.warm_path} |")
    lines += ["", ("A ratio below 1 is `auto` faster. `auto` starts the pool only when the check's estimated serial "
                   "time (one timed J(θ) × the evaluations) pays for the start-up and the workers' proof, so a first "
                   "call should never be slower than `workers=1` beyond noise."), ""]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
