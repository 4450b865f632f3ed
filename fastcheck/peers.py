"""fastcheck side by side with the gradient checkers people already use.

One run puts the same problems through every checker and times them on the
same machine in the same process:

* ``seeds loop``: the seeds' ``computeNumericalGradient`` (a Python loop over
  the weights, perturbing a NumPy network through ``setParams`` and
  calling ``costFunction``, ε = 1e-4), on :class:`SeedsNetwork`, the seeds'
  ``Neural_Network`` generalised to any widths and biases;
* ``scipy approx_fprime``: :func:`scipy.optimize.approx_fprime` (forward
  differences, step √eps_mach);
* ``scipy approx_derivative 3-point``: scipy's private
  ``scipy.optimize._numdiff.approx_derivative(method="3-point")`` (central
  differences, relative step eps_mach^(1/3));
* ``torch gradcheck`` and ``torch gradcheck fast``:
  :func:`torch.autograd.gradcheck` with ``fast_mode=False`` / ``True`` on a
  float64 torch version of the same network (only when torch imports);
* fastcheck's own modes: ``blackbox`` (:func:`fastcheck.check_gradient` on
  the model's jitted cost), ``structured`` (``fastcheck.check_model``, when
  the installed fastcheck has it), ``sampled`` (k coordinates per block) and
  ``directional`` (:func:`fastcheck.check_directional`).

Every checker's numerical gradient is compared with the model's analytic
(backprop) gradient with the seeds' normalised difference.  A checker whose
full run would exceed the time budget runs on an evenly spaced subset of
coordinates, and its time for all of θ is *extrapolated* from a straight-line
fit of time against the number of coordinates; such rows say so in the
``extrapolated`` column and in the Markdown table.

The networks are the built-in :class:`fastcheck.models.MLP` with sigmoid
units and the seeds' cost ½·Σ(y − ŷ)², so :class:`SeedsNetwork` and the
torch network compute exactly the same function (the tests compare them).
"""
from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .result import relative_difference

#: Problems by name: ``None`` is the seeds' own network and data, a tuple the
#: widths of an MLP with sigmoid units and biases on a random batch.
PROBLEMS = {
    "seed 2-3-1": None,
    "64-32-10": (64, 32, 10),
    "256-64-10": (256, 64, 10),
    "784-128-10": (784, 128, 10),
}

#: Default seconds a checker may spend on one problem before it is timed on
#: a subset of the coordinates and extrapolated.
BUDGET = 30.0
#: Coordinates per block for the ``fastcheck sampled`` row.
SAMPLE = 16
#: The peer a row's ``ratio`` is measured against (the first available).
REFERENCES = ("fastcheck structured", "fastcheck blackbox")


# -- problems -------------------------------------------------------------------
@dataclass
class Problem:
    """One network, its parameters, a batch, and the analytic gradient."""

    name: str
    model: object
    theta: np.ndarray
    X: np.ndarray
    y: np.ndarray
    grad: np.ndarray = field(repr=False)

    @property
    def n_params(self) -> int:
        return int(self.theta.shape[0])

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])


def make_problem(name: str, batch: int = 64, seed: int = 0) -> Problem:
    """Build the problem ``name`` (see :data:`PROBLEMS`).

    The seeds' problem keeps its own three-sample data set; the MLPs get a
    random batch of ``batch`` samples and θ from ``model.init(seed)``.
    """
    from . import models

    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {list(PROBLEMS)}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    sizes = PROBLEMS[name]
    if sizes is None:
        model, theta, X, y = models.seed_network(seed)
    else:
        model = models.MLP(list(sizes), activations="sigmoid", loss="sse")
        theta = model.init(seed)
        X, y = model.sample_data(int(batch), seed=seed)
    return Problem(name, model, theta, X, y, model.grad(theta, X, y))


def _sigmoid_sse(model) -> None:
    """The peers re-implement only sigmoid units with the seeds' cost."""
    acts = set(model.activation_names)
    if acts != {"sigmoid"} or model.loss != "sse" or model.l2 != 0 or model.keep_prob != 1:
        raise ValueError(
            f"the peer networks implement sigmoid units with the 'sse' loss and no l2/dropout only, got {model!r}"
        )


