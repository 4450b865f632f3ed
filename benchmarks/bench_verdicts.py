"""Error-bar verdicts before and after: speed of a full structured check of MLP 784-128-10, and
the verdicts on the smooth test-function table (correct gradients, and a 1 % error planted).

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
from timing import add_write_option, report_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "verdicts"

WORKER = r"""
import json, sys, time
import numpy as np
import fastcheck
from fastcheck.models import MLP
from fastcheck.checks.model import check_model
if hasattr(fastcheck.config, "COMPILE"):  # the compiled kernels are measured, in every tree
    fastcheck.config.COMPILE = "always"
m = MLP([784, 128, 10], activations="sigmoid", loss="sse")
theta = m.init(seed=0)
X, y = m.sample_data(64, seed=1)
check_model(m, theta, X, y)  # warm up: compilation stays out
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    r = check_model(m, theta, X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "verdict": r.verdict, "passed": bool(r.passed), "n_evals": int(r.n_evals),
                  "file": fastcheck.__file__}))
"""


TABLE = r"""
import json, sys, warnings
import numpy as np
sys.path.append(sys.argv[1])  # tests.smooth from this tree; fastcheck from PYTHONPATH
import fastcheck as fc
from tests import smooth
rows = []
for label, f, x in smooth.cases():
    g = smooth.reference_gradient(f, x)
    if not np.all(np.isfinite(g)):
        continue
    j = int(np.argmax(np.abs(g)))
    bad = g.copy()
    bad[j] *= 1.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = fc.check_gradient(f, x, g, jit=False)
        planted = fc.check_gradient(f, x, bad, jit=False)
    rows.append({"case": label, "correct_verdict": ok.verdict, "correct_passed": bool(ok.passed),
                 "planted_verdict": planted.verdict, "planted_passed": bool(planted.passed)})
print(json.dumps(rows))
"""


def table(path: Path) -> pd.DataFrame:
    env = {"PYTHONPATH": str(path), "NUMBA_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", TABLE, str(ROOT)], env=env, capture_output=True, text=True, check=True,
                         cwd=path)
    return pd.DataFrame(json.loads(out.stdout.strip().splitlines()[-1]))


def run(path: Path, repeat: int, threads: int) -> dict:
    env = {"PYTHONPATH": str(path), "NUMBA_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    # run from the version's own directory: ``python -c`` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", WORKER, str(repeat)], env=env, capture_output=True, text=True,
                         check=True, cwd=path)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="e523c8f", help="git revision to compare against")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
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
                                 "n_evals": res["n_evals"], "imported": res["file"]})
        tables = []
        for name, path in versions.items():
            t = table(path)
            t.insert(0, "version", name)
            tables.append(t)
    verdicts = pd.concat(tables)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "speed.csv", index=False)
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
        "| version | median s | cost evaluations | verdict |",
        "|---|---|---|---|",
    ]
    verdict = df.groupby("version", sort=False)["verdict"].first()
    lines += [f"| {n} | {med[n]:.4f} | {evals[n]} | {verdict[n]} |" for n in names]
    imported = df.groupby("version", sort=False)["imported"].first()
    assert imported.nunique() == len(imported), f"both versions imported the same fastcheck: {imported.tolist()}"
    lines += ["", f"Ratio (this tree / base): **{ratio:.3f}** (target ≤ 1.3).", "",
              "Per-round medians: " + ", ".join(
                  f"{n}: " + " ".join(f"{statistics.median(g['seconds']):.3f}" for _, g in df[df.version == n].groupby('round'))
                  for n in names)]
    verdicts.to_csv(out / "table.csv", index=False)
    counts = verdicts.groupby("version", sort=False).agg(
        cases=("case", "size"),
        correct_read_wrong_or_suspect=("correct_verdict", lambda v: int(v.isin(["wrong", "suspect"]).sum())),
        correct_inconclusive=("correct_verdict", lambda v: int((v == "inconclusive").sum())),
        correct_passed=("correct_passed", "sum"),
        planted_1pct_failed=("planted_passed", lambda v: int((~v).sum())),
    )
    lines += ["", "## Verdicts on the smooth test-function table (tests/smooth.py)", "",
              "Correct gradients (complex step at h = 1e-200) of Moré–Garbow–Hillstrom problems and classic"
              " benchmark functions at the standard point ×1, ×10, ×100, ×1e-6 and a mixed-scale point, default"
              " settings; then the same with a 1 % error planted in the largest coordinate.", "",
              counts.to_markdown(), ""]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
