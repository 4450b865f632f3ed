"""Second-order checks side by side: fastcheck, torch gradgradcheck, jax check_grads(order=2), numdifftools.

    flock /tmp/fastcheck-bench.lock python benchmarks/bench_second_order.py [--torch-python PATH] [--out DIR]

Part 1 (peers): three problems with closed-form Hessians (a quadratic form,
log-sum-exp, Rosenbrock; n = 100, blocks a = θ[:40], b = θ[40:]), each with
its correct Hessian and with one entry and its partner off by 1 % (H[39, 40]
and H[40, 39], the a/b pair).  Every tool runs on the same numbers; medians
of ``--repeat`` runs, one thread each.  torch runs in the Python given by
``--torch-python`` (a separate environment), jax where it is installed.

Part 2 (cores): ``check_hessian`` with a Python gradient (a pairwise
potential over a random graph, and a logistic regression; n = 2,000) serially (``workers=1``) and on
two worker processes (``workers=2``, pool started beforehand), interleaved,
BLAS held to one thread in this process so the serial run is serial.

Writes ``reports/second-order/README.md`` (the tables) and ``results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fastcheck as fc
from timing import add_write_option, report_dir  # noqa: E402
from tests.second_order import Pairwise  # noqa: E402

#: The tracked report folder (written only with --write).
TRACKED = ROOT / "reports" / "second-order"

N = 100
SPLIT = 40
PLANT = (39, 40)


# -- the problems -----------------------------------------------------------------------------------
def problems(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    M = rng.standard_normal((N, N))
    A = M @ M.T / N + np.eye(N)
    b = rng.standard_normal(N)
    out["quadratic"] = dict(data={"A": A, "b": b}, theta=rng.standard_normal(N),
                            cost=lambda t: float(0.5 * t @ A @ t + b @ t), grad=lambda t: A @ t + b,
                            hess=lambda t: A.copy())
    L = rng.standard_normal((60, N)) * 0.3
    y = rng.dirichlet(np.ones(60))

    def lse_p(t):
        z = L @ t
        e = np.exp(z - z.max())
        return e / e.sum()

    def lse_cost(t):
        z = L @ t
        c = z.max()
        return float(c + np.log(np.sum(np.exp(z - c))) - y @ z)

    out["logsumexp"] = dict(data={"M": L, "y": y}, theta=rng.standard_normal(N) * 0.5, cost=lse_cost,
                            grad=lambda t: L.T @ (lse_p(t) - y),
                            hess=lambda t: L.T @ (np.diag(lse_p(t)) - np.outer(lse_p(t), lse_p(t))) @ L)

    def rb_cost(t):
        return float(np.sum(100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2))

    def rb_grad(t):
        g = np.zeros_like(t)
        d = t[1:] - t[:-1] ** 2
        g[:-1] += -400.0 * t[:-1] * d - 2.0 * (1.0 - t[:-1])
        g[1:] += 200.0 * d
        return g

    def rb_hess(t):
        H = np.zeros((N, N))
        i = np.arange(N - 1)
        np.add.at(H, (i, i), 1200.0 * t[:-1] ** 2 - 400.0 * t[1:] + 2.0)
        np.add.at(H, (i + 1, i + 1), 200.0)
        H[i, i + 1] += -400.0 * t[:-1]
        H[i + 1, i] += -400.0 * t[:-1]
        return H

    out["rosenbrock"] = dict(data={}, theta=1.0 + 0.3 * rng.standard_normal(N), cost=rb_cost, grad=rb_grad,
                             hess=rb_hess)
    return out


def scale_matrix():
    S = np.ones((N, N))
    S[PLANT] = S[PLANT[::-1]] = 1.01
    return S


LAYOUT = {"a": np.zeros(SPLIT), "b": np.zeros(N - SPLIT)}


def median(fn, repeat):
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


# -- part 1 -----------------------------------------------------------------------------------------
def fastcheck_rows(name, p, repeat):
    rows = []
    S = scale_matrix()
    for case in ("correct", "planted"):
        hess = p["hess"] if case == "correct" else (lambda t, h=p["hess"]: h(t) * S)
        for tool, kw in (("fastcheck check_hessian(grad=)", dict(grad=p["grad"])),
                         ("fastcheck check_hessian (cost only)", {})):
            sec, res = median(lambda: fc.check_hessian(p["cost"], p["theta"], hess, layout=LAYOUT, workers=1, **kw),
                              repeat)
            rows.append({"problem": name, "case": case, "tool": tool, "seconds": sec,
                         "verdict": "pass" if res.passed else f"fail ({res.verdict})",
                         "where": ", ".join(res.wrong_blocks) or "—"})
    return rows


def numdifftools_rows(name, p, repeat):
    import numdifftools as nd

    rows = []
    S = scale_matrix()
    for case in ("correct", "planted"):
        H = p["hess"](p["theta"]) * (S if case == "planted" else 1.0)
        for tool, est in (("numdifftools Hessian(cost)", lambda: nd.Hessian(p["cost"])(p["theta"])),
                          ("numdifftools Jacobian(grad)", lambda: nd.Jacobian(p["grad"])(p["theta"]))):
            sec, E = median(est, max(1, repeat // 2))
            rel = float(np.max(np.abs(H - E)) / np.max(np.abs(H)))
            rows.append({"problem": name, "case": case, "tool": tool, "seconds": sec,
                         "verdict": f"no verdict (max error {rel:.1e} of max|H|)", "where": "—"})
    return rows


def _jax_cost(p, scale):
    """The problem as a jax function whose derivatives are the hand-written ones (custom_jvp rules:
    the cost's is the gradient, the gradient's the Hessian times ``scale``), as torch's rows do with
    autograd Functions; the values come from the NumPy code through pure_callback."""
    import jax
    import jax.numpy as jnp

    f64, vec = jax.ShapeDtypeStruct((), jnp.float64), jax.ShapeDtypeStruct((N,), jnp.float64)
    mat = jax.ShapeDtypeStruct((N, N), jnp.float64)

    def hess(t):
        return jax.pure_callback(lambda x: np.asarray(p["hess"](np.asarray(x)) * scale, dtype=np.float64), mat, t)

    @jax.custom_jvp
    def grad(t):
        return jax.pure_callback(lambda x: np.asarray(p["grad"](np.asarray(x)), dtype=np.float64), vec, t)

    @grad.defjvp
    def _grad_jvp(primals, tangents):
        (t,), (v,) = primals, tangents
        return grad(t), hess(t) @ v

    @jax.custom_jvp
    def cost(t):
        return jax.pure_callback(lambda x: np.asarray(p["cost"](np.asarray(x)), dtype=np.float64), f64, t)

    @cost.defjvp
    def _cost_jvp(primals, tangents):
        (t,), (v,) = primals, tangents
        return cost(t), grad(t) @ v

    return cost


def jax_rows(name, p, repeat=3):
    """``jax.test_util.check_grads(cost, (θ,), order=2)`` with its defaults (both modes, its tolerances)."""
    try:
        import jax
        from jax.test_util import check_grads
    except ImportError:
        return [{"problem": name, "case": "both", "tool": "jax check_grads(order=2)", "seconds": float("nan"),
                 "verdict": "not installed", "where": "—"}]
    jax.config.update("jax_enable_x64", True)
    rows = []
    for case in ("correct", "planted"):
        fn = _jax_cost(p, scale_matrix() if case == "planted" else np.ones((N, N)))
        theta = jax.numpy.asarray(p["theta"])

        def run(fn=fn, theta=theta):
            try:
                check_grads(fn, (theta,), order=2)
                return "pass"
            except AssertionError as exc:
                return "fail (" + " ".join(str(exc).split())[:60] + ")"
        sec, verdict = median(run, repeat)
        rows.append({"problem": name, "case": case, "tool": f"jax {jax.__version__} check_grads(order=2)",
                     "seconds": sec, "verdict": verdict, "where": "—"})
    return rows


def torch_rows(probs, torch_python, repeat):
    if not torch_python:
        return [], "torch: not run (pass --torch-python)"
    with tempfile.TemporaryDirectory() as tmp:
        data = {"repeat": np.array(repeat)}
        for name, p in probs.items():
            data[f"{name}:theta"] = p["theta"]
            data[f"{name}:scale"] = scale_matrix()
            for k, v in p["data"].items():
                data[f"{name}:{k}"] = v
        np.savez(Path(tmp) / "data.npz", **data)
        script = ROOT / "benchmarks" / "peers" / "torch_second_order.py"
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        subprocess.run([torch_python, str(script), str(Path(tmp) / "data.npz"), str(Path(tmp) / "out.json")],
                       check=True, env=env)
        out = json.loads((Path(tmp) / "out.json").read_text())
    return out["rows"], f"torch {out['torch']}"


# -- part 2 -----------------------------------------------------------------------------------------
class Logistic:
    """Mean logistic loss + ½λ‖θ‖², X (m, n): a Python gradient of two mat-vecs."""

    def __init__(self, n=2000, m=400, seed=0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((m, n)) / np.sqrt(n)
        self.y = (rng.random(m) < 0.5).astype(float)
        self.lam = 1e-2
        self.theta = rng.standard_normal(n) * 0.1

    def cost(self, t):
        z = self.X @ t
        return float(np.mean(np.logaddexp(0, z) - self.y * z) + 0.5 * self.lam * t @ t)

    def grad(self, t):
        s = 1 / (1 + np.exp(-(self.X @ t)))
        return self.X.T @ (s - self.y) / len(self.y) + self.lam * t

    def hess(self, t):
        s = 1 / (1 + np.exp(-(self.X @ t)))
        return (self.X.T * (s * (1 - s))) @ self.X / len(self.y) + self.lam * np.eye(len(t))


class Sleeping:
    """A gradient that waits 2 ms (``time.sleep``) and computes nothing: it measures how far the pool's
    workers overlap, whatever share of the cores the machine gives this session."""

    def __init__(self, n=300, seconds=0.002):
        self.n, self.seconds = n, seconds
        self.theta = np.linspace(-1.0, 1.0, n)

    def cost(self, t):
        return float(t @ t)

    def grad(self, t):
        time.sleep(self.seconds)
        return 2 * t

    def hess(self, t):
        return 2 * np.eye(self.n)


def cores_rows(repeat, n, kind, size):
    from threadpoolctl import threadpool_limits

    prob = {"logistic": lambda: Logistic(n=n, m=size), "pairwise": lambda: Pairwise(n=n, edges=size),
            "sleeping": lambda: Sleeping(n=size)}[kind]()
    H = prob.hess(prob.theta)
    fc.check_hessian(None, prob.theta[:50], H[:50, :50], grad=lambda t: H[:50, :50] @ t, workers=2)  # start the pool
    serial, pooled, verdicts = [], [], set()
    load_before = os.getloadavg()[0]
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        for _ in range(50):
            prob.grad(prob.theta)
        grad_ms = (time.perf_counter() - t0) / 50 * 1e3
        # untimed: a full-size check of each kind first; with fastcheck.config.COMPILE = "always" (set in
        # main) every timed check judges its entries by the compiled pass of verdicts.entries, as a process
        # that has checked a few Hessians of this size does
        for workers in (1, 2):
            fc.check_hessian(prob.cost, prob.theta, H, grad=prob.grad, workers=workers)
        for _ in range(repeat):
            for workers, store in ((1, serial), (2, pooled)):
                t0 = time.perf_counter()
                res = fc.check_hessian(prob.cost, prob.theta, H, grad=prob.grad, workers=workers)
                store.append(time.perf_counter() - t0)
                verdicts.add((workers, res.verdict, res.path))
    return {"n": n, "problem": kind, "size": size, "grad_ms": grad_ms, "serial": serial, "pooled": pooled,
            "serial_median": statistics.median(serial), "pooled_median": statistics.median(pooled),
            "ratio": statistics.median(serial) / statistics.median(pooled),
            "verdicts": sorted(map(list, verdicts)), "entries": len(res.analytic),
            "gradient_evaluations": int(res.n_evals), "load": [load_before, os.getloadavg()[0]]}


def cores_table(cores) -> str:
    lines = ["| gradient | one gradient | serial median s | 2 workers median s | speed-up | all serial / pooled (s) "
             "| load before, after |", "|---:|---:|---:|---:|---:|---|---|"]
    for c in cores:
        runs = (", ".join(f"{t:.2f}" for t in c["serial"]) + " / " + ", ".join(f"{t:.2f}" for t in c["pooled"]))
        what = {"pairwise": f"pairwise, {c['size']:,} edges", "logistic": f"logistic, {c['size']:,} samples",
                "sleeping": f"sleeping 2 ms (n = {c['size']})"}[c["problem"]]
        lines.append(f"| {what} | {c['grad_ms']:.2f} ms | {c['serial_median']:.2f} | {c['pooled_median']:.2f} "
                     f"| **{c['ratio']:.2f}x** | {runs} | {c['load'][0]:.1f}, {c['load'][1]:.1f} |")
    return "\n".join(lines)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def markdown(rows) -> str:
    lines = ["| problem | case | tool | median s | verdict | blocks named |", "|---|---|---|---:|---|---|"]
    for r in rows:
        s = "–" if not np.isfinite(r["seconds"]) else f"{r['seconds']:.3g}"
        lines.append(f"| {r['problem']} | {r['case']} | {r['tool']} | {s} | {r['verdict']} | {r['where']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-python", default=None, help="a Python with torch installed (a separate venv)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cores-repeat", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000, help="size of the cores benchmark")
    ap.add_argument("--samples", type=int, nargs="+", default=[400],
                    help="samples of the logistic regression (mat-vecs, memory-bound) in the cores benchmark")
    ap.add_argument("--edges", type=int, nargs="+", default=[32000, 128000],
                    help="edges of the pairwise potential (elementwise, compute-bound) in the cores benchmark")
    ap.add_argument("--out", default=None, help="write here instead (default: see --write)")
    add_write_option(ap, TRACKED)
    ap.add_argument("--cores-only", action="store_true", help="re-run part 2 only; part 1 from results.json")
    args = ap.parse_args(argv)
    args.out = str(args.out or report_dir(args.write, TRACKED))
    warnings.simplefilter("ignore")
    probs = problems()
    from threadpoolctl import threadpool_limits

    rows = []
    previous = Path(args.out) / "results.json"
    if args.cores_only:
        old = json.loads(previous.read_text())
        rows, torch_note = old["peers"], old["torch_note"]
    with threadpool_limits(limits=1) if not args.cores_only else _nothing():
        fc.check_hessian(probs["quadratic"]["cost"], probs["quadratic"]["theta"], probs["quadratic"]["hess"],
                         grad=probs["quadratic"]["grad"], workers=1)
        fc.check_hessian(probs["quadratic"]["cost"], probs["quadratic"]["theta"],
                         probs["quadratic"]["hess"](None) * scale_matrix(), grad=probs["quadratic"]["grad"],
                         workers=1)  # load the ladder's kernel before the clock starts
        for name, p in (probs.items() if not args.cores_only else ()):
            rows += fastcheck_rows(name, p, args.repeat)
            rows += numdifftools_rows(name, p, args.repeat)
            rows += jax_rows(name, p, max(1, args.repeat // 2))
    if not args.cores_only:
        trows, torch_note = torch_rows(probs, args.torch_python, args.repeat)
        rows += trows
    order = {"quadratic": 0, "logsumexp": 1, "rosenbrock": 2}
    rows.sort(key=lambda r: (order[r["problem"]], r["case"], r["tool"]))
    fc.config.COMPILE = "always"  # part 2 times the steady state: the entries judged by the compiled pass
    cores = [cores_rows(args.cores_repeat, args.n, "pairwise", e) for e in args.edges]
    cores += [cores_rows(args.cores_repeat, args.n, "logistic", m) for m in args.samples]
    cores += [cores_rows(args.cores_repeat, args.n, "sleeping", 300)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import numba
    import numdifftools

    env = (f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
           f"numdifftools {numdifftools.__version__}, {torch_note}; {os.cpu_count()} cores")
    (out / "results.json").write_text(json.dumps({"peers": rows, "cores": cores, "environment": env,
                                                       "torch_note": torch_note}, indent=2))
    readme = f"""# Second-order checks: fastcheck against its peers, and on two cores

