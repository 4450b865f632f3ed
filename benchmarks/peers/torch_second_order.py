"""torch.autograd.gradgradcheck on the second-order benchmark's problems (run by a Python that has torch).

``python torch_second_order.py DATA.npz OUT.json``: for every problem in DATA
(written by ``benchmarks/bench_second_order.py``) the hand-written gradient and
Hessian become torch autograd Functions — the cost's backward is the
hand-written gradient, whose own backward is the hand-written Hessian (times
a per-entry scale, where an error is planted) — and ``gradgradcheck`` checks
the Hessian against finite differences of the gradient, as fastcheck's
``check_hessian(grad=...)`` does.  Writes median times and verdicts.
"""
import json
import statistics
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)


def problem_fns(name, d):
    if name.startswith("quadratic"):
        A, b = torch.as_tensor(d[f"{name}:A"]), torch.as_tensor(d[f"{name}:b"])
        return (lambda t: 0.5 * t @ A @ t + b @ t), (lambda t: A @ t + b), (lambda t: A)
    if name.startswith("logsumexp"):
        M, y = torch.as_tensor(d[f"{name}:M"]), torch.as_tensor(d[f"{name}:y"])

        def p_of(t):
            z = M @ t
            return torch.softmax(z, 0)

        return ((lambda t: torch.logsumexp(M @ t, 0) - y @ (M @ t)), (lambda t: M.T @ (p_of(t) - y)),
                (lambda t: M.T @ (torch.diag(p_of(t)) - torch.outer(p_of(t), p_of(t))) @ M))
    if name.startswith("rosenbrock"):
        def cost(t):
            return torch.sum(100.0 * (t[1:] - t[:-1] ** 2) ** 2 + (1.0 - t[:-1]) ** 2)

        def grad(t):
            g = torch.zeros_like(t)
            dd = t[1:] - t[:-1] ** 2
            g[:-1] += -400.0 * t[:-1] * dd - 2.0 * (1.0 - t[:-1])
            g[1:] += 200.0 * dd
            return g

        def hess(t):
            n = len(t)
            H = torch.zeros((n, n), dtype=t.dtype)
            i = torch.arange(n - 1)
            H[i, i] += 1200.0 * t[:-1] ** 2 - 400.0 * t[1:] + 2.0
            H[i + 1, i + 1] += 200.0
            H[i, i + 1] += -400.0 * t[:-1]
            H[i + 1, i] += -400.0 * t[:-1]
            return H

        return cost, grad, hess
    raise KeyError(name)


def checker(cost, grad, hess, scale):
    class Grad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return grad(t.detach())

        @staticmethod
        def backward(ctx, go):
            (t,) = ctx.saved_tensors
            return (hess(t.detach()) * scale).T @ go

    class Cost(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return cost(t.detach())

        @staticmethod
        def backward(ctx, go):
            (t,) = ctx.saved_tensors
            return go * Grad.apply(t)

    return Cost.apply


def main(data, out):
    d = np.load(data)
    rows = []
    for name in sorted({k.split(":")[0] for k in d.files if ":" in k}):
        for case in ("correct", "planted"):
            theta = torch.tensor(d[f"{name}:theta"], requires_grad=True)
            scale = torch.as_tensor(d[f"{name}:scale"]) if case == "planted" else torch.ones(len(theta), len(theta),
                                                                                                   dtype=torch.float64)
            f = checker(*problem_fns(name, d), scale)
            times, ok = [], None
            for _ in range(int(d["repeat"])):
                t0 = time.perf_counter()
                ok = torch.autograd.gradgradcheck(f, (theta,), raise_exception=False)
                times.append(time.perf_counter() - t0)
            rows.append({"problem": name, "case": case, "tool": "torch gradgradcheck", "seconds": statistics.median(times),
                         "verdict": "pass" if ok else "fail", "where": "—"})
    with open(out, "w") as fh:
        json.dump({"torch": torch.__version__, "rows": rows}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:3])
