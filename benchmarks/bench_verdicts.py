"""Cost of error-bar verdicts: a full structured check of MLP 784-128-10, before and after.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_verdicts.py [--base e523c8f] [--rounds 5] [--repeat 5]

The version at ``--base`` (a git revision of this repository) is extracted to a temporary
directory; both versions then run in fresh processes, interleaved round by round (base,
this tree, base, …), each warmed up before timing (compilation excluded) and timed
``--repeat`` times per round.  Writes reports/verdicts/speed.csv and README.md with the
medians over all rounds and their ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "verdicts"

WORKER = r"""
import json, sys, time
import numpy as np
from fastcheck.models import MLP
from fastcheck.structured import check_model
m = MLP([784, 128, 10], activations="sigmoid", loss="sse")
theta = m.init(seed=0)
X, y = m.sample_data(64, seed=1)
check_model(m, theta, X, y)  # warm up: compilation stays out
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    r = check_model(m, theta, X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "verdict": r.verdict, "passed": bool(r.passed), "n_evals": int(r.n_evals)}))
"""


def run(path: Path, repeat: int, threads: int) -> dict:
    env = {"PYTHONPATH": str(path), "NUMBA_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", WORKER, str(repeat)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="e523c8f", help="git revision to compare against")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "fastcheck"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        versions = {f"base ({args.base})": Path(tmp), "error bars (this tree)": ROOT}
        for r in range(args.rounds):
            for name, path in versions.items():
                res = run(path, args.repeat, args.threads)
                for t in res["times"]:
                    rows.append({"version": name, "round": r, "seconds": t, "verdict": res["verdict"],
                                 "n_evals": res["n_evals"]})
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "speed.csv", index=False)
    med = df.groupby("version", sort=False)["seconds"].median()
    evals = df.groupby("version", sort=False)["n_evals"].first()
    names = list(med.index)
    ratio = med[names[1]] / med[names[0]]
    lines = [
        "# Error-bar verdicts: speed of a full structured check of MLP 784-128-10",
        "",
        f"Command: `flock /tmp/fastcheck-bench.lock python benchmarks/bench_verdicts.py --base {args.base}"
        f" --rounds {args.rounds} --repeat {args.repeat} --threads {args.threads}`",
        "",
        "Sigmoid, SSE, batch 64, central scheme, all 101,770 coordinates, structure-aware kernel, "
        f"{args.threads} Numba threads; both versions in fresh processes, interleaved round by round, "
        "compilation excluded (warmed up).",
        "",
        "| version | median s | cost evaluations |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {med[n]:.4f} | {evals[n]} |" for n in names]
    lines += ["", f"Ratio (this tree / base): **{ratio:.3f}** (target ≤ 1.3).", "",
              f"Per-round medians: " + ", ".join(
                  f"{n}: " + " ".join(f"{statistics.median(g['seconds']):.3f}" for _, g in df[df.version == n].groupby('round'))
                  for n in names)]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
