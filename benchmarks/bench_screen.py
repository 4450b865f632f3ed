"""Screening (``strategy="screen"``) at n = 10⁴, 10⁵, 10⁶ against the full check and torch's fast mode.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_screen.py --write [--repeat 3] [--seeds 10]
          [--sizes 10000,100000,1000000] [--full-max 100000] [--torch-python /path/to/python-with-torch]

Writes screen.csv, seeds.csv and README.md to reports/screen/ with ``--write``, else to a temporary folder.

The costs (:mod:`benchmarks.screen_costs`): a two-layer sigmoid network in
plain NumPy, θ = [W1, b1, W2, b2], evaluated as a black box with the default
options (``jit="auto"``, ``workers="auto"``), with the bugs of
``screen_costs.BUGS`` planted in its gradient.  Per size and bug:

* the screen, ``--repeat`` times, the bugs interleaved round by round (medians
  of the seconds; the evaluations, found/missed and verdicts are the same in
  every round, and checked to be);
* the full check (``strategy="full"``) once, up to ``--full-max`` parameters
  (beyond, its time is estimated: 2n evaluations × the median evaluation);
* ``torch.autograd.gradcheck(fast_mode=True)`` on the same cost and planted
  gradient, through ``benchmarks/screen_torch.py`` in the interpreter
  ``--torch-python`` (skipped without it);
* ``--seeds`` more draws of the one-coordinate bug (another coordinate and other
  directions each) at the largest size: how often it is found, evaluations.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import add_write_option, report_dir  # noqa: E402

import fastcheck as fc  # noqa: E402
from benchmarks.screen_costs import BUGS, SIZES, Net, planted  # noqa: E402

OUT = ROOT / "reports" / "screen"


def eval_seconds(net: Net, k: int = 30) -> float:
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        net.cost(net.theta)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def summary(res, wrong, net: Net) -> dict:
    """What a check found, against the planted coordinates."""
    found = set(res.coords[res.status == "wrong"].tolist())
    wrong = set(wrong.tolist())
    bad_blocks = sorted({fc.Layout.from_shapes(net.shapes).locate(i)[0] for i in wrong},
                        key=list(net.shapes).index)
    return {"verdict": res.verdict, "n_evals": res.n_evals, "wrong_blocks": ",".join(res.wrong_blocks),
            "blocks_right": res.wrong_blocks == bad_blocks, "found": len(found & wrong),
            "planted": len(wrong), "false": len(found - wrong)}


def screen(net, g, **kw):
    return fc.check_gradient(net.cost, net.theta, g, layout=fc.Layout.from_shapes(net.shapes), strategy="screen", **kw)


def run_torch(python: str | None, n: int, bug: str, seed: int = 0) -> dict:
    if not python:
        return {}
    out = subprocess.run([python, str(ROOT / "benchmarks" / "screen_torch.py"), str(n), bug, str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def planted_vs_limit(net, clean, bug):
    """The smallest planted single-coordinate error over the detection limit of its block (from the clean run)."""
    g0 = net.grad(net.theta)
    g, wrong = planted(net, bug)
    if bug in ("correct", "block x1.001", "transposed"):
        return np.nan
    limits = clean.blocks.set_index("block")["detectable"]
    layout = fc.Layout.from_shapes(net.shapes)
    return float(min(abs(g[i] - g0[i]) / limits[layout.locate(int(i))[0]] for i in wrong))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--full-max", type=int, default=100_000)
    ap.add_argument("--torch-python", default=None)
    add_write_option(ap, OUT)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    out = report_dir(args.write, OUT)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    rows, seeds_rows = [], []
    for n in sizes:
        net = Net(n)
        t_eval = eval_seconds(net)
        clean = screen(net, net.grad(net.theta))  # warm-up, and the detection limits the bugs are read against
        if net.n <= args.full_max:  # the full check's warm-up (its pool starts here)
            fc.check_gradient(net.cost, net.theta, net.grad(net.theta), layout=fc.Layout.from_shapes(net.shapes))
        times = {bug: [] for bug in BUGS}
        results = {}
        for _ in range(args.repeat):
            for bug in BUGS:
                g, wrong = planted(net, bug)
                t0 = time.perf_counter()
                res = screen(net, g)
                times[bug].append(time.perf_counter() - t0)
                s = summary(res, wrong, net)
                if bug in results:
                    assert {k: results[bug][1][k] for k in s} == s, "a screen differs between rounds"
                results[bug] = (res, s)
        for bug in BUGS:
            g, wrong = planted(net, bug)
            res, s = results[bug]
            row = {"n": net.n, "bug": bug, "eval_ms": 1e3 * t_eval, "screen_seconds": statistics.median(times[bug]),
                   "screen_seconds_all": " ".join(f"{t:.2f}" for t in times[bug]), **s,
                   "spent": json.dumps(res.spent), "n_tests": len(res.tests), "path": res.path,
                   "detectable_max": res.detection_limit()[0], "detectable_rel_max": res.detection_limit()[1],
                   "planted_over_limit": planted_vs_limit(net, clean, bug)}
            if net.n <= args.full_max:
                t0 = time.perf_counter()
                full = fc.check_gradient(net.cost, net.theta, g, layout=fc.Layout.from_shapes(net.shapes))
                fs = summary(full, wrong, net)
                row.update(full_seconds=time.perf_counter() - t0, full_evals=full.n_evals, full_verdict=fs["verdict"],
                           full_found=fs["found"], full_false=fs["false"], full_blocks=fs["wrong_blocks"],
                           full_estimated=False)
            else:
                row.update(full_seconds=2 * net.n * t_eval, full_evals=2 * net.n, full_estimated=True)
            tr = run_torch(args.torch_python, n, bug)
            if tr:
                row.update(torch_flagged=tr["flagged"], torch_seconds=tr["seconds"], torch_evals=tr["evals"],
                           torch_message=tr["message"], torch_version=tr["torch"])
            rows.append(row)
            print(f"n={net.n:>9,} {bug:14s} screen {row['screen_seconds']:6.2f}s {s['n_evals']:5d} evals "
                  f"{s['verdict']:12s} found {s['found']}/{s['planted']} false {s['false']}", flush=True)
    n = sizes[-1]
    net = Net(n)
    for seed in range(args.seeds):
        g, wrong = planted(net, "one x1.01", seed=seed)
        t0 = time.perf_counter()
        res = screen(net, g, seed=seed)
        seeds_rows.append({"n": net.n, "seed": seed, "seconds": time.perf_counter() - t0, "coord": int(wrong[0]),
                           **summary(res, wrong, net), "spent": json.dumps(res.spent)})
        print(f"seed {seed}: {seeds_rows[-1]['n_evals']} evals, found {seeds_rows[-1]['found']}", flush=True)
    frame, seeds = pd.DataFrame(rows), pd.DataFrame(seeds_rows)
    frame.to_csv(out / "screen.csv", index=False)
    seeds.to_csv(out / "seeds.csv", index=False)
    (out / "README.md").write_text(report(frame, seeds, args, load))
    return 0


def findings(frame: pd.DataFrame, seeds: pd.DataFrame) -> list:
    """What the largest size shows, in a few lines (from the tables below)."""
    big = frame[frame["n"] == frame["n"].max()].set_index("bug")
    n = int(frame["n"].max())
    out = [f"At n = {n:,} (one evaluation {big['eval_ms'].median():.1f} ms):", ""]
    if "one x1.01" in big.index:
        r = big.loc["one x1.01"]
        out.append(f"* **one wrong coordinate** (×1.01): found and named with {int(r['n_evals'])} evaluations in "
                   f"{r['screen_seconds']:.1f} s (found {r['found']}/{r['planted']}, false {r['false']})"
                   + (f"; over {len(seeds)} draws of the coordinate and the directions: found in "
                      f"{int((seeds['found'] == 1).sum())}, at most {int(seeds['n_evals'].max())} evaluations and "
                      f"{seeds['seconds'].max():.1f} s" if len(seeds) else "") + ";")
    if "correct" in big.index:
        r = big.loc["correct"]
        out.append(f"* **the correct gradient** passes ({r['verdict']}) with {int(r['n_evals'])} evaluations in "
                   f"{r['screen_seconds']:.1f} s, stating that a single coordinate off by more than "
                   f"{r['detectable_max']:.2e} ({r['detectable_rel_max']:.1e} of its block's gradient norm) would "
                   "have been caught;")
    if "ten scattered" in big.index:
        r = big.loc["ten scattered"]
        out.append(f"* **ten scattered coordinates**: {r['found']}/{r['planted']} found and named, {r['false']} "
                   f"false, in blocks {r['wrong_blocks']}, with {int(r['n_evals'])} evaluations in "
                   f"{r['screen_seconds']:.1f} s;")
    for bug in ("block x1.001", "transposed"):
        if bug in big.index:
            r = big.loc[bug]
            out.append(f"* **{bug}**: block {r['wrong_blocks']} named wrong with {int(r['n_evals'])} evaluations "
                       f"({int(r['n_tests'])} group tests in all, {r['found']} of its coordinates confirmed) in "
                       f"{r['screen_seconds']:.1f} s, not localised through;")
    r = big.iloc[0]
    out.append(f"* the full check: {int(r['full_evals']):,} evaluations, {_fmt_s(r['full_seconds'])}"
               f"{' (estimated)' if r['full_estimated'] else ''};")
    if "torch_flagged" in big.columns:
        flagged = [b for b, f in big["torch_flagged"].items() if f is True or f == "True"]
        out.append(f"* torch `gradcheck(fast_mode=True)`: flags {', '.join(flagged) or 'nothing'} of the "
                   f"{len(big) - 1} bugs, in {int(big['torch_evals'].max())} evaluations, and never says where.")
    return out


def rerender(out: Path, argv_line: str, load: float) -> None:
    """Rewrite README.md from the CSVs already in ``out`` (after a change to the report's text only)."""
    frame, seeds = pd.read_csv(out / "screen.csv"), pd.read_csv(out / "seeds.csv")
    args = argparse.Namespace(**dict(zip(("repeat", "seeds", "sizes", "full_max", "torch_python"), argv_line)))
    (out / "README.md").write_text(report(frame, seeds, args, (load, load, load)))


def _named(blocks) -> str:
    return blocks if isinstance(blocks, str) and blocks else "–"  # (an empty cell reads back from CSV as NaN)


def _fmt_s(v) -> str:
    if np.isnan(v):
        return "–"
    return f"{v:.2f} s" if v < 100 else f"{v / 60:.0f} min" if v < 6000 else f"{v / 3600:.1f} h"


def report(frame: pd.DataFrame, seeds: pd.DataFrame, args, load) -> str:
    lines = [
        "# Screening: a million parameters of plain NumPy, checked and localised in a few hundred evaluations",
        "",
        "Written by `benchmarks/bench_screen.py`; run as",
        "",
        "    flock /tmp/fastcheck-bench.lock python benchmarks/bench_screen.py --write"
        + f" --repeat {args.repeat} --seeds {args.seeds} --sizes {args.sizes} --full-max {args.full_max}"
        + (" --torch-python PATH" if args.torch_python else ""),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__}, fastcheck {fc.__version__}; load average at the start "
        f"{load[0]:.1f} (the machine is shared: the other engineers' work runs beside this).",
        "",
        "The cost: a two-layer sigmoid network in plain NumPy (`benchmarks/screen_costs.py`), θ = [W1, b1, W2, b2], "
        "batch 16, checked as a black box with the default options (`jit=\"auto\"`, `workers=\"auto\"`: the loop, "
        "on a pool of worker processes for the calls long enough to pay for it; `path` in screen.csv). The bugs:",
        "",
    ]
    lines += [f"* **{k}**: {v}" for k, v in BUGS.items()]
    lines += ["", *findings(frame, seeds)]
    lines += [
        "",
        "Screen seconds: median of the rounds (each round runs every bug once); evaluations, verdicts and "
        "coordinates are the same in every round. Found: planted wrong coordinates the check names wrong (a whole "
        "wrong block is named from a few of its coordinates, not localised through); false: coordinates named "
        "wrong that were not. *Planted / limit*: the smallest planted single-coordinate error divided by the "
        "screen's stated detection limit of its block (from the correct gradient's screen): above 1, it had to "
        "be caught. The full check beyond the largest size it ran at is estimated as 2n evaluations × the median "
        "evaluation. Torch: `gradcheck(fast_mode=True)` on the same cost and planted gradient (one random "
        "projection vᵀJu; a mismatch is explained only by recomputing the whole Jacobian in slow mode, 2n "
        "evaluations, which was skipped here); it never says where.",
        "",
        "| n | bug | eval | screen: evals | seconds | verdict | blocks named | found / planted | false "
        "| planted / limit | full check: evals | seconds | found | torch fast: flagged | seconds |",
        "|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in frame.to_dict("records"):
        est = r.get("full_estimated", True)
        full_found = "–" if est else f"{int(r['full_found'])}/{r['planted']}"
        torch_flag = "–" if "torch_flagged" not in r or r["torch_flagged"] != r["torch_flagged"] else (
            "yes (where: no)" if r["torch_flagged"] else "no")
        torch_s = _fmt_s(r.get("torch_seconds", float("nan")))
        ratio = r["planted_over_limit"]
        mark = " (est.)" if est else ""
        lines.append(
            f"| {r['n']:,} | {r['bug']} | {r['eval_ms']:.2f} ms | {r['n_evals']:,} | {_fmt_s(r['screen_seconds'])} "
            f"| {r['verdict']} | {_named(r['wrong_blocks'])} | {r['found']}/{r['planted']} | {r['false']} "
            f"| {'–' if np.isnan(ratio) else f'{ratio:.0f}'} "
            f"| {int(r['full_evals']):,}{mark} | {_fmt_s(r['full_seconds'])}{mark} "
            f"| {full_found} | {torch_flag} | {torch_s} |")
    lines += ["", "Evaluations per step of the screen (`result.spent`):", "",
              "| n | bug | J(θ) | screen | ladder | localise | confirm |", "|---:|---|---:|---:|---:|---:|---:|"]
    for r in frame.to_dict("records"):
        sp = json.loads(r["spent"])
        lines.append(f"| {r['n']:,} | {r['bug']} | " + " | ".join(str(sp.get(k, 0)) for k in
                                                               ("J(theta)", "screen", "ladder", "localise", "confirm"))
                     + " |")
    correct = frame[frame["bug"] == "correct"]
    lines += ["", "What the correct gradient's screen states it would have caught (the weakest block):", "",
              "| n | a single coordinate off by more than | relative to its block's gradient norm |",
              "|---:|---:|---:|"]
    lines += [f"| {r['n']:,} | {r['detectable_max']:.2e} | {r['detectable_rel_max']:.1e} |"
              for r in correct.to_dict("records")]
    if len(seeds):
        s = seeds
        lines += ["", f"One coordinate ×1.01 at n = {s['n'].iloc[0]:,}, {len(s)} draws (`--seeds`: another coordinate "
                  "of W1's larger half of |g| and other directions each):", "",
                  f"* found and named: {int((s['found'] == 1).sum())} of {len(s)}, no false coordinate in "
                  f"{int((s['false'] == 0).sum())} of {len(s)}, the block right in {int(s['blocks_right'].sum())};",
                  f"* evaluations: median {int(s['n_evals'].median())}, most {int(s['n_evals'].max())};",
                  f"* seconds: median {s['seconds'].median():.1f}, most {s['seconds'].max():.1f}."]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