# -- the seeds' network and loop ---------------------------------------------------
class SeedsNetwork:
    """The seeds' ``Neural_Network``, generalised to any widths and to biases.

    Same conventions as the seeds and as :class:`fastcheck.models.MLP`:
    row-major, ``z = a·W + b``, sigmoid units, cost ``J = ½·Σ(y − ŷ)²``, and
    ``getParams`` concatenating ``W1, b1, W2, b2, …`` each raveled in C order.
    (The seeds write ``0.5*sum(...)``, which is a vector for several
    outputs; ``np.sum`` keeps J a scalar.)
    """

    def __init__(self, sizes, bias: bool = True):
        self.sizes = tuple(int(s) for s in sizes)
        self.bias = bool(bias)
        self.W = [np.zeros((a, b)) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        self.b = [np.zeros(b) for b in self.sizes[1:]] if self.bias else []

    @classmethod
    def like(cls, model) -> "SeedsNetwork":
        """The network computing the same cost as a sigmoid/sse ``MLP``."""
        _sigmoid_sse(model)
        return cls(model.sizes, bias=model.bias)

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoidPrime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def forward(self, X):
        self.z, self.a = [], [X]
        a = X
        for l, W in enumerate(self.W):
            z = np.dot(a, W)
            if self.bias:
                z = z + self.b[l]
            a = self.sigmoid(z)
            self.z.append(z)
            self.a.append(a)
        return a

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * np.sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        """Backprop: δ_L = −(y − ŷ)·σ'(z_L), δ_l = (δ_{l+1}·W_{l+1}ᵀ)·σ'(z_l)."""
        self.yHat = self.forward(X)
        delta = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z[-1]))
        dW, db = [None] * len(self.W), [None] * len(self.W)
        for l in range(len(self.W) - 1, -1, -1):
            dW[l] = np.dot(self.a[l].T, delta)
            db[l] = delta.sum(axis=0)
            if l:
                delta = np.dot(delta, self.W[l].T) * self.sigmoidPrime(self.z[l - 1])
        return dW, db

    def getParams(self):
        parts = []
        for l, W in enumerate(self.W):
            parts.append(W.ravel())
            if self.bias:
                parts.append(self.b[l].ravel())
        return np.concatenate(parts)

    def setParams(self, params):
        start = 0
        for l, W in enumerate(self.W):
            end = start + W.size
            self.W[l] = np.reshape(params[start:end], W.shape)
            start = end
            if self.bias:
                end = start + self.b[l].size
                self.b[l] = np.reshape(params[start:end], self.b[l].shape)
                start = end

    def computeGradients(self, X, y):
        dW, db = self.costFunctionPrime(X, y)
        parts = []
        for l in range(len(dW)):
            parts.append(dW[l].ravel())
            if self.bias:
                parts.append(db[l].ravel())
        return np.concatenate(parts)

    def cost(self, params, X, y) -> float:
        """J at ``params`` (sets them first)."""
        self.setParams(params)
        return float(self.costFunction(X, y))


def seeds_numerical_gradient(N, X, y, coords=None, e: float = 1e-4) -> np.ndarray:
    """The seeds' ``computeNumericalGradient``, optionally over ``coords`` only.

    For each weight p: ``perturb[p] = e``, J⁺ at ``params + perturb``, J⁻ at
    ``params − perturb``, ``numgrad[p] = (J⁺ − J⁻) / 2e``; the parameters
    are restored at the end.  Entries outside ``coords`` stay 0.
    """
    paramsInitial = N.getParams()
    numgrad = np.zeros(paramsInitial.shape)
    perturb = np.zeros(paramsInitial.shape)
    for p in range(len(paramsInitial)) if coords is None else coords:
        perturb[p] = e
        N.setParams(paramsInitial + perturb)
        loss2 = N.costFunction(X, y)
        N.setParams(paramsInitial - perturb)
        loss1 = N.costFunction(X, y)
        numgrad[p] = (loss2 - loss1) / (2 * e)
        perturb[p] = 0
    N.setParams(paramsInitial)
    return numgrad


