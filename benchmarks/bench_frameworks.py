"""Framework ops: check_torch / check_jax against torch.autograd.gradcheck (slow and fast mode) and jax's check_grads.

Run:  flock /tmp/fastcheck-bench.lock python benchmarks/bench_frameworks.py [--repeat 3] [--write]
Writes reports/frameworks/frameworks.csv and reports/frameworks/README.md (with --write; else a temporary folder).

The same custom ops (hand-written backward passes: a softplus, a fused linear+tanh, a LayerNorm-like op,
right and with a planted bug) go to every tool: time (median of ``--repeat`` calls after one warm-up call;
the (64, 256) LayerNorm once each, it takes long), the verdict, and the first line of what each says on
failure.  torch runs on the CPU; gradcheck needs float64 to be usable, so the float64 rows are the fair
comparison and the float32 rows show what each tool says about a float32 op.  Needs torch (and jax for
the check_grads rows; they are skipped without it).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch
from timing import add_write_option, report_dir

import fastcheck
from tests.inputs import torch_zoo as zoo

OUT = ROOT / "reports" / "frameworks"


def _tensors(shapes, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=gen, dtype=torch.float64).to(dtype).requires_grad_() for s in shapes)


#: (case, torch op, input shapes, the input a correct check should name as wrong, or None)
CASES = [
    ("softplus (16, 32)", zoo.Softplus.apply, [(16, 32)], None),
    ("linear+tanh x (8, 16), W (16, 16), b (16)", zoo.LinearTanh.apply, [(8, 16), (16, 16), (16,)], None),
    ("linear+tanh, dW transposed", zoo.LinearTanhTransposed.apply, [(8, 16), (16, 16), (16,)], "input1"),
    ("linear+tanh, backward ignores b", zoo.LinearTanhNoBias.apply, [(8, 16), (16, 16), (16,)], "input2"),
    ("LayerNorm-like (8, 32)", zoo.LayerNorm.apply, [(8, 32), (32,), (32,)], None),
    ("LayerNorm-like (8, 32), dx misses the mean term", zoo.LayerNormMissingTerm.apply, [(8, 32), (32,), (32,)],
     "input0"),
]
BIG = ("LayerNorm-like (64, 256)", zoo.LayerNorm.apply, [(64, 256), (256,), (256,)], None)


def first_line(text, limit=150):
    line = " ".join(str(text).strip().split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_fastcheck(op, inputs, workers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fastcheck.check_torch(op, *inputs, workers=workers)
    says = "" if r.passed else f"{r.summary()} worst: " + ", ".join(
        f"{b}{i}" for b, i in zip(r.worst(3)["block"], r.worst(3)["index"]))
    return {"passed": r.passed, "names": ",".join(r.wrong_blocks), "says": says, "path": r.path,
            "evals": r.n_evals}


def run_gradcheck(op, inputs, fast):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ok = torch.autograd.gradcheck(op, inputs, fast_mode=fast)
            return {"passed": bool(ok), "names": "", "says": "", "path": "", "evals": np.nan}
        except Exception as exc:  # noqa: BLE001 - GradcheckError: its message is what the user reads
            text = str(exc)
            named = "input" + text.split("respect to input ")[1].split(",")[0].split()[0] \
                if "respect to input " in text else ""
            return {"passed": False, "names": named, "says": first_line(text), "path": "", "evals": np.nan}


def jax_ops():
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def softplus(x):
        return jnp.logaddexp(x, 0.0)

    softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x),))

    def linear_tanh(mode):
        @jax.custom_vjp
        def f(x, w, b):
            return jnp.tanh(x @ w.T + b)

        def bwd(res, g):
            x, w, y = res
            dz = g * (1 - y * y)
            dw = (dz.T @ x).T if mode == "transposed" else dz.T @ x
            return dz @ w, dw, jnp.zeros_like(dz[0]) if mode == "nobias" else dz.sum(0)

        f.defvjp(lambda x, w, b: (f(x, w, b), (x, w, jnp.tanh(x @ w.T + b))), bwd)
        return f

    def layer_norm(missing):
        @jax.custom_vjp
        def f(x, gamma, beta):
            mu = x.mean(-1, keepdims=True)
            return (x - mu) / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * gamma + beta

        def fwd(x, gamma, beta):
            mu = x.mean(-1, keepdims=True)
            sigma = jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
            return f(x, gamma, beta), ((x - mu) / sigma, gamma, sigma)

        def bwd(res, g):
            xhat, gamma, sigma = res
            dxhat = g * gamma
            mean_term = 0.0 if missing else dxhat.mean(-1, keepdims=True)
            dx = (dxhat - mean_term - xhat * (dxhat * xhat).mean(-1, keepdims=True)) / sigma
            return dx, (g * xhat).sum(0), g.sum(0)

        f.defvjp(fwd, bwd)
        return f

    return {zoo.Softplus.apply: softplus, zoo.LinearTanh.apply: linear_tanh(""),
            zoo.LinearTanhTransposed.apply: linear_tanh("transposed"), zoo.LinearTanhNoBias.apply: linear_tanh("nobias"),
            zoo.LayerNorm.apply: layer_norm(False), zoo.LayerNormMissingTerm.apply: layer_norm(True)}


def run_check_grads(fn, arrays):
    from jax.test_util import check_grads

    try:
        check_grads(fn, arrays, order=1, modes=["rev"])
        return {"passed": True, "names": "", "says": "", "path": "", "evals": np.nan}
    except AssertionError as exc:
        return {"passed": False, "names": "", "says": first_line(exc), "path": "", "evals": np.nan}


def run_check_jax(fn, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fastcheck.check_jax(fn, *arrays, workers=1)
    says = "" if r.passed else f"{r.summary()}"
    return {"passed": r.passed, "names": ",".join(r.wrong_blocks), "says": says, "path": r.path, "evals": r.n_evals}


def timed(fn, repeat, warm=True):
    out = fn() if warm else None  # warm-up (pools start, jax compiles)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-big", action="store_true", help="leave out the (64, 256) LayerNorm-like op")
    add_write_option(ap, OUT)
    args = ap.parse_args(argv)
    out = report_dir(args.write, OUT)
    try:
        ops = jax_ops()
        import jax
    except ImportError:
        ops, jax = None, None
    rows = []

    def add(case, dtype, tool, fn, expect, repeat, warm=True):
        res, med, times = timed(fn, repeat, warm)
        # a buggy op is caught when the tool fails it without naming another input (float32 noise is no catch)
        right = res["passed"] if expect is None else (not res["passed"] and res["names"] in ("", expect))
        rows.append({"case": case, "dtype": dtype, "tool": tool, "seconds": med, "verdict":
                     "pass" if res["passed"] else "fail", "expected": "pass" if expect is None else f"fail ({expect})",
                     "right": right, "names": res["names"], "evals": res["evals"], "path": res["path"],
                     "says": res["says"], "all_seconds": " ".join(f"{t:.3f}" for t in times)})
        print(f"{case} [{dtype}] {tool}: {med:.3f} s, {rows[-1]['verdict']} {res['names']}", flush=True)

    for dtype in (torch.float64, torch.float32):
        name = str(dtype).split(".")[1]
        for case, op, shapes, expect in CASES:
            inputs = _tensors(shapes, dtype, 0)
            add(case, name, "check_torch (workers='auto')", lambda op=op, inputs=inputs: run_fastcheck(op, inputs, "auto"), expect,
                args.repeat)
            add(case, name, "check_torch (workers=1)", lambda op=op, inputs=inputs: run_fastcheck(op, inputs, 1), expect, args.repeat)
            add(case, name, "gradcheck (slow mode)", lambda op=op, inputs=inputs: run_gradcheck(op, inputs, False), expect, args.repeat)
            add(case, name, "gradcheck (fast mode)", lambda op=op, inputs=inputs: run_gradcheck(op, inputs, True), expect, args.repeat)
            if ops is not None:
                with jax.enable_x64(dtype == torch.float64):
                    arrays = tuple(t.detach().numpy() for t in inputs)
                    add(case, name, "check_jax (same op in JAX)", lambda op=op, arrays=arrays: run_check_jax(ops[op], arrays), expect,
                        args.repeat)
                    add(case, name, "jax check_grads (rev)", lambda op=op, arrays=arrays: run_check_grads(ops[op], arrays), expect,
                        args.repeat)
    if not args.skip_big:
        case, op, shapes, expect = BIG
        inputs = _tensors(shapes, torch.float64, 0)
        # one call each, no warm-up (the pool runs already; the op's kernels are warm from the small cases)
        add(case, "float64", "check_torch (workers=2)", lambda op=op, inputs=inputs: run_fastcheck(op, inputs, 2), expect, 1, False)
        add(case, "float64", "check_torch (workers=1)", lambda op=op, inputs=inputs: run_fastcheck(op, inputs, 1), expect, 1, False)
        add(case, "float64", "gradcheck (slow mode)", lambda op=op, inputs=inputs: run_gradcheck(op, inputs, False), expect, 1, False)
        add(case, "float64", "gradcheck (fast mode)", lambda op=op, inputs=inputs: run_gradcheck(op, inputs, True), expect, 1, False)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "frameworks.csv", index=False)
    write_readme(out, df, args)
    return 0


def write_readme(out, df, args):
    load = os.getloadavg()
    jax_version = ""
    try:
        import jax

        jax_version = f", jax {jax.__version__}"
    except ImportError:
        pass
    lines = [
        "# Framework ops: check_torch / check_jax, gradcheck, check_grads",
        "",
        (f"`flock /tmp/fastcheck-bench.lock python benchmarks/bench_frameworks.py --repeat {args.repeat}` — "
         f"fastcheck {fastcheck.__version__}, torch {torch.__version__}{jax_version}, numpy {np.__version__}, "
         f"Python {platform.python_version()}, {os.cpu_count()} core(s), torch threads {torch.get_num_threads()}; "
         f"load average (1, 5, 15 min) {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at the end: the machine is shared "
         "with other work, so compare rows measured side by side in this run, not with other runs."),
        "",
        ("The ops are the custom `torch.autograd.Function`s of tests/inputs/torch_zoo.py (hand-written backward "
         "passes; the bugs planted there), and the same ops as `jax.custom_vjp` functions written in this "
         "benchmark. Times are medians of the calls after a warm-up call (the (64, 256) op: one call each, no "
         "warm-up; the pool is running from the small cases). `right` says whether the tool's verdict is the true one (a right op passes, a buggy one fails); "
         "`names` is the input a tool names as wrong (gradcheck names the first input whose Jacobian it finds "
         "mismatched, then stops; check_grads names none)."),
        "",
    ]
    big = df[df["case"] == BIG[0]]
    if len(big):
        def sec(tool):
            return big[big["tool"] == tool]["seconds"].iloc[0]

        fc, fc1 = sec("check_torch (workers=2)"), sec("check_torch (workers=1)")
        slow, fast = sec("gradcheck (slow mode)"), sec("gradcheck (fast mode)")
        lines += [(f"**{BIG[0]}, float64, 16,896 input coordinates**: the full check_torch (every coordinate, 2 "
                   f"worker processes) {fc:.1f} s ({fc1:.1f} s serially), gradcheck's slow mode {slow:.1f} s "
                   f"({slow / fc:.2f}× the full check's time on 2 workers), gradcheck's fast mode {fast:.2f} s (one "
                   "random projection vᵀJu: it can say that something is wrong, not where)."), ""]
    lines += ["| case | dtype | tool | seconds | verdict | right | names | what it says on failure |",
              "|---|---|---|---:|---|---|---|---|"]
    for r in df.itertuples():
        says = str(r.says).replace("|", "\\|") if isinstance(r.says, str) else ""
        lines.append(f"| {r.case} | {r.dtype} | {r.tool} | {r.seconds:.3f} | {r.verdict} | {'yes' if r.right else 'NO'} "
                     f"| {r.names if isinstance(r.names, str) else ''} | {says} |")
    lines.append("")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
