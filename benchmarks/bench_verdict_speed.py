"""Issue 21's speed figures: a passing structured check of MLP 784-128-10 before and after, and
failing checks against passing ones.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_verdict_speed.py --base main [--rounds 5] [--repeat 5] [--write]

The version at ``--base`` is extracted to a temporary directory; the two versions then run in
fresh processes, interleaved round by round (base, this tree, base, …), each warmed up before
timing (compilation excluded).  Per version and round: the passing structured check of MLP
784-128-10 (sigmoid, SSE, batch 64, all 101,770 coordinates, 2 Numba threads) and the same
check of a mutant whose W1 gradient is transposed-wrong (failing); and a plain-Python
skip-gram cost (3,200 parameters, the loop evaluator) passing and with one block 1.5× off.
With ``--write``, writes reports/verdicts-speed/README.md and speed.csv with medians and ratios.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from timing import add_write_option, report_dir  # noqa: E402

#: The tracked report folder (written only with --write).
TRACKED = ROOT / "reports" / "verdicts-speed"

WORKER = r"""
import json, sys, time, warnings
import numpy as np
import fastcheck
from fastcheck.models import MLP
from fastcheck.checks.model import check_model
warnings.simplefilter("ignore")
if hasattr(fastcheck.config, "COMPILE"):  # the compiled kernels are measured, in every tree
    fastcheck.config.COMPILE = "always"
repeat = int(sys.argv[1])
m = MLP([784, 128, 10], activations="sigmoid", loss="sse")
theta = m.init(seed=0)
X, y = m.sample_data(64, seed=1)
bad = m.mutant("transposed_weight") if "transposed_weight" in __import__("fastcheck.models", fromlist=["MUTANTS"]).MUTANTS else None
rng = np.random.default_rng(0)
V, D, P = 200, 8, 400
pairs, neg = rng.integers(0, V, (P, 2)), rng.integers(0, V, (P, 3))
def sg(t):
    Win, Wout = t[:V * D].reshape(V, D), t[V * D:].reshape(V, D)
    u, v = Win[pairs[:, 0]], Wout[pairs[:, 1]]
    s = np.sum(u * v, axis=1); sn = np.einsum("pd,pkd->pk", u, Wout[neg])
    return -np.sum(np.log(1 / (1 + np.exp(-s)))) - np.sum(np.log(1 / (1 + np.exp(sn))))
def sg_grad(t):
    Win, Wout = t[:V * D].reshape(V, D), t[V * D:].reshape(V, D)
    u, v = Win[pairs[:, 0]], Wout[pairs[:, 1]]
    s = np.sum(u * v, axis=1); sn = np.einsum("pd,pkd->pk", u, Wout[neg])
    ds, dn = 1 / (1 + np.exp(-s)) - 1, 1 / (1 + np.exp(-sn))
    gi, go = np.zeros((V, D)), np.zeros((V, D))
    np.add.at(gi, pairs[:, 0], ds[:, None] * v + np.einsum("pk,pkd->pd", dn, Wout[neg]))
    np.add.at(go, pairs[:, 1], ds[:, None] * u)
    np.add.at(go, neg.ravel(), (dn[:, :, None] * u[:, None, :]).reshape(-1, D))
    return np.concatenate([gi.ravel(), go.ravel()])
t_sg = rng.standard_normal(2 * V * D) * 0.3
g_sg = sg_grad(t_sg)
g_bad = g_sg.copy(); g_bad[V * D:] *= 1.5
layout = fastcheck.Layout.from_shapes({"Win": (V, D), "Wout": (V, D)})
cases = {
    "mlp pass": lambda: check_model(m, theta, X, y),
    "mlp fail": (lambda: check_model(bad, theta, X, y)) if bad is not None else None,
    "skipgram pass": lambda: fastcheck.check_gradient(sg, t_sg, g_sg, layout=layout, jit=False, workers=1),
    "skipgram fail": lambda: fastcheck.check_gradient(sg, t_sg, g_bad, layout=layout, jit=False, workers=1),
}
out = {}
for name, fn in cases.items():
    if fn is None:
        continue
    r = fn()  # warm up
    times = []
    for _ in range(repeat if name.startswith("mlp") else max(1, repeat // 2)):
        t0 = time.perf_counter(); r = fn(); times.append(time.perf_counter() - t0)
    out[name] = {"times": times, "verdict": r.verdict, "n_evals": int(r.n_evals)}
print(json.dumps(out))
"""


def run(path: Path, repeat: int, threads: int) -> dict:
    env = {"PYTHONPATH": str(path), "NUMBA_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run([sys.executable, "-c", WORKER, str(repeat)], env=env, capture_output=True, text=True,
                         check=True, cwd=path)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="main", help="the version to compare with (a git revision)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    add_write_option(p, TRACKED)
    args = p.parse_args(argv)
    out = report_dir(args.write, TRACKED)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "fastcheck"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        versions = {f"base ({args.base})": Path(tmp), "this tree": ROOT}
        for r in range(args.rounds):
            for name, path in versions.items():
                res = run(path, args.repeat, args.threads)
                for case, v in res.items():
                    for t in v["times"]:
                        rows.append({"version": name, "round": r, "case": case, "seconds": t, "verdict": v["verdict"],
                                     "n_evals": v["n_evals"]})
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "speed.csv", index=False)
    med = df.groupby(["case", "version"], sort=False).agg(median_s=("seconds", "median"), n_evals=("n_evals", "first"),
                                                          verdict=("verdict", "first")).reset_index()
    names = list(dict.fromkeys(df.version))
    piv = med.pivot(index="case", columns="version", values="median_s")[names]
    piv["this / base"] = piv[names[1]] / piv[names[0]]
    lines = ["# Issue 21: speed of the new verdicts", "",
             f"Command: `flock /tmp/fastcheck-bench.lock python benchmarks/bench_verdict_speed.py --base {args.base}"
             f" --rounds {args.rounds} --repeat {args.repeat} --threads {args.threads} --write`", "",
             "Both versions in fresh processes, interleaved round by round, warmed up (compilation excluded); medians"
             " over all rounds.", "", "## Medians (s)", "", piv.to_markdown(floatfmt=".4g"), "",
             "## Verdicts and evaluations", "", med.to_markdown(index=False, floatfmt=".4g"), ""]
    for v in names:
        m = med[med.version == v].set_index("case")["median_s"]
        for pair in (("mlp fail", "mlp pass"), ("skipgram fail", "skipgram pass")):
            if all(k in m for k in pair):
                lines.append(f"- {v}: {pair[0]} / {pair[1]} = **{m[pair[0]] / m[pair[1]]:.2f}**")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