# -- torch --------------------------------------------------------------------------
def torch_available() -> bool:
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def torch_cost(model, X, y):
    """``f(theta_tensor) -> J`` in float64 torch, the same function as ``model.cost``."""
    import torch

    _sigmoid_sse(model)
    Xt = torch.as_tensor(np.asarray(X, np.float64))
    Yt = torch.as_tensor(np.asarray(y, np.float64).reshape(X.shape[0], -1))
    lay = model.layout
    blocks = [(lay.offsets[i], lay.offsets[i + 1], lay.shapes[i]) for i in range(len(lay.names))]

    def f(theta):
        a = Xt
        i = 0
        while i < len(blocks):
            lo, hi, shape = blocks[i]
            z = a @ theta[lo:hi].reshape(shape)
            i += 1
            if model.bias:
                lo, hi, _ = blocks[i]
                z = z + theta[lo:hi]
                i += 1
            a = torch.sigmoid(z)
        return 0.5 * ((Yt - a) ** 2).sum()

    return f


# -- the checkers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one checker returned: its numerical values at the checked
    coordinates (``None`` for a pass/fail-only checker), its own verdict
    (``None`` if it gives none) and how many coordinates, directions or
    projections it checked."""

    numerical: np.ndarray | None
    passed: bool | None
    checked: int
    analytic: np.ndarray | None = None


@dataclass(frozen=True)
class Peer:
    """A gradient checker.

    ``run(problem, coords)`` checks the coordinates ``coords`` (``None``:
    all of θ) and returns an :class:`Outcome`; ``prepare(problem)``, if
    given, warms it up (JIT compilation) outside the timings.  ``subset``
    says whether ``coords`` is honoured (otherwise the run is always whole
    and never extrapolated); ``unit`` names what ``checked`` counts.
    """

    name: str
    run: Callable
    subset: bool = True
    unit: str = "coordinates"
    prepare: Callable | None = None
    note: str = ""
    available: Callable = lambda: True  # noqa: E731 - a plain default


def _restricted(f, theta, coords):
    """``g(x_sub) = f(θ with θ[coords] = x_sub)``: a peer that differentiates
    every input sees only the coordinates it is meant to check."""
    if coords is None:
        return f, theta.copy()
    coords = np.asarray(coords)

    def g(x_sub):
        x = theta.copy()
        x[coords] = x_sub
        return f(x)

    return g, theta[coords].copy()


def _seeds_loop(p: Problem, coords):
    net = SeedsNetwork.like(p.model)
    net.setParams(p.theta.copy())
    g = seeds_numerical_gradient(net, p.X, p.y, coords)
    g = g if coords is None else g[coords]
    return Outcome(g, None, len(g))


def _numpy_cost(p: Problem):
    net = SeedsNetwork.like(p.model)
    return lambda th: net.cost(th, p.X, p.y)


def _approx_fprime(p: Problem, coords):
    from scipy.optimize import approx_fprime

    f, x0 = _restricted(_numpy_cost(p), p.theta, coords)
    g = np.asarray(approx_fprime(x0, f)).ravel()
    return Outcome(g, None, len(g))


def _approx_derivative(p: Problem, coords):
    from scipy.optimize._numdiff import approx_derivative

    f, x0 = _restricted(_numpy_cost(p), p.theta, coords)
    g = np.asarray(approx_derivative(f, x0, method="3-point")).ravel()
    return Outcome(g, None, len(g))


def _gradcheck(fast: bool):
    def run(p: Problem, coords):
        import torch

        f = torch_cost(p.model, p.X, p.y)
        base = torch.as_tensor(p.theta.copy())
        if coords is None:
            x = base.clone().requires_grad_(True)
            fn = f
        else:
            idx = torch.as_tensor(np.asarray(coords, np.int64))
            x = base[idx].clone().requires_grad_(True)

            def fn(sub):
                return f(base.index_put((idx,), sub))

        ok = torch.autograd.gradcheck(fn, (x,), fast_mode=fast, raise_exception=False)
        return Outcome(None, bool(ok), 1 if fast else int(x.numel()))

    return run


def _fastcheck_args(p: Problem):
    m = p.model
    return m.jit_cost, m.cost_args(p.X, p.y)


def _model_check(p: Problem, **options):
    from .structured import check_model

    res = check_model(p.model, p.theta, p.X, p.y, **options)
    return Outcome(res.numerical, res.passed, len(res.coords), res.analytic)


def _blackbox(p: Problem, coords):
    return _model_check(p, mode="blackbox", coords=coords)


def _structured(p: Problem, coords):
    return _model_check(p, mode="structured", coords=coords)


def _sampled(p: Problem, coords):
    return _model_check(p, mode="structured", sample=SAMPLE)


def _directional(p: Problem, coords):
    import fastcheck

    cost, args = _fastcheck_args(p)
    res = fastcheck.check_directional(cost, p.theta, p.model.grad, args=args, layout=p.model.layout)
    return Outcome(res.numerical, res.passed, len(res.coords), res.analytic)


def _warm(run, coords=(0,)):
    def prepare(p: Problem):
        run(p, np.asarray(coords, np.int64))

    return prepare


def _warm_whole(run):
    def prepare(p: Problem):
        run(p, None)

    return prepare


def _warm_directional(p: Problem):
    import fastcheck

    cost, args = _fastcheck_args(p)
    fastcheck.check_directional(cost, p.theta, p.model.grad, args=args, n_dirs=1)


def _warm_sampled(p: Problem):
    _sampled(p, None)


#: Every checker, in table order.
PEERS = {
    peer.name: peer
    for peer in (
        Peer("seeds loop", _seeds_loop, note="the seeds' computeNumericalGradient, central, e=1e-4"),
        Peer("scipy approx_fprime", _approx_fprime, note="forward differences, step sqrt(eps)"),
        Peer(
            "scipy approx_derivative 3-point",
            _approx_derivative,
            note="central differences, relative step eps^(1/3)",
        ),
        Peer(
            "torch gradcheck",
            _gradcheck(False),
            note="fast_mode=False; pass/fail only",
            available=torch_available,
            prepare=_warm(_gradcheck(False)),
        ),
        Peer(
            "torch gradcheck fast",
            _gradcheck(True),
            subset=False,
            unit="random projection",
            note="fast_mode=True: one random projection; pass/fail only",
            available=torch_available,
            prepare=_warm_whole(_gradcheck(True)),
        ),
        Peer(
            "fastcheck blackbox",
            _blackbox,
            note="check_model(mode='blackbox'): the jitted cost in the generic parallel kernel",
            prepare=_warm(_blackbox),
        ),
        Peer(
            "fastcheck structured",
            _structured,
            note="check_model(mode='structured')",
            prepare=_warm(_structured),
        ),
        Peer(
            "fastcheck sampled",
            _sampled,
            subset=False,
            note=f"check_model(mode='structured', sample={SAMPLE}): {SAMPLE} coordinates per block",
            prepare=_warm_sampled,
        ),
        Peer(
            "fastcheck directional",
            _directional,
            subset=False,
            unit="directions",
            note="8 random directions per block",
            prepare=_warm_directional,
        ),
    )
}


# -- timing ---------------------------------------------------------------------------------
def subset_coords(n: int, k: int) -> np.ndarray:
    """``k`` coordinates spread evenly over ``0 … n−1`` (all of them if k ≥ n)."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


