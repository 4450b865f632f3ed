"""torch.autograd.gradcheck(fast_mode=True) on the screening benchmark's costs (run in an environment with torch).

    python benchmarks/screen_torch.py N BUG [SEED]

prints one JSON line: did gradcheck flag the planted gradient, in how many seconds and cost evaluations, and
what it says about where (fast mode compares one random projection vᵀJu, so it cannot name a block or a
coordinate).  The cost is the benchmark's NumPy cost wrapped in a ``torch.autograd.Function`` whose backward
returns the planted gradient: gradcheck compares that "analytic" gradient with its own finite differences,
exactly as it would a hand-written backward.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screen_costs import Net, planted


def run(n: int, bug: str, seed: int = 0) -> dict:
    net = Net(n)
    g, _ = planted(net, bug, seed)
    calls = {"n": 0}

    class Cost(torch.autograd.Function):
        @staticmethod
        def forward(ctx, theta):
            calls["n"] += 1
            return torch.tensor(net.cost(theta.detach().numpy()), dtype=torch.float64)

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out * torch.from_numpy(g)

    # On a mismatch fast mode recomputes the whole Jacobian in slow mode (2n evaluations) only to print it:
    # skipped here (it would take 2n evaluations; at n = 10^6 about an hour), and said so.
    module = sys.modules["torch.autograd.gradcheck"]
    module._run_slow_mode_and_get_error = lambda *a, **k: "\n(slow-mode recomputation skipped)"
    x = torch.from_numpy(net.theta.copy()).requires_grad_(True)
    t0 = time.perf_counter()
    try:
        ok = torch.autograd.gradcheck(Cost.apply, (x,), fast_mode=True, raise_exception=True)
        message = ""
    except module.GradcheckError as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        ok, message = False, " ".join(lines[:3])[:200]
    seconds = time.perf_counter() - t0
    return {"n": n, "bug": bug, "seed": seed, "flagged": not ok, "seconds": seconds, "evals": calls["n"],
            "message": message, "torch": torch.__version__}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)))
