"""Structure-aware check of the built-in networks, against the black box and the peers.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_structured.py [--repeat 7] [--peer-coords 1000]
      [--full-peers]

Writes reports/structured/structured.csv, reports/structured/memory.csv and
reports/structured/README.md.

What is timed, side by side in one process (compilation excluded: every
variant is warmed up first; figures are medians of ``--repeat`` runs):

1. the full per-coordinate central check of MLP 784-128-10 (sigmoid, sse,
   batch 64) by ``fastcheck.check_model`` (structure-aware kernel) at 2 and
   1 threads, and by the black-box parallel kernel, torch.autograd.gradcheck
   (fast_mode=False, float64) and the tutorial's NumPy loop
   (computeNumericalGradient over a NumPy forward pass).  The three slow ones
   are timed on ``--peer-coords`` coordinates spread over θ and scaled by
   n / measured (the table says so), unless ``--full-peers``;
2. the black-box cost written as loops versus with BLAS matrix products
   (BLAS held to one thread inside the parallel kernel);
3. a deeper network and a ~1,000,000-parameter network checked in full;
4. peak resident memory of full checks of growing networks, each in a fresh
   process (bytes per parameter stay flat: memory is O(n), not O(n²)).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from peers.networks import network_like, tutorial_numerical_gradient
from timing import add_write_option, keep_sections, median_time, report_dir

import fastcheck
from fastcheck.checks.gradient import run_check
from fastcheck.checks.model import check_model
from fastcheck.core.options import CheckOptions
from fastcheck.evaluators.jit import JitEvaluator
from fastcheck.models import MLP, backprop

# the compiled kernels are what is measured, not the NumPy form an uncompiled process may choose
fastcheck.config.COMPILE = "always"
OUT = Path(__file__).resolve().parent.parent / "reports" / "structured"
HEADLINE = dict(sizes=[784, 128, 10], activations="sigmoid", loss="sse")
BATCH = 64


def spread_coords(n, k, seed=0):
    """``k`` coordinates drawn uniformly from θ (sorted)."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False)).astype(np.int64)


def headline_problem():
    model = MLP(**HEADLINE)
    theta = model.init(seed=0)
    X, y = model.sample_data(BATCH, seed=1)
    return model, theta, X, y


# -- the tutorial's NumPy loop --------------------------------------------------------------
# -- torch --------------------------------------------------------------------------------
def torch_gradcheck_time(model, theta, X, y, coords, threads):
    """Seconds of torch.autograd.gradcheck(fast_mode=False, float64) over ``coords`` of θ
    (``coords=None``: every parameter, the network's own tensors as inputs)."""
    import torch

    torch.set_num_threads(threads)
    blocks = {k: torch.tensor(v) for k, v in model.layout.unflatten(theta).items()}
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def cost(W1, b1, W2, b2):
        a = torch.sigmoid(Xt @ W1 + b1)
        out = torch.sigmoid(a @ W2 + b2)
        return (0.5 * ((yt - out) ** 2).sum()).reshape(1)

    kw = dict(eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=False)
    if coords is None:
        inputs = tuple(blocks[k].clone().requires_grad_(True) for k in ("W1", "b1", "W2", "b2"))
        t0 = time.perf_counter()
        ok = torch.autograd.gradcheck(cost, inputs, **kw)
        return time.perf_counter() - t0, ok
    flat0 = torch.tensor(theta)
    idx = torch.tensor(coords)
    shapes = model.layout.shapes
    offs = model.layout.offsets

    def cost_of_subset(sub):
        flat = flat0.index_put((idx,), sub)
        parts = [flat[offs[b] : offs[b + 1]].reshape(shapes[b]) for b in range(4)]
        return cost(*parts)

    sub = flat0[idx].clone().requires_grad_(True)
    t0 = time.perf_counter()
    ok = torch.autograd.gradcheck(cost_of_subset, (sub,), **kw)
    return time.perf_counter() - t0, ok


# -- memory, in a fresh process ----------------------------------------------------------------------
def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def memory_child(sizes):
    """Peak RSS of a full check of MLP(sizes) (called in a subprocess, Linux).

    The kernels are loaded first (a tiny check), the model and data built,
    then the process's peak-RSS mark is reset (``/proc/self/clear_refs``,
    value 5) so that the peak read afterwards belongs to the check alone.
    """
    small = MLP([5, 4, 3])
    ts = small.init(0)
    Xs, ys = small.sample_data(4)
    check_model(small, ts, Xs, ys)  # loads the compiled kernels
    model = MLP(sizes, activations="sigmoid", loss="sse")
    theta = model.init(seed=0)
    X, y = model.sample_data(BATCH, seed=1)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_bytes("VmRSS")
    t0 = time.perf_counter()
    res = check_model(model, theta, X, y)
    sec = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    return dict(sizes="-".join(map(str, sizes)), n_params=model.n_params, seconds=sec, verdict=res.verdict,
                rss_before_mb=before / 2**20, rss_peak_mb=peak / 2**20,
                growth_bytes_per_param=(peak - before) / model.n_params)


