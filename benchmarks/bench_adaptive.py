"""``eps="adaptive"`` against numdifftools.Gradient (defaults) on the smooth test-function table.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_adaptive.py [--max-n 100] [--repeat 3]

Needs the ``bench`` extra (numdifftools).  The functions are those of ``tests/smooth.py``
(Moré–Garbow–Hillstrom problems and classic benchmark functions, at the standard point ×1,
×10, ×100, ×1e-6 and a mixed-scale point); every reference gradient is the complex step at
h = 1e-200.  Both methods see the same plain NumPy function (fastcheck's loop evaluator, so
neither gets compiled code); per case the max relative error
max_i |g_i − ref_i| / max(max_j |ref_j|, tiny) and the median wall time of ``--repeat`` calls
are recorded, and the cost evaluations of each.  Unless ``--no-jit``, the same function compiled
by ``numba.njit`` too, its first call (compilation) timed apart.  Lists every case where fastcheck
is ≥ 100× less accurate than numdifftools with its cause.  Writes reports/adaptive/adaptive.csv,
README.md and a figure (with ``--write``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import add_write_option, report_dir  # noqa: E402

import fastcheck  # noqa: E402
import fastcheck.evaluators.choose  # noqa: E402
from tests import smooth  # noqa: E402

OUT = ROOT / "reports" / "adaptive"


def max_rel(g, ref):
    return float(np.max(np.abs(g - ref)) / max(np.max(np.abs(ref)), 1e-300))


def compiled(f, x):
    """``numba.njit(f)`` if it compiles and agrees with ``f`` at x, else ``f`` (the loop)."""
    import numba

    try:
        if hasattr(f, "residuals"):  # a least-squares problem: compile its residuals, then the sum
            r = numba.njit(f.residuals)

            @numba.njit
            def jf(x):
                v = r(x)
                return np.sum(v * v)
        else:
            jf = numba.njit(f)
        # Numba may sum in another order: agree to 1e-9 of the terms' size, not to the last bit
        if np.isclose(jf(x.copy()), f(x.copy()), rtol=1e-9, atol=1e-12):
            return jf, "parallel"
    except Exception:  # Numba cannot compile it: the plain loop runs it
        pass
    return f, "loop"


def counted(f):
    """``f`` and a list whose length is the number of calls made to it."""
    calls = []

    def g(x, *args):
        calls.append(1)
        return f(x, *args)

    return g, calls


def timed(fn, repeat):
    """``fn()``'s result, the median wall time and the median CPU time (this process) of ``repeat`` calls."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, float(np.median(times)), float(np.median(cpu))


def cause(row, settle):
    """Why fastcheck is ≥ 100× less accurate than numdifftools on this case (from what was measured)."""
    if row["fastcheck_err"] <= settle:
        return (f"within the settle tolerance: eps='adaptive' stops a coordinate once its error bar is within"
                f" ε^(3/4) = {settle:.1e} of the gradient's scale (here the error is {row['fastcheck_err']:.1e});"
                " numdifftools' ladder goes on to rounding level here")
    if row["case"].startswith("ackley") and row["case"].endswith("mixed"):
        return ("a short oscillation (period 1, cos 2πθ_i) at coordinates with |θ_i| ≈ 1e3: the ladder's steps"
                " scale with max(1, |θ_i|) (h ≈ 0.01), so only its finest rungs are shorter than the period and"
                " Richardson over them leaves ~1e-7 (the error bar covers it); numdifftools' nominal step is"
                " max(log(e + |θ_i|), 1), ~260× shorter there")
    return "not analysed"


