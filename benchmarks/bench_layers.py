"""Layer check benchmark: check_layer on a naive-loop convolution against the course-style numerical loop.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_layers.py [--repeat 5]
Writes reports/layers/layers.csv and reports/layers/README.md.

The layer is a convolution written with explicit loops, the way course
assignments write it (tests/layers_ref.py).  The reference is the loop those
assignments check it with: for each of x, w and b, perturb one entry at a time
and difference ⟨dout, f⟩ (written out below).  Variants run interleaved, round
by round, in one process after a warm-up; figures are medians.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
from timing import add_write_option, report_dir  # noqa: E402

import fastcheck  # noqa: E402
from benchmarks.quiet import wait_for_quiet  # noqa: E402
from tests.layers_ref import conv_backward_naive, conv_forward_naive  # noqa: E402

OUT = ROOT / "reports" / "layers"


def course_loop(f, x, df, h=1e-5):
    """The course's numerical gradient of ⟨df, f(x)⟩ with respect to the array x (perturbed in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="wait up to SECONDS for the other work on the machine to stop before timing")
    add_write_option(ap, OUT)
    args = ap.parse_args(argv)
    out = report_dir(args.write, OUT)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 1, "pad": 1}
    dout = rng.standard_normal(conv_forward_naive(x, w, b, conv_param)[0].shape)
    inputs = {"x": x, "w": w, "b": b}
    n = x.size + w.size + b.size

    def loop():
        xs, ws, bs = x.copy(), w.copy(), b.copy()
        return np.concatenate([
            course_loop(lambda a: conv_forward_naive(a, ws, bs, conv_param)[0], xs, dout).ravel(),
            course_loop(lambda a: conv_forward_naive(xs, a, bs, conv_param)[0], ws, dout).ravel(),
            course_loop(lambda a: conv_forward_naive(xs, ws, a, conv_param)[0], bs, dout).ravel(),
        ])

    def check(workers):
        return lambda: fastcheck.check_layer(conv_forward_naive, conv_backward_naive, inputs, args=(conv_param,),
                                             dout=dout, eps=1e-5, workers=workers)

    variants = {
        "course loop over x, w, b (eval_numerical_gradient_array style)": loop,
        "check_layer, default settings": check("auto"),
        "check_layer, workers=1": check(1),
    }
    quiet = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else ""
    first = {}
    for name, fn in variants.items():  # warm-up (the pool starts here)
        t0 = time.perf_counter()
        first[name] = fn()
        first[name + " (first)"] = time.perf_counter() - t0
    times = {name: [] for name in variants}
    last = {}
    busy = []
    for _ in range(args.repeat):
        if args.wait_quiet > 0:  # every round starts on a quiet machine if it can (within a tenth of the wait)
            busy.append(wait_for_quiet(args.wait_quiet / 10))
        for name, fn in variants.items():
            t0 = time.perf_counter()
            last[name] = fn()
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times["course loop over x, w, b (eval_numerical_gradient_array style)"]))
    ref = first["course loop over x, w, b (eval_numerical_gradient_array style)"]
    rows = []
    for name in variants:
        med = float(np.median(times[name]))
        res = first[name]
        numbers = ref if isinstance(res, np.ndarray) else res.numerical
        note = f"path of the timed calls: {last[name].path}" if not isinstance(res, np.ndarray) else ""
        if not isinstance(res, np.ndarray):
            note += f"; passed {res.passed}; max |numerical − loop's| {np.max(np.abs(numbers - ref)):.1e}"
        loop_times = times["course loop over x, w, b (eval_numerical_gradient_array style)"]
        paired = float(np.median([a / b for a, b in zip(loop_times, times[name])]))
        rows.append({"variant": name, "seconds": med, "speedup_vs_loop": base / med, "paired_speedup": paired,
                     "first_call_s": first[name + " (first)"],
                     "all_seconds": " ".join(f"{t:.3f}" for t in times[name]), "note": note})
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "layers.csv", index=False)
    load = os.getloadavg()[0]
    lines = [
        "# Checking a layer: naive-loop convolution",
        "",
        (f"`flock /tmp/fastcheck-bench.lock python benchmarks/bench_layers.py --repeat {args.repeat}"
         f"{f' --wait-quiet {args.wait_quiet:g}' if args.wait_quiet > 0 else ''}` — "
         f"fastcheck {fastcheck.__version__}, numba {numba.__version__}, numpy {np.__version__}, Python "
         f"{platform.python_version()}, {os.cpu_count()} core(s), 1-minute load average {load:.2f} at the end "
         "(the machine is shared)" + (f"; {quiet}" if quiet else "") + "."
         + (f" Rounds that began on a quiet machine: {sum(b.startswith('quiet') for b in busy)} of {len(busy)}."
            if busy else "")),
        "",
        f"Layer: `conv_forward_naive` / `conv_backward_naive` of tests/layers_ref.py (explicit loops), x {x.shape}, "
        f"w {w.shape}, b {b.shape}, stride 1, pad 1: {n} input coordinates, each differenced with two forward "
        "passes (central, h = 1e-5) by every variant. Medians of interleaved rounds after a warm-up call (the "
        "first call of the default settings runs serially and starts the process pool for the next ones).",
        "",
        ("`× the course loop` is the ratio of the medians; `paired` is the median over rounds of the ratio within "
         "a round (the course loop and the variant timed back to back, so both meet the same load: the fairer "
         "figure when other work comes and goes)."),
        "",
        "| variant | seconds | × the course loop | paired | first call (s) | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['seconds']:.3f} | {r['speedup_vs_loop']:.2f} | {r['paired_speedup']:.2f} "
                     f"| {r['first_call_s']:.3f} "
                     f"| {r['note']} |")
    lines.append("")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
