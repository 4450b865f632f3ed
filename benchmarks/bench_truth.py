"""The truth corpus benchmark: correct gradients and planted errors, fastcheck against its peers.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_truth.py [--small] [--peers scipy,numdifftools,torch]
      [--torch-python /path/to/venv/bin/python] [--write]

The corpus (:mod:`benchmarks.truth.generators`: 1,180 correct gradients, five families) and
its planted errors (:mod:`benchmarks.truth.plants`) are built from fixed seeds, so every
tool sees the same cases.  Each tool gives one of three readings per check: *passed*,
*wrong* (a failure that names the gradient: fastcheck's "wrong"/"suspect", a peer's fail)
or *inconclusive* (fastcheck only).  On a correct gradient "wrong" is a false alarm; on a
planted error "passed" is a miss.  Peers' verdicts: scipy's ``check_grad`` (forward
differences, h = 1.49e-8) and numdifftools' ``Gradient`` (central, Richardson) by the
relative difference ‖g − ĝ‖/(‖g‖ + ‖ĝ‖) against 1e-6 (fastcheck's "great" band);
torch's ``gradcheck`` by its own defaults (eps 1e-6, atol 1e-5, rtol 1e-3), the cost
wrapped in an ``autograd.Function`` whose backward is the gradient under test, run in a
separate interpreter that has torch (``--torch-python``).  numdifftools runs on the
cases with at most 50 variables (it takes ~100 evaluations per variable).

With ``--write``, writes reports/truth/README.md (tables), results.csv (one row per tool and check).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
#: The tracked report folder (written only with --write).
TRACKED = ROOT / "reports" / "truth"

from benchmarks.truth import generators as G  # noqa: E402
from benchmarks.truth import plants as P  # noqa: E402
from timing import add_write_option, report_dir  # noqa: E402

GREAT = 1e-6
NDT_MAX_N = 50


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    s = max(np.max(np.abs(a), initial=0), np.max(np.abs(b), initial=0))
    if s == 0:
        return 0.0
    a, b = a / s, b / s
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den else 0.0


def run_fastcheck(case, g):
    import fastcheck as fc

    layout = fc.Layout.from_shapes(case.blocks) if case.blocks else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fc.check_gradient(case.f, case.x, g, layout=layout, jit=False, workers=1)
    reading = "passed" if r.passed else ("inconclusive" if r.verdict == "inconclusive" else "wrong")
    return reading, {"verdict": r.verdict, "resolution": r.resolution, "n_evals": r.n_evals, "reason": r.reason[:160]}


def run_scipy(case, g):
    from scipy.optimize import check_grad

    x = case.x.astype(np.float64)
    f = (lambda t: float(case.f(t.astype(case.x.dtype)))) if case.x.dtype != np.float64 else (lambda t: float(case.f(t)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        err = check_grad(f, lambda t: g, x)
    rel = err / (2 * max(np.linalg.norm(g), 1e-300))  # ≈ ‖ĝ − g‖/(‖g‖ + ‖ĝ‖)
    return ("wrong" if not np.isfinite(rel) or rel > GREAT else "passed"), {"rel": rel}


def run_numdifftools(case, g):
    if len(case.x) > NDT_MAX_N:
        return None, {}
    import numdifftools as nd

    x = case.x.astype(np.float64)
    f = (lambda t: float(case.f(t.astype(case.x.dtype)))) if case.x.dtype != np.float64 else (lambda t: float(case.f(t)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        est = nd.Gradient(f)(x)
    rel = _rel(g, np.atleast_1d(est))
    return ("wrong" if not np.isfinite(rel) or rel > GREAT else "passed"), {"rel": rel}


TORCH_WORKER = r"""
import json, sys, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
import torch
from benchmarks.truth import generators as G, plants as P
small = sys.argv[2] == "1"
cases = G.corpus(small=small)
out = []
for ci, case in enumerate(cases):
    checks = [("correct", case.g)] + [(lab, gp) for lab, _, gp, _ in P.plants(case)]
    for lab, gp in checks:
        dt = torch.float32 if case.x.dtype == np.float32 else torch.float64
        class F(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return torch.tensor(float(case.f(t.detach().numpy())), dtype=dt)
            @staticmethod
            def backward(ctx, go):
                return go * torch.as_tensor(gp, dtype=dt)
        x = torch.tensor(case.x, dtype=dt, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ok = torch.autograd.gradcheck(F.apply, (x,), raise_exception=False)
            except Exception:
                ok = False
        out.append({"case": ci, "check": lab, "passed": bool(ok)})
print(json.dumps(out))
"""


def run_torch(python, small):
    t0 = time.perf_counter()
    res = subprocess.run([python, "-c", TORCH_WORKER, str(ROOT), "1" if small else "0"], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        return None, 0.0
    return json.loads(res.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


TOOLS = {"fastcheck": run_fastcheck, "scipy check_grad": run_scipy, "numdifftools": run_numdifftools}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="the small subset the tests use")
    p.add_argument("--peers", default="scipy,numdifftools,torch")
    p.add_argument("--torch-python", default="/tmp/v21/torchenv/bin/python")
    p.add_argument("--out", default=None, help="write here instead (default: see --write)")
    add_write_option(p, TRACKED)
    p.add_argument("--reuse-peers", default="", help="a results.csv whose peers' rows are taken as they are (the"
                   " corpus and the peers are deterministic): only fastcheck runs")
    args = p.parse_args(argv)
    args.out = str(args.out or report_dir(args.write, TRACKED))
    # --reuse-peers: only fastcheck runs (the peers' rows come from the file)
    peers = set(args.peers.split(",")) if args.peers and not args.reuse_peers else set()
    tools = {"fastcheck": run_fastcheck}
    if "scipy" in peers:
        tools["scipy check_grad"] = run_scipy
    if "numdifftools" in peers:
        tools["numdifftools"] = run_numdifftools
    cases = G.corpus(small=args.small)
    rows = []
    t_start = time.perf_counter()
    for ci, case in enumerate(cases):
        cache = {}
        checks = [("correct", 0.0, case.g, np.zeros(0, np.int64))] + P.plants(case)
        for lab, size, gp, coords in checks:
            res = lab == "correct" or P.resolvable(case, gp, coords, cache)
            for tool, fn in tools.items():
                t0 = time.perf_counter()
                reading, extra = fn(case, gp)
                if reading is None:
                    continue
                rows.append({"case": ci, "name": case.name, "family": case.family, "dtype": case.dtype,
                             "n": len(case.x), "check": lab, "size": size, "resolvable": bool(res), "tool": tool,
                             "reading": reading, "seconds": time.perf_counter() - t0, **extra})
        if ci % 100 == 0:
            print(f"{ci}/{len(cases)} cases, {time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    torch_note = "torch gradcheck: not run"
    if args.reuse_peers:
        old = pd.read_csv(args.reuse_peers)
        old = old[old.tool != "fastcheck"]
        df = pd.concat([df, old[[c for c in old.columns if c in df.columns or c == "rel"]]], ignore_index=True)
        peers = set()
        torch_note = (f"peers' rows reused from an earlier run of the same corpus ({args.reuse_peers}); torch gradcheck"
                      " 2.13.0 CPU in a separate interpreter")
    if "torch" in peers and Path(args.torch_python).exists():
        got, secs = run_torch(args.torch_python, args.small)
        if got:
            base = df[df.tool == "fastcheck"][["case", "name", "family", "dtype", "n", "check", "size", "resolvable"]]
            tdf = pd.DataFrame(got).merge(base, on=["case", "check"], how="inner")
            tdf["tool"] = "torch gradcheck"
            tdf["reading"] = np.where(tdf["passed"], "passed", "wrong")
            tdf["seconds"] = secs / max(len(tdf), 1)
            df = pd.concat([df, tdf.drop(columns=["passed"])], ignore_index=True)
            torch_note = f"torch gradcheck: {len(tdf)} checks in {secs:.0f} s (torch 2.13.0 CPU, separate interpreter)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    write_report(df, out, cases, argv_text=" ".join(sys.argv[1:]), torch_note=torch_note)


def summary(df):
    rows = []
    for tool, d in df.groupby("tool", sort=False):
        c = d[d.check == "correct"]
        pl = d[d.check != "correct"]
        big = pl[(pl["size"] >= 1e-3) & pl.resolvable]
        e5 = pl[(pl["size"] == 1e-5) & pl.resolvable]
        rows.append({
            "tool": tool, "correct cases": len(c),
            "false alarms": int((c.reading == "wrong").sum()),
            "inconclusive": int((c.reading == "inconclusive").sum()),
            "planted ≥1e-3 resolvable": len(big),
            "missed (passed)": int((big.reading == "passed").sum()),
            "planted ≥1e-3 inconclusive": int((big.reading == "inconclusive").sum()),
            "1e-5 caught / resolvable": f"{int((e5.reading == 'wrong').sum())}/{len(e5)}",
            "detection power 1e-5": (e5.reading == "wrong").mean() if len(e5) else np.nan,
            "median s/check": d.seconds.median(),
        })
    return pd.DataFrame(rows)


def write_report(df, out, cases, argv_text="", torch_note=""):
    s = summary(df)
    lines = ["# Truth corpus: verdicts on correct gradients and planted errors", "",
             f"Command: `flock /tmp/fastcheck-bench.lock python benchmarks/bench_truth.py {argv_text}`".rstrip() + "",
             "", f"{len(cases)} correct gradients ({', '.join(f'{k} {v}' for k, v in pd.Series([c.family for c in cases]).value_counts().items())});"
             f" {int((df[df.tool == 'fastcheck'].check != 'correct').sum())} planted errors. See `benchmarks/bench_truth.py` for"
             " how each tool's reading is taken; " + torch_note + "; jax `check_grads`: not run (not installed here).", "",
             "## Summary", "", s.to_markdown(index=False, floatfmt=".3g"), ""]
    lines += ["## Correct gradients by family (false alarms / inconclusive / cases)", ""]
    c = df[df.check == "correct"]
    fam = c.groupby(["family", "dtype", "tool"]).reading.agg(
        lambda r: f"{(r == 'wrong').sum()} / {(r == 'inconclusive').sum()} / {len(r)}").unstack("tool")
    lines += [fam.to_markdown(), ""]
    lines += ["## Planted errors: caught (wrong) / inconclusive / missed, resolvable ones only", ""]
    pl = df[(df.check != "correct") & df.resolvable]
    tab = pl.groupby(["check", "tool"]).reading.agg(
        lambda r: f"{(r == 'wrong').sum()} / {(r == 'inconclusive').sum()} / {(r == 'passed').sum()}").unstack("tool")
    lines += [tab.to_markdown(), ""]
    lines += ["## Planted errors by family (resolvable): caught / inconclusive / missed", ""]
    tab = pl.groupby(["family", "tool"]).reading.agg(
        lambda r: f"{(r == 'wrong').sum()} / {(r == 'inconclusive').sum()} / {(r == 'passed').sum()}").unstack("tool")
    lines += [tab.to_markdown(), ""]
    inc = c[(c.tool == "fastcheck") & (c.reading == "inconclusive")]
    if len(inc) and "reason" in inc:
        def why(text):
            text = str(text)
            for key, label in (("sits at a kink", "every coordinate of a block at a kink"),
                               ("target resolution", "bars cannot reach the target (ill-conditioned cost)"),
                               ("round-off", "round-off swamps the gradient"), ("settle as the step", "did not converge"),
                               ("changes when the step", "a length scale shorter than the steps"),
                               ("disagree", "real and complex steps disagree"), ("did not change", "saturated")):
                if key in text:
                    return label
            return "other"
        reasons = inc.assign(why=inc.reason.map(why)).groupby(["why", "family", "dtype"]).size().rename("cases")
        lines += ["## Why fastcheck's correct cases were inconclusive", "", reasons.reset_index().to_markdown(index=False),
                  "", f"A block whose every coordinate sits at a kink that no converged derivative confirms (one-sided at a"
                  f" corner at θ, or the steps below a nearby corner), and ill-conditioned float32 costs that a float64 reading of"
                  f" the same code does not settle, are inconclusive by design"
                  f" (the truthful answer);"
                  f" the rest: {int(((inc.reason.map(why) != 'every coordinate of a block at a kink') & (inc.reason.map(why) != 'bars cannot reach the target (ill-conditioned cost)')).sum())}"
                  f" of {len(c[c.tool == 'fastcheck'])} correct cases.", ""]
    fa = c[(c.tool == "fastcheck") & (c.reading != "passed")][["name", "family", "dtype", "n", "reading"]]
    if len(fa):
        lines += ["## fastcheck's correct cases that did not pass", "", fa.to_markdown(index=False), ""]
    miss = df[(df.tool == "fastcheck") & (df.check != "correct") & df.resolvable & (df["size"] >= 1e-3)
              & (df.reading == "passed")][["name", "check", "family"]]
    if len(miss):
        lines += ["## fastcheck's misses (planted ≥ 1e-3, resolvable)", "", miss.to_markdown(index=False), ""]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines[:40]))


if __name__ == "__main__":
    main()
