"""A full structured check in forward-pass units, and the backprop, against a baseline tree.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_forward_units.py --baseline DIR [--rounds 2]
      [--threads 1,2]

``DIR`` holds another copy of the ``fastcheck`` package (for instance main's code:
``git archive main fastcheck | tar -x -C DIR``).  Each round runs one child process per
tree, baseline first, each importing its own ``fastcheck``; every child measures, on
MLP 784-128-10, 784-256-64-10 and 784-1260-10 (sigmoid, sse, batch 64, for each thread count of
``--threads``, 1 and 2 by default):

* ``model.cost`` (one forward pass, BLAS products; the same code in both trees): the unit;
* a full central ``check_model`` (every coordinate, structure-aware kernel);
* ``model.grad`` (the reference backprop);

compilation excluded (each is called once before the clock), medians of ``--repeat``
runs.  A ratio (check ÷ forward pass) is taken inside one process, so it survives the
machine's hour-to-hour drift better than the seconds do.  Writes
reports/structured/forward_units.csv and the table between the ``forward-units``
markers of reports/structured/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "reports" / "structured"
NETWORKS = ([784, 128, 10], [784, 256, 64, 10], [784, 1260, 10])
BATCH = 64
THREADS = (1, 2)
BEGIN, END = "<!-- forward-units: begin -->", "<!-- forward-units: end -->"


def child(repeat, threads=THREADS):
    """One tree's figures (run in a subprocess whose PYTHONPATH selects the tree)."""
    sys.path.insert(0, str(HERE))
    from timing import median_time

    import fastcheck
    from fastcheck.models import MLP

    # the compiled kernel is what is measured, not the NumPy form an uncompiled process may choose
    fastcheck.config.COMPILE = "always"
    rows = []
    for sizes, n_threads in ((s, t) for s in NETWORKS for t in threads):
        model = MLP(sizes, activations="sigmoid", loss="sse")
        theta = model.init(seed=0)
        X, y = model.sample_data(BATCH, seed=1)
        model.cost(theta, X, y)
        model.grad(theta, X, y)
        fastcheck.check_model(model, theta, X, y, coords=np.arange(3), threads=n_threads)  # compiles
        cost, cost_times = median_time(lambda: model.cost(theta, X, y), 200)
        grad, grad_times = median_time(lambda: model.grad(theta, X, y), 30)
        last = {}

        def check():
            last["r"] = fastcheck.check_model(model, theta, X, y, threads=n_threads)

        sec, check_times = median_time(check, repeat)
        cost_after, after_times = median_time(lambda: model.cost(theta, X, y), 200)
        unit = min(cost, cost_after)  # the forward pass, measured before and after the checks
        # the fastest runs too: on a shared machine the minimum is the least disturbed figure
        best = min(cost_times + after_times)
        rows.append(dict(network="-".join(map(str, sizes)), threads=n_threads, n_params=model.n_params, forward_s=unit,
                         check_s=sec, grad_s=grad, check_units=sec / unit, grad_units=grad / unit,
                         forward_min_s=best, check_min_s=min(check_times), grad_min_s=min(grad_times),
                         check_units_min=min(check_times) / best, grad_units_min=min(grad_times) / best,
                         difference=last["r"].difference, verdict=last["r"].verdict))
    print(json.dumps(rows))


def run_tree(path, repeat, threads=THREADS):
    env = dict(os.environ, PYTHONPATH=str(path), NUMBA_NUM_THREADS=str(max(threads)))
    out = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(repeat),
                          "--threads", ",".join(map(str, threads))], env=env,
                         capture_output=True, text=True, check=True, cwd="/tmp").stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=False, help="directory holding the baseline fastcheck package")
    p.add_argument("--baseline-name", default="main")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=_thread_counts, default=THREADS,
                   help="comma-separated Numba thread counts of the checks (default: 1,2)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    sys.path.insert(0, str(HERE))
    from timing import add_write_option, report_dir

    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
    if args.child:
        child(args.repeat, args.threads)
        return 0
    trees = ([(args.baseline_name, Path(args.baseline).resolve())] if args.baseline else []) + [("this tree", ROOT)]
    rows = []
    for rnd in range(args.rounds):
        for name, path in trees:
            for r in run_tree(path, args.repeat, args.threads):
                rows.append(dict(round=rnd, tree=name, **r))
                print(name, rnd, r["network"], f"{r['threads']} thread(s):", f"{r['check_units']:.0f} forward passes",
                      flush=True)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "forward_units.csv", index=False)
    section = render(df, args)
    readme = out / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text)
    print(section)
    return 0


def _thread_counts(text):
    """``--threads``: comma-separated positive thread counts, e.g. ``1,2``."""
    try:
        counts = tuple(int(t) for t in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--threads takes comma-separated positive integers such as 1,2, got {text!r}")
    return counts


def render(df, args) -> str:
    import numba

    meta = (f"numba {numba.__version__}, numpy {np.__version__}, {'/'.join(map(str, args.threads))} threads, Python "
            f"{platform.python_version()}, {platform.machine()}")
    cmd = "flock /tmp/fastcheck-bench.lock python benchmarks/bench_forward_units.py"
    if args.baseline:
        cmd += f" --baseline DIR --baseline-name {args.baseline_name}"
    cmd += f" --threads {','.join(map(str, args.threads))}"
    lines = [BEGIN, "## A full central check in forward-pass units (`benchmarks/bench_forward_units.py`)", "",
             f"`{cmd} --rounds {args.rounds} --repeat {args.repeat}` — {meta}.",
             "Each round runs every tree in its own process, one after the other; each figure below is the median",
             "over rounds of a median of runs.  The unit is one `model.cost` (a BLAS forward pass of the same batch),",
             "timed in the same process; sigmoid, sse, batch 64, each check on the Numba threads of its row.", "",
             "Medians first; in brackets the same ratio from the fastest run of each (the least disturbed by",
             "the other work on this shared machine).", "",
             "| network | n_params | threads | tree | forward pass (ms) | full check (s) | check ÷ forward pass |"
             " per 10⁵ parameters | `model.grad` (ms) | grad ÷ forward pass | difference |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    med = df.groupby(["network", "threads", "tree"], sort=False).median(numeric_only=True).reset_index()
    for r in med.itertuples():
        lines.append(f"| {r.network} | {int(r.n_params)} | {int(r.threads)} | {r.tree} |"
                     f" {r.forward_s * 1e3:.3f} | {r.check_s:.3f} |"
                     f" {r.check_units:.0f} ({r.check_units_min:.0f}) | {r.check_units / r.n_params * 1e5:.0f}"
                     f" ({r.check_units_min / r.n_params * 1e5:.0f}) | {r.grad_s * 1e3:.2f} |"
                     f" {r.grad_units:.1f} ({r.grad_units_min:.1f}) | {r.difference:.1e} |")
    lines += ["", "Every round's figures are in `forward_units.csv`.", END]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