def run_memory(sizes):
    cmd = [sys.executable, __file__, "--memory-child", "-".join(map(str, sizes))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- main --------------------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--peer-coords", type=int, default=1000)
    p.add_argument("--full-peers", action="store_true", help="time torch and the tutorial's loop on every coordinate")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
    if args.memory_child:
        print(json.dumps(memory_child([int(s) for s in args.memory_child.split("-")])))
        return 0

    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    rows = []
    model, theta, X, y = headline_problem()
    n = model.n_params
    X, Y = model.validate_data(X, y)
    cargs = model.cost_args(X, Y)

    def add(section, variant, seconds, measured, *, times=(), difference=np.nan, verdict="", note=""):
        rows.append(dict(section=section, variant=variant, n_params=n_cur, measured_coords=measured,
                         seconds_measured=seconds, seconds_full=seconds * n_cur / measured,
                         scaled=measured < n_cur, difference=difference, verdict=verdict,
                         runs=len(times) or 1, note=note))

    # 1. the headline network ------------------------------------------------------------------
    n_cur = n
    section = "MLP 784-128-10, sigmoid, sse, batch 64: full central check"
    for t in (threads, 1):
        res = check_model(model, theta, X, Y, threads=t)  # warm-up (compiled kernels load from the cache)
        sec, times = median_time(lambda t=t: check_model(model, theta, X, Y, threads=t), args.repeat)
        add(section, f"fastcheck check_model (structured), {t} thread(s)", sec, n, times=times,
            difference=res.difference, verdict=res.verdict)

    coords = spread_coords(n, args.peer_coords)
    peer = np.arange(n) if args.full_peers else coords
    ev = JitEvaluator(model.jit_cost, cargs, threads)
    run_check(ev, theta, model.grad, CheckOptions(args=cargs, coords=coords[:2], layout=model.layout))
    last = {}

    def blackbox():
        last["res"] = run_check(ev, theta, model.grad, CheckOptions(args=cargs, coords=peer, layout=model.layout))

    sec, times = median_time(blackbox, 1 if args.full_peers else 3)
    res = last["res"]
    add(section, f"fastcheck black-box parallel kernel (model.jit_cost), {threads} thread(s)", sec, len(peer),
        times=times, difference=res.difference, verdict=res.verdict)

    net = network_like(model)
    net.setParams(theta.copy())
    tutorial_numerical_gradient(net, X, Y, peer[:5])
    t0 = time.perf_counter()
    num = tutorial_numerical_gradient(net, X, Y, peer)[peer]
    sec = time.perf_counter() - t0
    g = model.grad(theta, X, Y)[peer]
    diff = fastcheck.relative_difference(g, num)
    add(section, "the tutorial's NumPy loop (computeNumericalGradient, NumPy forward)", sec, len(peer), difference=diff,
        verdict=fastcheck.verdicts.bands.verdict(diff), note="NumPy BLAS threads as installed; eps 1e-4 as in the tutorial")

    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            torch_gradcheck_time(model, theta, X, Y, coords[:5], threads)
            sec, ok = torch_gradcheck_time(model, theta, X, Y, None if args.full_peers else coords, threads)
            add(section, f"torch.autograd.gradcheck(fast_mode=False), float64, {threads} thread(s)", sec,
                n if args.full_peers else len(coords), verdict="passed" if ok else "failed",
                note=f"torch {torch.__version__}" + ("" if args.full_peers else
                                                       "; the checked subset is the input of a wrapper that scatters it into θ"))

    # 2. the black-box cost: loops versus BLAS inside the parallel kernel ---------------------------------
    section = "black-box kernel on MLP 784-128-10: cost as loops vs BLAS products"
    sub = coords[:200]
    for label, cost in (("row loops (backprop.mlp_cost)", backprop.mlp_cost),
                        ("BLAS A @ W held to 1 thread (model.jit_cost)", model.jit_cost)):
        ev = JitEvaluator(cost, cargs, threads)
        run_check(ev, theta, model.grad, CheckOptions(args=cargs, coords=sub[:2], layout=model.layout))
        sec, times = median_time(lambda: run_check(ev, theta, model.grad, CheckOptions(args=cargs, coords=sub, layout=model.layout)), 3)
        add(section, label, sec, len(sub), times=times)

    # 3. a deeper network and a ~1M-parameter one, in full -------------------------------------------------------
    for sizes, act in (([784, 256, 64, 10], "sigmoid"), ([784, 256, 64, 10], "relu"), ([784, 1260, 10], "sigmoid")):
        m = MLP(sizes, activations=act, loss="sse")
        th = m.init(seed=0)
        Xb, yb = m.sample_data(BATCH, seed=1)
        n_cur = m.n_params
        check_model(m, th, Xb, yb, coords=np.arange(3))
        reps = 3
        sec, times = median_time(lambda: check_model(m, th, Xb, yb, threads=threads), reps)
        res = check_model(m, th, Xb, yb, threads=threads)
        add(f"MLP {'-'.join(map(str, sizes))}, {act}, sse, batch 64: full central check", f"fastcheck check_model, "
            f"{threads} thread(s)", sec, n_cur, times=times, difference=res.difference, verdict=res.verdict,
            note=f"{len(res.kinks)} kink coordinate(s)" if act == "relu" else "")

    # 4. memory ----------------------------------------------------------------------------------------------
    mem = pd.DataFrame([run_memory(s) for s in ([784, 320, 10], [784, 640, 10], [784, 1260, 10])])

    df = pd.DataFrame(rows)
    meta = (f"numba {numba.__version__}, threading layer `{numba.threading_layer()}`, numpy {np.__version__}, "
            f"{threads} thread(s), Python {platform.python_version()}, {platform.machine()}")
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "structured.csv", index=False)
    mem.to_csv(out / "memory.csv", index=False)
    readme = out / "README.md"
    text = render(df, mem, meta, args)
    old = readme.read_text() if readme.exists() else ""
    readme.write_text(keep_sections(text, old))  # the sections bench_forward_units.py and profile_structured.py wrote
    print((out / "README.md").read_text())
    return 0