@dataclass
class Timing:
    seconds: float
    outcome: Outcome
    coords: np.ndarray | None
    extrapolated: bool
    how: str
    first_call: float | None
    repeats: int


def time_peer(peer: Peer, p: Problem, budget: float = BUDGET, repeat: int = 3, pilot: int = 16, min_pilot: float = 0.25) -> Timing:
    """Time ``peer`` on ``p``: whole θ when it fits the budget, else extrapolated.

    Runs that take under a second are repeated ``repeat`` times and the
    median is kept.  For a checker that honours ``coords``, pilot runs on
    ``pilot``, 4·``pilot``, … evenly spaced coordinates go on until one
    takes ``min_pilot`` seconds (each the median of up to ``repeat`` runs);
    the last two fit ``t(k) = a + b·k``.  If
    ``a + b·n`` exceeds ``budget``, the checker runs on as many coordinates
    as half the budget allows, and ``seconds`` is ``a + b·n`` refitted to
    that run and the last pilot: an extrapolation, marked as one.
    """
    first = None
    if peer.prepare is not None:
        first, _ = _timed(peer.prepare, p)
    n = p.n_params
    if peer.subset and n > 4 * pilot:
        runs = []
        k = int(pilot)
        while k < n:
            coords = subset_coords(n, k)
            t = _median_time(peer.run, p, coords, repeat)
            runs.append((len(coords), t))
            if t >= min_pilot and len(runs) >= 2:
                break
            k *= 4
        if len(runs) >= 2:
            a, b = _line(runs[-2], runs[-1])
            if a + b * n > budget:
                k = int(min(max((0.5 * budget - a) / b, runs[-1][0]), n))
                coords = subset_coords(n, k)
                tk, out = _timed(peer.run, p, coords)
                if len(coords) > runs[-1][0]:
                    a, b = _line(runs[-1], (len(coords), tk))
                how = (
                    f"timed on {len(coords)} of {n} coordinates ({tk:.3g} s); t(n) = a + b*n with"
                    f" a = {a:.3g} s, b = {b:.3g} s per coordinate"
                )
                return Timing(a + b * n, out, coords, True, how, first, 1)
    times, out = [], None
    for _ in range(max(int(repeat), 1)):
        t, out = _timed(peer.run, p, None)
        times.append(t)
        if t > 1.0:
            break
    return Timing(float(np.median(times)), out, None, False, "measured", first, len(times))


