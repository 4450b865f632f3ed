"""Timing every checker on every problem in one process, with extrapolation past a time budget."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fastcheck import relative_difference

from .checkers import PEERS, Outcome, Peer
from .networks import PROBLEMS, Problem, make_problem

#: Default seconds a checker may spend on one problem before it is timed on
#: a subset of the coordinates and extrapolated.
BUDGET = 30.0
#: The peer a row's ``ratio`` is measured against (the first available).
REFERENCES = ("fastcheck structured", "fastcheck blackbox")


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