def render(df, mem, meta, args) -> str:
    lines = [
        "# Structure-aware check of the built-in networks",
        "",
        f"`flock /tmp/fastcheck-bench.lock python benchmarks/bench_structured.py --repeat {args.repeat}"
        f" --peer-coords {args.peer_coords}{' --full-peers' if args.full_peers else ''}` — {meta}.",
        "All variants ran side by side in one process, after warm-up (compilation excluded).",
        "`seconds (full)` is the time of a check of every coordinate: measured when `measured` equals `n_params`,",
        "otherwise **extrapolated** as measured seconds × n_params / measured (marked *scaled*).",
        "",
    ]
    for section, part in df.groupby("section", sort=False):
        base = part["seconds_full"].iloc[0]
        lines += [f"## {section}", "",
                  "| variant | n_params | measured | seconds (measured) | seconds (full) | time / first row | difference | verdict | note |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in part.itertuples():
            full = f"{r.seconds_full:.3f}" + (" *scaled*" if r.scaled else "")
            diff = "" if not np.isfinite(r.difference) else f"{r.difference:.2e}"
            runs = f"median of {r.runs}; " if r.runs > 1 else ""
            lines.append(f"| {r.variant} | {r.n_params} | {r.measured_coords} | {r.seconds_measured:.3f} | {full} |"
                         f" {r.seconds_full / base:.1f}× | {diff} | {r.verdict} | {runs}{r.note} |")
        lines.append("")
    lines += ["## Peak memory of a full check (fresh process per network, after loading the kernels)", "",
              "| network | n_params | seconds | verdict | RSS before (MB) | peak RSS (MB) | growth (bytes / parameter) |",
              "|---|---:|---:|---|---:|---:|---:|"]
    for r in mem.itertuples():
        lines.append(f"| {r.sizes} | {r.n_params} | {r.seconds:.3f} | {r.verdict} | {r.rss_before_mb:.0f} |"
                     f" {r.rss_peak_mb:.0f} | {r.growth_bytes_per_param:.0f} |")
    lines += ["", "Growth per parameter stays flat as n grows: memory is O(n) (a few float64 vectors of length n:",
              "θ, the gradient, the steps, the stencil costs, the result), plus O(threads · batch · width) scratch",
              "in the kernel and O(batch · Σ widths) for the cached forward pass; nothing is O(n²).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