Command: `flock /tmp/fastcheck-bench.lock python benchmarks/bench_second_order.py --torch-python PATH`
({env}).

## Verdicts and time, side by side (n = {N}; blocks a = θ[:{SPLIT}], b = θ[{SPLIT}:])

"planted": H[{PLANT[0]}, {PLANT[1]}] and H[{PLANT[1]}, {PLANT[0]}] off by 1 % (the a/b and b/a pairs). Every
tool gets the same hand-written gradient and Hessian (torch: as the backward of autograd Functions, so
`gradgradcheck` compares the hand-written Hessian with finite differences of the hand-written gradient,
as `check_hessian(grad=...)` does). Medians of {args.repeat} runs (numdifftools: {max(1, args.repeat // 2)}),
one thread each. numdifftools estimates a Hessian and gives no verdict; its error against the analytic
Hessian is shown for what it is worth (against the planted one it reads the planted 1 %).

{markdown(rows)}

## On two cores: `check_hessian` with a Python gradient, n = {args.n:,}

n = {args.n:,} parameters, {cores[0]['entries']:,} entries, {cores[0]['gradient_evaluations']:,} gradient
evaluations a check. Two gradients: a pairwise potential Σ w·log cosh(θ_i − θ_j) over a random graph
(elementwise work on arrays that fit in cache) and a logistic regression (two mat-vecs with a
{args.n:,}-column data matrix, bound by memory bandwidth, which two processes share). Serial
(`workers=1`) and two worker processes (`workers=2`, the pool started beforehand), interleaved,
{args.cores_repeat} runs each, BLAS held to one thread in this process (the workers hold it to one thread
each), so the serial run is serial. The machine is shared: the 1-minute load average before and after each
row is shown (2 cores; above 2, other work competed for them).

{cores_table(cores)}

The judgement of the {cores[0]['entries']:,} entries (error bars, blocks) runs in this process after the
workers are done, about half a second of each check here.

**Reading these numbers on this machine.** Linux's autogroup scheduling is on here
(`/proc/sys/kernel/sched_autogroup_enabled` = 1): the CPU is shared between *sessions*, not processes,
and the two worker processes are in this session. While other sessions keep the cores busy (load
averages above 2 in the table), the two workers together get the same share of the machine as one
process would, so no process pool can run faster than the serial loop then. The sleeping gradient
needs no CPU: its row shows how far the two workers overlap. With the load below about 1 (the cores
free), what is left between the speed-up and 2x is this process's own serial part: judging the
entries after the workers are done (the columns come back through memory shared with the workers, not
pickles).
"""
    (out / "README.md").write_text(readme)
    print(readme)


if __name__ == "__main__":
    main()
