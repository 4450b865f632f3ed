"""A full structured check of every activation, against a baseline tree.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_activations.py --baseline DIR [--rounds 2]
      [--repeat 3] [--deep] [--write]

``DIR`` holds another copy of the ``fastcheck`` package (for instance an earlier commit:
``git worktree add DIR REV``).  Each round runs one child process per tree, baseline first, each
importing its own ``fastcheck`` with the compiled kernels (compilation excluded: every network is
checked once before the clock).  On MLP 784-128-10 and 784-256-64-10 (batch 64, 2 threads), under sse with
the same activation on every layer or a hidden activation under an identity output, under softmax
cross-entropy over an identity output and binary cross-entropy over a sigmoid or identity output, every child
measures one ``model.cost`` (the unit), a full central ``check_model`` (median of ``--repeat``), its
difference, verdict and kink coordinates, and keeps the numerical gradient, so that the trees'
estimates are compared entry by entry (the largest difference relative to max |g|).  Writes
reports/activations/activations.csv and README.md (with ``--write``).

``--deep``: three layers below the output instead, MLP 784-256-128-64-10 only, under sse with sigmoid and with
relu on every layer and under softmax cross-entropy with relu/tanh/relu/identity (one activation per layer);
writes reports/activations-deep/ (with ``--write``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "reports" / "activations"
#: where ``--deep`` writes
DEEP_OUT = ROOT / "reports" / "activations-deep"
NETWORKS = ([784, 128, 10], [784, 256, 64, 10])
ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu", "leaky_relu", "identity", "relu/identity", "tanh/identity")
#: (activations, loss) of every network measured: sse for each activation, softmax cross-entropy over an
#: identity output (the usual classifier) and binary cross-entropy over a sigmoid or an identity output
CASES = tuple((a, "sse") for a in ACTIVATIONS) + (("relu/identity", "softmax_ce"), ("tanh/identity", "softmax_ce"),
                                                  ("relu/sigmoid", "bce"), ("relu/identity", "bce"))
#: ``--deep``: three layers below the output, with the same activation everywhere or one per layer
DEEP_NETWORKS = ([784, 256, 128, 64, 10],)
DEEP_CASES = (("sigmoid", "sse"), ("relu", "sse"), ("relu/tanh/relu/identity", "softmax_ce"))
BATCH = 64
THREADS = 2


def _acts(spec, depth):
    """``"relu/identity"``: relu on the hidden layers, identity on the output; ``depth`` names
    (``"relu/tanh/relu/identity"`` for 4 layers): one per layer, the output's last; a single name: every layer."""
    names = spec.split("/")
    if len(names) == depth and depth > 2:
        return names
    if len(names) == 2:
        hidden, out = names
        return [hidden] * (depth - 1) + [out]
    if len(names) == 1:
        return spec
    raise ValueError(f"{spec!r}: one name, hidden/out or {depth} names for {depth} layers")


def _grid(deep):
    """The networks and (activations, loss) cases measured."""
    return (DEEP_NETWORKS, DEEP_CASES) if deep else (NETWORKS, CASES)


def child(repeat, keep, deep=False):
    sys.path.insert(0, str(HERE))
    from timing import median_time

    import fastcheck
    from fastcheck.models import MLP

    fastcheck.config.COMPILE = "always"  # the compiled kernel is what is measured
    rows = []
    networks, cases = _grid(deep)
    for sizes in networks:
        for spec, loss in cases:
            model = MLP(sizes, activations=_acts(spec, len(sizes) - 1), loss=loss)
            theta = model.init(seed=0)
            X, y = model.sample_data(BATCH, seed=1)
            model.cost(theta, X, y)
            last = {"r": fastcheck.check_model(model, theta, X, y, threads=THREADS)}  # compiles, warms

            def check():
                last["r"] = fastcheck.check_model(model, theta, X, y, threads=THREADS)

            cost, _ = median_time(lambda: model.cost(theta, X, y), 100)
            sec, times = median_time(check, repeat)
            r = last["r"]
            name = f"{'-'.join(map(str, sizes))}-{spec.replace('/', '_')}-{loss}"
            np.save(Path(keep) / f"{name}.npy", np.asarray(r.numerical, np.float64))
            rows.append(dict(network="-".join(map(str, sizes)), activations=spec, loss=loss, n_params=model.n_params,
                             forward_s=cost, check_s=sec, check_min_s=min(times), check_units=sec / cost,
                             difference=r.difference, verdict=r.verdict, kinks=len(r.kinks), key=name))
    print(json.dumps(rows))