def _median_time(fn, p, coords, repeat):
    """Median seconds of up to ``repeat`` runs (one run when it takes over half a second)."""
    times = []
    for _ in range(max(int(repeat), 1)):
        t, _ = _timed(fn, p, coords)
        times.append(t)
        if t > 0.5:
            break
    return float(np.median(times))


def _line(p0, p1):
    """Intercept and slope (both ≥ 0) of the line through two (k, seconds) points."""
    (k0, t0), (k1, t1) = p0, p1
    b = max((t1 - t0) / (k1 - k0), 1e-12) if k1 != k0 else max(t1 / max(k1, 1), 1e-12)
    return max(t1 - b * k1, 0.0), b


def compare(
    problems=None,
    peers=None,
    *,
    batch: int = 64,
    budget: float = BUDGET,
    repeat: int = 3,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run every checker on every problem; one row per (peer, problem).

    Columns: peer, problem, n_params, seconds, ratio (seconds over the
    reference fastcheck row of the same problem, see :data:`REFERENCES`),
    difference (normalised difference of the peer's numerical gradient from
    the analytic one over the checked coordinates; NaN for pass/fail-only
    checkers), checked, unit, passed, extrapolated, how, first_call_seconds
    (warm-up, including JIT compilation), repeats, threads, note.
    """
    import numba

    problems = list(PROBLEMS) if problems is None else list(problems)
    for name in problems:
        if name not in PROBLEMS:
            raise ValueError(f"unknown problem {name!r}; choose from {list(PROBLEMS)}")
    names = list(PEERS) if peers is None else list(peers)
    for name in names:
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}; choose from {list(PEERS)}")
    if not (isinstance(budget, (int, float)) and budget > 0 and math.isfinite(budget)):
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    log = log or (lambda msg: None)
    rows = []
    for pname in problems:
        p = make_problem(pname, batch=batch, seed=seed)
        for name in names:
            peer = PEERS[name]
            if not peer.available():
                log(f"{name}: not available here, skipped")
                continue
            log(f"{pname} ({p.n_params} parameters): {name} ...")
            t = time_peer(peer, p, budget=budget, repeat=repeat)
            rows.append(_row(peer, p, t, numba.get_num_threads()))
            log(f"    {t.seconds:.4g} s{' (extrapolated)' if t.extrapolated else ''}")
    df = pd.DataFrame(rows, columns=COLUMNS)
    return add_ratios(df)


COLUMNS = [
    "peer", "problem", "n_params", "seconds", "ratio", "difference", "checked", "unit", "passed",
    "extrapolated", "how", "first_call_seconds", "repeats", "threads", "note", "ratio_to",
]


def _row(peer: Peer, p: Problem, t: Timing, threads: int) -> dict:
    out = t.outcome
    coords = np.arange(p.n_params) if t.coords is None else t.coords
    if out.numerical is None:
        difference = np.nan
    elif out.analytic is not None:  # fastcheck reports both at what it checked
        difference = relative_difference(out.analytic, out.numerical)
    else:
        difference = relative_difference(p.grad[coords], out.numerical)
    return dict(
        peer=peer.name,
        problem=p.name,
        n_params=p.n_params,
        seconds=t.seconds,
        ratio=np.nan,
        difference=difference,
        checked=out.checked,
        unit=peer.unit,
        passed=out.passed,
        extrapolated=t.extrapolated,
        how=t.how,
        first_call_seconds=t.first_call,
        repeats=t.repeats,
        threads=threads,
        note=peer.note,
        ratio_to="",
    )


def add_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """``ratio`` = seconds / seconds of the problem's reference fastcheck row."""
    df = df.copy()
    df["ratio"] = np.nan
    for pname, rows in df.groupby("problem", sort=False):
        ref = next((r for r in REFERENCES if (rows["peer"] == r).any()), None)
        if ref is None:
            continue
        base = float(rows.loc[rows["peer"] == ref, "seconds"].iloc[0])
        df.loc[rows.index, "ratio"] = rows["seconds"] / base
        df.loc[rows.index, "ratio_to"] = ref
    return df


# -- reports ----------------------------------------------------------------------------------
def _fmt_seconds(s, extrapolated) -> str:
    if s is None or not np.isfinite(s):
        return ""
    txt = f"{s:.3g}" if s >= 1e-3 else f"{s:.2e}"
    return f"~{txt} (extrapolated)" if extrapolated else txt


def markdown_table(df: pd.DataFrame) -> str:
    """The comparison as a Markdown table (extrapolated times marked)."""
    head = ["problem", "n_params", "peer", "seconds", "ratio", "difference", "checked", "passed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in df.itertuples(index=False):
        ratio = "" if not np.isfinite(r.ratio) else f"{r.ratio:.3g}"
        diff = "n/a" if not np.isfinite(r.difference) else f"{r.difference:.2e}"
        passed = "" if r.passed is None or (isinstance(r.passed, float) and np.isnan(r.passed)) else str(bool(r.passed))
        checked = f"{r.checked} {r.unit}" if r.unit != "coordinates" else f"{r.checked} of {r.n_params}"
        cells = [r.problem, str(r.n_params), r.peer, _fmt_seconds(r.seconds, r.extrapolated), ratio, diff, checked, passed]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(df: pd.DataFrame, path) -> Path:
    """Log-log time against n_params, one line per peer; hollow markers are extrapolated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, (peer, rows) in enumerate(df.groupby("peer", sort=False)):
        rows = rows.sort_values("n_params")
        color = f"C{i % 10}"
        ax.plot(rows["n_params"], rows["seconds"], "-", color=color, label=peer, alpha=0.8)
        meas = rows[~rows["extrapolated"].astype(bool)]
        extra = rows[rows["extrapolated"].astype(bool)]
        ax.plot(meas["n_params"], meas["seconds"], "o", color=color)
        ax.plot(extra["n_params"], extra["seconds"], "o", mfc="none", color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters n")
    ax.set_ylabel("seconds per check")
    ax.set_title("Gradient checkers on the same networks (hollow: extrapolated)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    from .files import atomic_write

    try:
        with atomic_write(path, "wb") as fh:  # a full disk leaves the previous plot
            fig.savefig(fh, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path


def write_report(df: pd.DataFrame, out_dir, *, header: str = "") -> dict:
    """Save ``peers.csv``, ``peers.parquet`` (when pyarrow is installed),
    ``peers.md`` and ``peers.png`` in ``out_dir``; returns the paths."""
    from .files import atomic_write, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "peers.csv"}
    with atomic_write(paths["csv"], "w", newline="") as fh:  # each file: complete, or the previous one
        df.to_csv(fh, index=False)
    try:
        import pyarrow  # noqa: F401

        with atomic_write(out / "peers.parquet", "wb") as fh:
            df.to_parquet(fh, index=False)
        paths["parquet"] = out / "peers.parquet"
    except ImportError:
        pass
    md = out / "peers.md"
    ref = ", else ".join(f"`{r}`" for r in REFERENCES)
    write_text(
        md,
        "# fastcheck and its peers, one run\n\n"
        + (header + "\n\n" if header else "")
        + f"`ratio` is seconds over the seconds of {ref} on the same problem. `difference` is "
        "||g_num − g|| / (||g_num|| + ||g||) against the analytic (backprop) gradient over the checked "
        "coordinates (n/a: the checker answers pass/fail only). Times marked *extrapolated* come from a "
        "run on the coordinates shown in `checked` and a straight-line fit of time against the number of "
        "coordinates; everything else was measured on all of θ. Compilation is excluded (warm-up first).\n\n"
        + markdown_table(df)
    )
    paths["md"] = md
    try:
        paths["png"] = plot(df, out / "peers.png")
    except ImportError:
        pass
    return paths