def main(argv=None):
    import numdifftools as nd

    from fastcheck.verdicts import ladder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-n", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-jit", action="store_true", help="skip the variant with the cost compiled by Numba")
    p.add_argument("--jit-every", type=int, default=1, help="the compiled variant on every k-th case only "
                   "(compiling each function takes about a second)")
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    out = report_dir(args.write, OUT)
    settle = float(np.finfo(np.float64).eps) ** ladder.ADAPTIVE_RTOL
    rows = []
    cases = smooth.cases(max_n=args.max_n)
    # the first call in this process (fastcheck's kernels loaded from the cache or compiled): timed apart
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastcheck.adaptive_gradient(cases[0][1], cases[0][2], jit=False, workers=1)
    first_call = time.perf_counter() - t0
    for k, (label, f, x) in enumerate(cases):
        ref = smooth.reference_gradient(f, x)
        if not np.all(np.isfinite(ref)):
            continue
        scale = max(np.max(np.abs(ref)), 1e-300)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (g_fc, bar), t_fc, c_fc = timed(
                lambda f=f, x=x: fastcheck.adaptive_gradient(f, x, jit=False, workers=1), args.repeat)
            g_nd, t_nd, c_nd = timed(lambda f=f, x=x: nd.Gradient(f)(x), args.repeat)
            # evaluations per coordinate, counted on one more (untimed) call of each
            fc_f, fc_calls = counted(f)
            fastcheck.adaptive_gradient(fc_f, x, jit=False, workers=1)
            nd_f, nd_calls = counted(f)
            nd.Gradient(nd_f)(x)
            row = {"case": label, "n": len(x), "fastcheck_err": max_rel(g_fc, ref),
                   "numdifftools_err": max_rel(np.ravel(g_nd), ref), "fastcheck_bar": float(np.max(bar) / scale),
                   "bar_covers": bool(np.all(np.abs(g_fc - ref) <= bar)), "fastcheck_s": t_fc, "numdifftools_s": t_nd,
                   "fastcheck_cpu_s": c_fc, "numdifftools_cpu_s": c_nd,
                   "fastcheck_evals": len(fc_calls), "numdifftools_evals": len(nd_calls)}
            if not args.no_jit and k % args.jit_every == 0:
                # the same function compiled with numba.njit when Numba can: the parallel kernels; the first
                # call (compiling the cost and fastcheck's kernels for it) is timed apart from the warm ones
                t0 = time.perf_counter()
                jf, path = compiled(f, x)
                fastcheck.adaptive_gradient(jf, x, jit=False)
                first = time.perf_counter() - t0
                g_jit, t_jit, _ = timed(lambda jf=jf, x=x: fastcheck.adaptive_gradient(jf, x, jit=False)[0],
                                        args.repeat)
                row.update({"fastcheck_jit_err": max_rel(g_jit, ref), "fastcheck_jit_s": t_jit, "jit_path": path,
                            "jit_compile_s": max(first - t_jit, 0.0)})
        rows.append(row)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "adaptive.csv", index=False)
    q = lambda c, v: float(np.nanquantile(df[c].replace([np.inf], np.nan), v))  # noqa: E731
    methods = [("fastcheck eps='adaptive', plain loop (jit=False)", "fastcheck_err", "fastcheck_s")]
    if not args.no_jit:
        methods.append(("fastcheck eps='adaptive', cost compiled (warm)", "fastcheck_jit_err", "fastcheck_jit_s"))
    methods.append(("numdifftools.Gradient()", "numdifftools_err", "numdifftools_s"))
    summary = pd.DataFrame({
        "method": [m for m, _, _ in methods],
        "median max rel err": [q(e, 0.5) for _, e, _ in methods],
        "p90 max rel err": [q(e, 0.9) for _, e, _ in methods],
        "total s": [df[t].sum() for _, _, t in methods],
        "median s per case": [df[t].median() for _, _, t in methods],
    })
    ratio = df["fastcheck_s"].sum() / df["numdifftools_s"].sum()
    ratio_cpu = df["fastcheck_cpu_s"].sum() / df["numdifftools_cpu_s"].sum()
    per_case_loop = float((df["fastcheck_s"] / df["numdifftools_s"]).median())
    fc_per = df["fastcheck_evals"].sum() / df["n"].sum()
    nd_per = df["numdifftools_evals"].sum() / df["n"].sum()
    fc_per_med = float((df["fastcheck_evals"] / df["n"]).median())
    worse = df[df["fastcheck_err"] >= 100 * df["numdifftools_err"]].copy()
    worse["cause"] = [cause(r, settle) for _, r in worse.iterrows()]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 5))
        lo = 1e-17
        ax.loglog(np.maximum(df["numdifftools_err"], lo), np.maximum(df["fastcheck_err"], lo), ".", alpha=0.6)
        ax.plot([lo, 1], [lo, 1], "k--", lw=0.8)
        ax.set_xlabel("numdifftools.Gradient max rel err")
        ax.set_ylabel("fastcheck eps='adaptive' max rel err")
        ax.set_title(f"{len(df)} cases; time ratio {ratio:.2f}")
        fig.tight_layout()
        fig.savefig(out / "adaptive.png", dpi=110)
    except ImportError:  # pragma: no cover
        pass
    cmd = (f"flock /tmp/fastcheck-bench.lock python benchmarks/bench_adaptive.py --max-n {args.max_n}"
           f" --repeat {args.repeat}" + (" --no-jit" if args.no_jit else f" --jit-every {args.jit_every}"))
    lines = ["# eps='adaptive' against numdifftools.Gradient", "",
             f"Command: `{cmd}` (load average at the start: {os.getloadavg()[0]:.2f})", "",
             (f"{len(df)} cases of tests/smooth.py (n ≤ {args.max_n}); reference gradients by the complex step at"
              " h = 1e-200; both methods on the same plain NumPy function, side by side in one process, median of"
              " the repeats per case."), "",
             summary.to_markdown(index=False, floatfmt=".3g"), "",
             (f"Time ratio fastcheck / numdifftools, the same plain Python function for both (target ≤ 0.2):"
              f" **{ratio:.3f}** in total wall time, **{ratio_cpu:.3f}** in total CPU time of this process,"
              f" **{per_case_loop:.3f}** median per case.  Not in these totals: fastcheck's first call in the"
              f" process ({first_call:.2f} s, its kernels loaded from Numba's cache or compiled, once per process)."),
             ""]
    if not args.no_jit:
        sub = df[df["jit_path"].notna()]
        comp = sub[sub["jit_path"] == "parallel"]
        lines += [(f"With the cost compiled by numba.njit ({len(sub)} cases, every {args.jit_every}th; {len(comp)}"
                   f" compile, the others run in the loop): warm"
                   f" {sub['fastcheck_jit_s'].sum() / sub['numdifftools_s'].sum():.3f} of numdifftools' total"
                   f" time on those cases, plus {sub['jit_compile_s'].sum():.1f} s compiling"
                   f" ({sub['jit_compile_s'].median():.2f} s median per function: the cost and fastcheck's"
                   " kernels for it; numdifftools gets no compiled code)."), ""]
    lines += [(f"Cost evaluations per coordinate (counted on one more call of each, over all coordinates):"
               f" fastcheck {fc_per:.2f} ({fc_per_med:.1f} in the median case), numdifftools {nd_per:.1f}; the"
               f" evaluations alone put fastcheck at {fc_per / nd_per:.3f} of numdifftools.  eps='adaptive'"
               " evaluates its ladder in rounds from the largest steps down (6, 10, 14, 18 and 22 evaluations); a"
               " coordinate stops once its error bar is within ε^(3/4) of the gradient's scale, or once no"
               " smaller step can shrink its bar (round-off of a large |f|).  A nearly polynomial coordinate"
               " settles on the first round; the first round's 6 evaluations against numdifftools' 30 put the"
               " floor of the ratio at 0.2 for the plain loop, where both spend their time in the cost."), "",
              f"Error bars cover the error on {int(df['bar_covers'].sum())} of {len(df)} cases (every coordinate).",
              "", f"## Cases where fastcheck is ≥ 100× less accurate than numdifftools ({len(worse)})", ""]
    if len(worse):
        lines += [worse[["case", "fastcheck_err", "numdifftools_err", "fastcheck_bar", "bar_covers", "cause"]]
                  .to_markdown(index=False, floatfmt=".2g"), ""]
    lines += ["![errors](adaptive.png)", ""]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
