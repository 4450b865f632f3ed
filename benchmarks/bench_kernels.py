"""Core-kernel benchmark: the parallel black-box kernel against the loop, threads, and BLAS inside prange.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_kernels.py [--write]
With --write, writes reports/core/core.csv and reports/core/README.md (else a temporary folder).  Every variant is
warmed up (compiled) first; figures are medians of repeated runs, measured
side by side in one process.
"""
from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pandas as pd
from numba import njit
from timing import add_write_option, median_time, report_dir

from fastcheck import config
from fastcheck.checks.gradient import run_check
from fastcheck.core.options import CheckOptions
from fastcheck.evaluators.jit import JitEvaluator
from fastcheck.evaluators.loop import LoopEvaluator

OUT = Path(__file__).resolve().parent.parent / "reports" / "core"


@njit
def smooth(theta, a):
    """Elementwise cost, O(n) per evaluation."""
    s = 0.0
    for i in range(theta.shape[0]):
        s += a * np.sin(theta[i]) + 0.25 * theta[i] ** 4
    return s


def smooth_grad(theta, a):
    return a * np.cos(theta) + theta**3


@njit
def dense_layer(theta, X):
    """½·Σ tanh(X·W)², W = θ reshaped: a matrix product (BLAS) inside the prange body."""
    W = theta.reshape(X.shape[1], -1)
    H = np.tanh(X @ W)
    return 0.5 * np.sum(H * H)


def dense_layer_grad(theta, X):
    W = theta.reshape(X.shape[1], -1)
    H = np.tanh(X @ W)
    return (X.T @ (H * (1 - H**2))).ravel()


def main(repeat=5, write=False):
    out = report_dir(write, OUT)
    rows = []
    rng = np.random.default_rng(0)
    max_threads = numba.config.NUMBA_NUM_THREADS

    # 1. elementwise cost: parallel kernel at 1 and 2 threads vs the same jitted cost called from a Python loop
    for n in (1_000, 4_000):
        theta = rng.standard_normal(n)
        g = smooth_grad(theta, 0.3)
        for label, make in (
            ("loop (jitted cost called from Python)", lambda: LoopEvaluator(smooth, (0.3,))),
            *[(f"parallel kernel, {t} thread(s)", (lambda t=t: JitEvaluator(smooth, (0.3,), threads=t))) for t in range(1, max_threads + 1)],
        ):
            ev = make()
            run_check(ev, theta, g, CheckOptions(args=(0.3,), coords=np.arange(2)))  # warm up / compile
            sec, _ = median_time(lambda: run_check(ev, theta, g, CheckOptions(args=(0.3,))), repeat)
            rows.append({"benchmark": "elementwise cost, full central check", "n_params": n, "variant": label, "seconds": sec})

    # 2. BLAS inside the prange body: hold BLAS to 1 thread (default) or leave it alone
    X = rng.standard_normal((512, 128))
    theta = rng.standard_normal(128 * 64) * 0.1
    g = dense_layer_grad(theta, X)
    coords = np.arange(400)
    try:
        for limit in (True, False):
            config.LIMIT_BLAS = limit
            ev = JitEvaluator(dense_layer, (X,))
            run_check(ev, theta, g, CheckOptions(args=(X,), coords=np.arange(2)))
            sec, _ = median_time(lambda: run_check(ev, theta, g, CheckOptions(args=(X,), coords=coords)), repeat)
            label = "BLAS held to 1 thread in the kernel" if limit else "BLAS left to its own threads"
            rows.append(
                {"benchmark": "BLAS cost (X @ W, 512×128 · 128×64) inside prange, 400 coordinates",
                 "n_params": len(theta), "variant": label, "seconds": sec}
            )
    finally:
        config.LIMIT_BLAS = True

    df = pd.DataFrame(rows)
    df["threads_available"] = max_threads
    df["numba"] = numba.__version__
    df["threading_layer"] = numba.threading_layer()
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "core.csv", index=False)
    lines = [
        "# Core kernel benchmark",
        "",
        "`flock /tmp/fastcheck-bench.lock python benchmarks/bench_kernels.py --write` — "
        f"medians of {repeat} runs after warm-up, one process, "
        f"{max_threads} Numba threads available, threading layer `{numba.threading_layer()}`, numba {numba.__version__}.",
        "",
    ]
    for bench, part in df.groupby("benchmark", sort=False):
        lines += [f"## {bench}", "", "| n_params | variant | seconds | speed-up vs first row |", "|---:|---|---:|---:|"]
        for n_params, sub in part.groupby("n_params", sort=False):
            base = sub["seconds"].iloc[0]
            for r in sub.itertuples():
                lines.append(f"| {n_params} | {r.variant} | {r.seconds:.4f} | {base / r.seconds:.2f}× |")
        lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return df


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repeat", nargs="?", type=int, default=5, help="timed runs per variant (median kept)")
    add_write_option(ap, OUT)
    cli = ap.parse_args()
    main(cli.repeat, cli.write)
