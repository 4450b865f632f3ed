"""Where a full structured check's time goes, in forward-pass units (one process, one tree).

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/profile_structured.py [--repeat 7]

For MLP 784-128-10 and 784-256-64-10 (sigmoid, sse, batch 64, 2 threads), after warm-up:
the forward pass (``model.cost``, the unit); the whole ``check_model``; the kernel alone on
every coordinate (``LayeredEvaluator.stencil`` with the check's steps); the kernel on the
coordinates of each layer alone; the kernel on three coordinates (its fixed cost: the cached
forward pass, the plan, the scratch); and the same on one thread.  Medians of ``--repeat``
runs.  Writes reports/structured/profile.csv and its table between the ``profile`` markers of
reports/structured/README.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from timing import add_write_option, report_dir  # noqa: E402 - benchmarks/ is on the path from here on

OUT = HERE.parent / "reports" / "structured"
NETWORKS = ([784, 128, 10], [784, 256, 64, 10])
BATCH = 64
BEGIN, END = "<!-- profile: begin -->", "<!-- profile: end -->"


def profile(sizes, repeat):
    from timing import median_time

    import fastcheck
    from fastcheck.core.steps import absolute_steps, get_scheme
    from fastcheck.evaluators.structured import LayeredEvaluator
    from fastcheck.models import MLP

    fastcheck.config.COMPILE = "always"  # the compiled kernel is profiled, not the NumPy form

    model = MLP(sizes, activations="sigmoid", loss="sse")
    theta = model.init(seed=0)
    X, y = model.sample_data(BATCH, seed=1)
    X, Y = model.validate_data(X, y)
    n = model.n_params
    coords = np.arange(n)
    steps = absolute_steps(theta, coords, get_scheme("central"), None)
    offsets = np.array([-1.0, 1.0])
    rows = []
    fastcheck.check_model(model, theta, X, y, coords=np.arange(3), threads=2)  # compiles
    _, before = median_time(lambda: model.cost(theta, X, y), 200)

    def add(what, threads, n_coords, fn, reps=repeat):
        fn()
        sec, _ = median_time(fn, reps)
        rows.append(dict(network="-".join(map(str, sizes)), part=what, threads=threads, coords=n_coords,
                         seconds=sec, ns_per_coord=sec / max(n_coords, 1) * 1e9))

    add("check_model (whole check)", 2, n, lambda: fastcheck.check_model(model, theta, X, y, threads=2))
    for threads in (2, 1):
        ev = LayeredEvaluator(model, X, Y, threads=threads)
        add("kernel, every coordinate", threads, n, lambda: ev.stencil(theta, coords, steps, offsets))
        add("kernel, 3 coordinates (fixed cost)", threads, 3,
            lambda: ev.stencil(theta, coords[:3], steps[:3], offsets), 5 * repeat)
        start = 0
        for l in range(len(sizes) - 1):
            size = sizes[l] * sizes[l + 1] + sizes[l + 1]
            sub = coords[start : start + size]
            add(f"kernel, layer {l + 1} only", threads, size, lambda: ev.stencil(theta, sub, steps[sub], offsets))
            start += size
    _, after = median_time(lambda: model.cost(theta, X, y), 200)
    unit = min(before + after)  # the fastest forward pass: the least disturbed by other work
    for r in rows:
        r["forward_s"] = unit
        r["forward_units"] = r["seconds"] / unit
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        raise SystemExit("needs NUMBA_NUM_THREADS >= 2")
    rows = []
    for sizes in NETWORKS:
        rows += profile(sizes, args.repeat)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "profile.csv", index=False)
    lines = [BEGIN, "## Where a full check's time goes (`benchmarks/profile_structured.py`)", "",
             f"`flock /tmp/fastcheck-bench.lock python benchmarks/profile_structured.py --repeat {args.repeat}` —"
             f" numba {numba.__version__}, numpy {np.__version__}, Python {platform.python_version()}.",
             "Medians of runs in one process, after warm-up; the unit is the fastest `model.cost` of the same",
             "network (400 runs around the rest: a BLAS pass is the figure most disturbed by other work).",
             "The fixed cost is the kernel on three coordinates: the cached forward pass, the plan of blocks,",
             "the scratch and the start of the parallel region.", "",
             "| network | part | threads | coordinates | seconds | forward passes | ns / coordinate |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {r.network} | {r.part} | {r.threads} | {r.coords} | {r.seconds:.4f} |"
                     f" {r.forward_units:.0f} | {r.ns_per_coord:.0f} |")
    lines += ["", "Every figure is in `profile.csv`.", END]
    section = "\n".join(lines)
    readme = out / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