def run_tree(path, repeat, keep, deep=False):
    env = dict(os.environ, PYTHONPATH=str(path), NUMBA_NUM_THREADS=str(THREADS))
    cmd = [sys.executable, __file__, "--child", "--repeat", str(repeat), "--keep", str(keep)]
    cmd += ["--deep"] if deep else []
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd="/tmp").stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", help="directory holding the baseline fastcheck package")
    p.add_argument("--baseline-name", default="baseline")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--deep", action="store_true",
                   help=f"MLP 784-256-128-64-10 only (three layers below the output), written to {DEEP_OUT}")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--keep", help=argparse.SUPPRESS)
    sys.path.insert(0, str(HERE))
    from timing import add_write_option, report_dir

    add_write_option(p, OUT)
    args = p.parse_args(argv)
    if args.child:
        child(args.repeat, args.keep, args.deep)
        return 0
    out = report_dir(args.write, DEEP_OUT if args.deep else OUT)
    trees = ([(args.baseline_name, Path(args.baseline).resolve())] if args.baseline else []) + [("this tree", ROOT)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for t, (name, path) in enumerate(trees):
                keep = Path(tmp) / str(t)
                keep.mkdir(exist_ok=True)
                for r in run_tree(path, args.repeat, keep, args.deep):
                    rows.append(dict(round=rnd, tree=name, **r))
                    print(name, rnd, r["network"], r["activations"], r["loss"], f"{r['check_s']:.3f} s", flush=True)
        df = pd.DataFrame(rows)
        if len(trees) == 2:  # the two trees' gradients, entry by entry
            agree = {}
            for key in df["key"].unique():
                a, b = (np.load(Path(tmp) / str(t) / f"{key}.npy") for t in (0, 1))
                agree[key] = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))
            df["trees_differ"] = df["key"].map(agree)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "activations.csv", index=False)
    text = render(df, args, trees)
    (out / "README.md").write_text(text)
    print(text)
    return 0


def render(df, args, trees) -> str:
    import numba

    cmd = "flock /tmp/fastcheck-bench.lock python benchmarks/bench_activations.py"
    if args.baseline:
        cmd += f" --baseline DIR --baseline-name \"{args.baseline_name}\""
    cmd += f" --rounds {args.rounds} --repeat {args.repeat}" + (" --deep" if args.deep else "")
    meta = (f"numba {numba.__version__}, numpy {np.__version__}, {THREADS} threads, Python {platform.python_version()},"
            f" {platform.machine()}, load average {os.getloadavg()[0]:.2f} at the end")
    keys = ["network", "activations", "loss", "tree"]
    med = df.groupby(keys, sort=False).median(numeric_only=True).reset_index()
    first = df.groupby(keys, sort=False).first().reset_index()
    title = ("# A full structured check three layers below the output" if args.deep
             else "# A full structured check of every activation")
    names = ("`a/b/c/d` is activation a on the first layer, b on the second and so on to d on the output"
             if args.deep else "`a/b` is activation a on the hidden layers and b on the output")
    lines = [title, "", f"`{cmd}` — {meta}.", "",
             f"MLP, batch 64, every coordinate, central differences; {names}.",
             "Each round runs every tree in its own process; the figures are medians",
             "over rounds of a median of runs, compilation excluded.  The unit is one `model.cost` in the same",
             "process.",
             ""]
    head = ("| network | activations | loss | tree | full check (s) | check ÷ forward pass | difference | verdict |"
            " kinks |")
    sep = "|---|---|---|---|---:|---:|---:|---|---:|"
    if "trees_differ" in df:
        head += " trees' gradients differ by |"
        sep += "---:|"
    lines += [head, sep]
    for r, f in zip(med.itertuples(), first.itertuples()):
        row = (f"| {r.network} | {r.activations} | {r.loss} | {r.tree} | {r.check_s:.3f} | {r.check_units:.0f} |"
               f" {r.difference:.2e} | {f.verdict} | {int(r.kinks)} |")
        if "trees_differ" in df:
            row += f" {r.trees_differ:.1e} |"
        lines.append(row)
    if len(trees) == 2:
        wide = med.pivot_table(index=["network", "activations", "loss"], columns="tree", values="check_s", sort=False)
        ratio = wide[trees[0][0]] / wide[trees[1][0]]
        lines += ["", f"Speed-up of this tree over {trees[0][0]} (median full check):", "",
                  "| network | activations | loss | speed-up |", "|---|---|---|---:|"]
        lines += [f"| {n} | {a} | {lo} | {v:.1f}× |" for (n, a, lo), v in ratio.items()]
    lines += ["", "Every round's figures are in `activations.csv`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
