"""Users' own networks at full speed: the pool, Dask, stage caching and compile-once, side by side.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_user_code.py [--repeat 5] [--no-dask]

Writes reports/user-code/user_code.csv and reports/user-code/README.md.

What is timed, in one process, variants interleaved round by round (every
variant warmed up first: compilation and the pool's start-up are excluded
from the medians and reported on their own):

1. an object-style 100-120-10 sigmoid network in plain NumPy (batch 32):
   *Neural Networks Demystified*'s ``computeNumericalGradient`` loop, written
   here, against ``check_object`` with default settings (the pool of worker
   processes on every core) and with ``workers=1`` (the serial loop);
2. the same ``check_object`` with ``client=`` on a 2-worker LocalCluster
   (1 thread each) against a 1-worker LocalCluster;
3. a conv-relu-pool-affine-relu-affine-softmax network in plain NumPy with
   naive loops for the convolution and the pooling: ``check_sequential``
   against the black-box check of the composed cost (``check_gradient``),
   both in the serial loop and both with default settings; and a smaller
   one written as a list of layer objects (``tests/user_nets.LayerListNet``)
   through ``check_object``, which finds its stages, against
   ``cache_stages=False`` (the black-box loop);
4. a plain NumPy cost of an MLP 784-30-10 compiled by ``jit=True`` (then
   checked with ``jit="auto"``, which finds it compiled) and a user's
   ``@njit`` cost: the wall time of the first call (compiling), the second
   call, and the steady state; and a call with the compile cache emptied
   before it (what every call cost before compiled costs were kept).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import add_write_option, report_dir  # noqa: E402

import fastcheck as fc
from benchmarks.quiet import wait_for_quiet
from fastcheck.checks.sequential import compose
from fastcheck.evaluators import compiled, pool
from tests.user_nets import LayerListNet, ObjectNet, computeNumericalGradient, conv_net, object_data

OUT = ROOT / "reports" / "user-code"


def interleaved(variants: dict, repeat: int) -> dict:
    """Seconds of every call of every variant, the variants run in turn ``repeat`` times."""
    times = {k: [] for k in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def wall(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# -- 4. a plain NumPy cost that Numba compiles --------------------------------------------
def mlp_cost(theta, X, Y):
    """Squared error of a 784-30-10 sigmoid MLP, θ = [W1, b1, W2, b2]."""
    n0, n1, n2 = 784, 30, 10
    W1 = theta[: n0 * n1].reshape(n0, n1)
    b1 = theta[n0 * n1 : n0 * n1 + n1]
    o = n0 * n1 + n1
    W2 = theta[o : o + n1 * n2].reshape(n1, n2)
    b2 = theta[o + n1 * n2 :]
    a = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    out = 1.0 / (1.0 + np.exp(-(a @ W2 + b2)))
    return 0.5 * np.sum((out - Y) ** 2)


def mlp_grad(theta, X, Y):
    n0, n1, n2 = 784, 30, 10
    W1 = theta[: n0 * n1].reshape(n0, n1)
    b1 = theta[n0 * n1 : n0 * n1 + n1]
    o = n0 * n1 + n1
    W2 = theta[o : o + n1 * n2].reshape(n1, n2)
    b2 = theta[o + n1 * n2 :]
    a = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    out = 1.0 / (1.0 + np.exp(-(a @ W2 + b2)))
    d2 = (out - Y) * out * (1 - out)
    d1 = (d2 @ W2.T) * a * (1 - a)
    return np.concatenate([(X.T @ d1).ravel(), d1.sum(0), (a.T @ d2).ravel(), d2.sum(0)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="wait up to SECONDS for the other work on the machine to stop before timing")
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    rows = []

    def add(section, variant, seconds, *, reference=None, identical="", note="", times=()):
        rows.append({"section": section, "variant": variant, "seconds": seconds, "reference": reference or "",
                     "identical_numbers": identical, "note": note, "runs": len(times),
                     "all_seconds": " ".join(f"{t:.3f}" for t in times)})

    cores = pool.available_cores()
    quiet = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else ""
    load_before = os.getloadavg()[0]
    print(f"{cores} core(s), load average {load_before:.2f}", flush=True)

    # -- 1. object style: tutorial loop vs check_object ----------------------------------------
    sizes = (100, 120, 10)
    X, y = object_data(sizes, batch=32)
    net = ObjectNet(sizes)
    t_cold, cold = wall(lambda: fc.check_object(net, X, y))  # the pool starts here
    print(f"first check_object (pool start-up included): {t_cold:.2f} s [{cold.path}]", flush=True)
    serial = fc.check_object(net, X, y, workers=1)
    tut = computeNumericalGradient(net, X, y)
    times = interleaved({
        "tutorial": lambda: computeNumericalGradient(net, X, y),
        "default": lambda: fc.check_object(net, X, y),
        "serial": lambda: fc.check_object(net, X, y, workers=1),
    }, args.repeat)
    default = fc.check_object(net, X, y)
    med = {k: statistics.median(v) for k, v in times.items()}
    sec = f"object-style {'-'.join(map(str, sizes))} network ({net.getParams().size} parameters, batch 32), full check"
    add(sec, "tutorial loop (computeNumericalGradient, eps 1e-4)", med["tutorial"], times=times["tutorial"],
        note=f"difference to check_object's numbers {fc.relative_difference(tut, serial.numerical):.1e} (other eps)")
    add(sec, f"check_object, default settings [{default.path}]", med["default"], times=times["default"],
        reference=f"{med['tutorial'] / med['default']:.2f}x the tutorial loop",
        identical=str(np.array_equal(default.numerical, serial.numerical)),
        note=f"first call, pool start-up included: {t_cold:.2f} s")
    add(sec, "check_object, workers=1 [loop]", med["serial"], times=times["serial"],
        reference=f"{med['tutorial'] / med['serial']:.2f}x the tutorial loop")
    print(pd.DataFrame(rows).iloc[-3:, :4].to_string(), flush=True)

    # -- 2. Dask ----------------------------------------------------------------------------------
    if not args.no_dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c2, \
                Client(c2) as two, \
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c1, \
                Client(c1) as one:
            r2 = fc.check_object(net, X, y, client=two)  # warm: workers import fastcheck
            r1 = fc.check_object(net, X, y, client=one)
            times = interleaved({
                "two": lambda: fc.check_object(net, X, y, client=two),
                "one": lambda: fc.check_object(net, X, y, client=one),
            }, args.repeat)
        med = {k: statistics.median(v) for k, v in times.items()}
        sec = "check_object on a Dask LocalCluster (processes, 1 thread per worker), same network"
        add(sec, "client= 2-worker LocalCluster", med["two"], times=times["two"],
            reference=f"{med['one'] / med['two']:.2f}x one worker",
            identical=str(np.array_equal(r2.numerical, serial.numerical) and np.array_equal(r1.numerical, serial.numerical)),
            note="numbers compared with check_object(workers=1)")
        add(sec, "client= 1-worker LocalCluster", med["one"], times=times["one"])
        print(pd.DataFrame(rows).iloc[-2:, :4].to_string(), flush=True)

    # -- 3. stage caching --------------------------------------------------------------------------
    stages, params, xc, grads = conv_net(batch=2, channels=3, size=8, filters=4, hidden=20, classes=10, seed=0)
    cost, theta, layout = compose(stages, params, xc)
    g = grads(params, xc)
    gvec = np.concatenate([g["d" + n].ravel() for n in layout.names])
    runs = {
        "seq_serial": lambda: fc.check_sequential(stages, params, xc, grads, workers=1),
        "bb_serial": lambda: fc.check_gradient(cost, theta, gvec, layout=layout, jit=False, workers=1),
        "seq_default": lambda: fc.check_sequential(stages, params, xc, grads),
        "bb_default": lambda: fc.check_gradient(cost, theta, gvec, layout=layout),
    }
    results = {k: fn() for k, fn in runs.items()}  # warm-up, and the numbers
    times = interleaved(runs, max(3, args.repeat // 2))
    med = {k: statistics.median(v) for k, v in times.items()}
    same = all(np.array_equal(r.numerical, results["bb_serial"].numerical) for r in results.values())
    sec = f"conv-relu-pool-affine-relu-affine-softmax, plain NumPy, naive conv loops ({theta.size} parameters), full check"
    add(sec, "check_sequential, workers=1", med["seq_serial"], times=times["seq_serial"],
        reference=f"{med['bb_serial'] / med['seq_serial']:.1f}x the black-box loop", identical=str(same),
        note="identical: all four variants give the same numbers")
    add(sec, "black-box check_gradient of the composed cost, workers=1", med["bb_serial"], times=times["bb_serial"])
    add(sec, f"check_sequential, default settings [{results['seq_default'].path}]", med["seq_default"],
        times=times["seq_default"], reference=f"{med['bb_default'] / med['seq_default']:.1f}x the black box, default")
    add(sec, f"black-box check_gradient, default settings [{results['bb_default'].path}]", med["bb_default"],
        times=times["bb_default"])
    print(pd.DataFrame(rows).iloc[-4:, :4].to_string(), flush=True)

    # -- 3b. stage caching with no glue: check_object on a list of layer objects --------------------------
    lnet = LayerListNet()
    lrun = {
        "staged_serial": lambda: fc.check_object(lnet, lnet.x, lnet.labels, workers=1),
        "black_serial": lambda: fc.check_object(lnet, lnet.x, lnet.labels, workers=1, cache_stages=False),
        "staged_default": lambda: fc.check_object(lnet, lnet.x, lnet.labels),
        "black_default": lambda: fc.check_object(lnet, lnet.x, lnet.labels, cache_stages=False),
    }
    results = {k: fn() for k, fn in lrun.items()}  # warm-up, and the numbers
    times = interleaved(lrun, max(3, args.repeat // 2))
    med = {k: statistics.median(v) for k, v in times.items()}
    same = all(np.array_equal(r.numerical, results["black_serial"].numerical) for r in results.values())
    sec = (f"the same conv network as a list of layer objects (params dict + loss(X, y) -> (loss, grads), "
           f"{results['black_serial'].numerical.size} parameters), check_object")
    add(sec, f"check_object, workers=1 [{results['staged_serial'].path}]", med["staged_serial"],
        times=times["staged_serial"], reference=f"{med['black_serial'] / med['staged_serial']:.1f}x the black-box loop",
        identical=str(same), note="identical: all four variants give the same numbers; the model's loss also "
        "computes its backward pass, so each black-box evaluation costs a forward and a backward pass")
    add(sec, "check_object, cache_stages=False, workers=1 [loop]", med["black_serial"], times=times["black_serial"])
    add(sec, f"check_object, default settings [{results['staged_default'].path}]", med["staged_default"],
        times=times["staged_default"],
        reference=f"{med['black_default'] / med['staged_default']:.1f}x the black box, default")
    add(sec, f"check_object, cache_stages=False, default settings [{results['black_default'].path}]",
        med["black_default"], times=times["black_default"])
    print(pd.DataFrame(rows).iloc[-4:, :4].to_string(), flush=True)

    # -- 4. compile once ------------------------------------------------------------------------------
    rng = np.random.default_rng(0)
    Xm, Ym = rng.standard_normal((32, 784)) * 0.1, rng.random((32, 10))
    n = 784 * 30 + 30 + 30 * 10 + 10
    th = rng.standard_normal(n) * 0.05
    gm = mlp_grad(th, Xm, Ym)
    user_njit = numba.njit(mlp_cost)
    for label, fn, kw in (("plain NumPy cost, jit=True", mlp_cost, {"jit": True}),
                          ("plain NumPy cost, jit='auto' (after the jit=True calls)", mlp_cost, {}),
                          ("user's @njit cost", user_njit, {})):
        call = lambda fn=fn, kw=kw: fc.check_gradient(fn, th, gm, args=(Xm, Ym), **kw)
        t1, r1 = wall(call)
        t2, r2 = wall(call)
        steady = interleaved({"s": call}, args.repeat)["s"]
        ms = statistics.median(steady)
        sec = f"MLP 784-30-10 cost ({n} parameters, batch 32), full check: compile once"
        add(sec, f"{label}: first call (wall) [{r1.path}]", t1,
            note=f"compile_seconds {r1.compile_seconds:.2f}, seconds {r1.seconds:.2f}")
        add(sec, f"{label}: second call (wall)", t2, reference=f"{t2 / ms:.3f}x the steady state",
            identical=str(np.array_equal(r1.numerical, r2.numerical)), note=f"compile_seconds {r2.compile_seconds:.3f}")
        add(sec, f"{label}: steady state", ms, times=steady)
    # what every call cost before: the compile cache emptied before each call
    def uncached():
        compiled._JITTED.clear()
        return fc.check_gradient(mlp_cost, th, gm, args=(Xm, Ym), jit=True)

    t_unc, r_unc = wall(uncached)
    add(sec, "plain NumPy cost, jit=True, compile cache emptied before the call (as before)", t_unc,
        note=f"compile_seconds {r_unc.compile_seconds:.2f}")
    print(pd.DataFrame(rows).iloc[-10:, :4].to_string(), flush=True)

    write(rows, args, cores, (load_before, os.getloadavg()[0]), quiet)


def write(rows, args, cores, load, quiet=""):
    out = report_dir(args.write, OUT)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "user_code.csv", index=False)
    meta = (f"numba {numba.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()}, {cores} core(s) available to the process; 1-minute load average "
            f"{load[0]:.2f} at the start and {load[1]:.2f} at the end (the machine is shared: other work competes "
            "for the cores, which depresses the parallel ratios)" + (f"; {quiet}" if quiet else ""))
    lines = [
        "# Your own network at full speed",
        "",
        (f"`flock /tmp/fastcheck-bench.lock python benchmarks/bench_user_code.py --repeat {args.repeat}"
         f"{' --no-dask' if args.no_dask else ''}{f' --wait-quiet {args.wait_quiet:g}' if args.wait_quiet > 0 else ''}"
         f"` — {meta}."),
        "Variants of a section ran interleaved, round by round, in one process after warm-up; `seconds` is the",
        "median (`all_seconds` in the CSV lists every run).  `identical` says whether the numerical gradients are",
        "bitwise equal to the reference named in the note.",
        "",
    ]
    for section, part in df.groupby("section", sort=False):
        lines += [f"## {section}", "", "| variant | seconds | ratio | identical | note |", "|---|---:|---|---|---|"]
        for _, r in part.iterrows():
            lines.append(f"| {r.variant} | {r.seconds:.3f} | {r.reference} | {r.identical_numbers} | {r.note} |")
        lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    print(f"wrote {out / 'user_code.csv'} and {out / 'README.md'}")


if __name__ == "__main__":
    main()
