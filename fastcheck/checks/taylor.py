"""The Taylor test: how fast the remainders of J's expansion vanish as the step halves.

For a direction d and steps h = h₀·2⁻ᵏ:

* r0(h) = |J(θ+hd) − J(θ)|                               falls as h   (rate 1);
* r1(h) = |J(θ+hd) − J(θ) − h⟨g, d⟩|                     as h² when g is right, as h when it is wrong;
* r2(h) = |J(θ+hd) − J(θ) − h⟨g, d⟩ − ½h²⟨d, H d⟩|       as h³ when H is right too (``hess=``).

The rate is the slope of log r against log h fitted over the asymptotic
range: the smallest steps at which the remainder still stands clear of the
cost's round-off.  Below that, the remainder is rounding (a plateau, or an
erratic floor); those steps are detected and left out of the fit, and the
result says so.  A remainder at round-off at every step means the expansion
is exact to that order (a quadratic cost's r2): that passes.  The point
θ + hd is rounded in θ's dtype; the remainders use the displacement that was
really taken, so that rounding never shows as a wrong gradient.

It is step-free evidence (no step to choose, no error bar to trust), run per
block with the direction restricted to the block: :func:`second_opinion`
gives a failing gradient check's wrong blocks this reading too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fastcheck.core.layout import Layout
from fastcheck.core.validate import as_theta, layout_for
from fastcheck.evaluators.choose import make_evaluator

if TYPE_CHECKING:  # names of annotations only
    import os
    from collections.abc import Callable, Mapping

    import matplotlib.axes
    import matplotlib.figure
    from numpy.typing import ArrayLike

__all__ = ["RATE_COLUMNS", "TaylorResult", "second_opinion", "taylor_test", "with_second_opinion"]

#: A failing gradient check gets the Taylor reading of at most this many of its wrong blocks.
SECOND_OPINION_BLOCKS = 8

#: Halvings of the step (h₀ = 2⁻³·max(1, rms θ) down to 2⁻²⁶ of that).
N_STEPS = 24
#: A remainder within this many round-off bounds of the cost is rounding, not signal.
FLOOR = 64.0
#: The smallest steps' remainders are taken as the rounding plateau when they no longer fall and are within
#: this many bounds of the rounding ...
PLATEAU_AT = 1e4
#: ... and a remainder must then stand this far above that plateau to be fitted.
PLATEAU_MARGIN = 100.0
#: Steps (ratios) fitted at the small end of the clear range.
WINDOW = 4
#: A fitted rate passes when it is at least the expected one minus this.
SLACK = 0.35
RATE_COLUMNS = ["block", "size", "rate0", "rate1", "rate2", "expected", "passed", "fitted_h_min", "fitted_h_max",
                "excluded", "note"]


@dataclass(frozen=True, eq=False)
class TaylorResult:
    """What :func:`taylor_test` found.

    Attributes
    ----------
    rates : DataFrame
        One row per block ("theta" for the whole of θ, then each layout
        block): the fitted rates of r0, r1 and r2 (NaN where not fitted: r2
        without ``hess``; an ``exact`` remainder at round-off everywhere), the
        rate expected of the last remainder (2, or 3 with the Hessian), passed,
        the range of h fitted, how many steps were excluded as round-off, note.
    residuals : DataFrame
        One row per (block, h): h, J, r0, r1, r2, and ``roundoff`` (the step's
        last remainder was at the cost's rounding and left out).
    """

    rates: pd.DataFrame
    residuals: pd.DataFrame
    with_hessian: bool = False
    direction: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def passed(self) -> bool:
        return bool(self.rates["passed"].all())

    @property
    def failing_blocks(self) -> list:
        """Blocks whose rate is below the expected one (the layout's blocks; "theta" when there is no layout)."""
        rows = self.rates if len(self.rates) == 1 else self.rates.iloc[1:]
        return rows.loc[~rows["passed"], "block"].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One row per (block, h): the residuals behind the rates."""
        return self.residuals.copy()

    def __str__(self) -> str:
        order = "r2 (with the Hessian)" if self.with_hessian else "r1"
        state = "PASSED" if self.passed else f"FAILED in {', '.join(self.failing_blocks)}"
        lines = [f"Taylor test: {state} — {order} should fall as h^{3 if self.with_hessian else 2}", ""]
        table = self.rates.copy()
        for c in ("rate0", "rate1", "rate2"):
            table[c] = table[c].map(lambda v: "–" if not np.isfinite(v) else f"{v:.2f}")
        for c in ("fitted_h_min", "fitted_h_max"):
            table[c] = table[c].map(lambda v: "–" if not np.isfinite(v) else f"{v:.1e}")
        lines += ["  " + ln for ln in table.to_string(index=False).splitlines()]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike | None = None,
             ax: matplotlib.axes.Axes | None = None) -> matplotlib.figure.Figure:
        """Remainders against h, log-log, one colour per block, with the fitted lines dashed; written to ``path``
        (PNG) when given.  Returns the figure."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(6.2, 4.6), dpi=110)
            FigureCanvasAgg(fig)
            ax = fig.subplots()
        else:
            fig = ax.figure
        key = "r2" if self.with_hessian else "r1"
        colors = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
        for k, row in enumerate(self.rates.itertuples(index=False)):
            sub = self.residuals[self.residuals["block"] == row.block]
            c = colors[k % len(colors)]
            rate = getattr(row, "rate2" if self.with_hessian else "rate1")
            ok = sub[key] > 0
            label = f"{row.block}: {key} rate {rate:.2f}" if np.isfinite(rate) else f"{row.block}: {key} exact"
            ax.loglog(sub["h"][ok], sub[key][ok], "o-", ms=3, lw=1.2, color=c, label=label)
            pos = sub["r0"] > 0
            ax.loglog(sub["h"][pos], sub["r0"][pos], ":", lw=1, color=c, alpha=0.6)
            if np.isfinite(rate):
                fit = sub[(sub["h"] >= row.fitted_h_min) & (sub["h"] <= row.fitted_h_max)]
                h = fit["h"].to_numpy()
                r = fit[key].to_numpy()
                b = float(np.mean(np.log10(r) - rate * np.log10(h)))
                ax.loglog(h, 10 ** (b + rate * np.log10(h)), "--", lw=2.2, color=c, alpha=0.55)
        ax.set_xlabel("h (step along d)")
        ax.set_ylabel("remainder")
        ax.set_title(f"Taylor test: {key} (solid), r0 (dotted); dashed = fitted rate", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            from fastcheck.support.files import atomic_write

            with atomic_write(path, "wb") as fh:
                fig.savefig(fh, format="png")
        return fig


def _fit(h, r, floor, expected):
    """Rate fitted over the smallest steps clear of the floor: ``(rate, h_min, h_max, excluded, note)``.

    The window is the :data:`WINDOW` halvings at the smallest steps whose remainders stand clear of
    the cost's rounding and fall consistently (every local rate at least 0.5 and within 0.6 of each
    other): steps at round-off (a plateau, or an erratic floor) and a remainder's dip where two terms
    cancel are left out.
    """
    n = len(h)
    # the rounding level the smallest steps show, when they sit at it (a remainder still falling there is signal)
    tail = np.median(r[-4:])
    with np.errstate(divide="ignore", invalid="ignore"):
        tail_rate = float(np.median(np.log2(r[-4:-1] / r[-3:])))
    flat = not np.isfinite(tail_rate) or tail_rate < 0.5
    plateau = tail if flat and tail < PLATEAU_AT * float(np.median(floor[-4:])) else 0.0
    clear = r > np.maximum(FLOOR * floor, PLATEAU_MARGIN * plateau)
    if not clear.any():
        return np.nan, np.nan, np.nan, n, "exact: at round-off at every step"
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.log2(r[:-1] / r[1:])
    end = int(np.flatnonzero(clear)[-1]) + 1
    while end >= WINDOW + 1:
        lo = end - (WINDOW + 1)
        seg = local[lo : end - 1]
        if clear[lo:end].all() and np.isfinite(seg).all() and seg.min() >= 0.5 and seg.max() - seg.min() <= 0.6:
            x, y = np.log(h[lo:end]), np.log(r[lo:end])
            rate = float(np.polyfit(x, y, 1)[0])
            excluded = n - end
            note = f"{excluded} smallest step(s) at round-off, left out" if excluded else ""
            return rate, float(h[end - 1]), float(h[lo]), excluded, note
        end -= 1
    return np.nan, np.nan, np.nan, n, "no range of steps where the remainder falls steadily above round-off"


def _taylor_rows(ev, theta, g, H, d, name, size, h0, J0):
    """The residuals along one direction, and its rates row."""
    steps = h0 * 2.0 ** -np.arange(N_STEPS)
    lo = np.zeros(1, np.int64)
    nz = np.flatnonzero(d)
    a, b = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 1)
    u = d[a:b].astype(np.float64)
    costs = ev.directions(theta, lo + a, np.array([0, b - a], np.int64), u, np.ones(1), steps)[0]
    x = theta.astype(np.float64)
    mach = float(np.finfo(theta.dtype).eps)
    r0, r1, r2, floor = (np.empty(N_STEPS) for _ in range(4))
    for k, t in enumerate(steps):
        moved = (x[a:b] + t * u).astype(theta.dtype).astype(np.float64)
        delta = moved - x[a:b]  # the displacement really taken
        lin = float(g[a:b] @ delta)
        r0[k] = abs(costs[k] - J0)
        r1[k] = abs(costs[k] - J0 - lin)
        if H is not None:
            quad = 0.5 * float(delta @ (H[a:b, a:b] @ delta))
            r2[k] = abs(costs[k] - J0 - lin - quad)
        else:
            r2[k] = np.nan
        floor[k] = mach * (abs(costs[k]) + abs(J0) + abs(lin))
    last = r2 if H is not None else r1
    expected = 3 if H is not None else 2
    rate0 = _fit(steps, r0, floor, 1)[0]
    rate1, hmin1, hmax1, exc1, note1 = _fit(steps, r1, floor, 2)
    rate2, hmin2, hmax2, exc2, note2 = _fit(steps, r2, floor, 3) if H is not None else (np.nan,) * 4 + ("",)
    rate, hmin, hmax, exc, note = (rate2, hmin2, hmax2, exc2, note2) if H is not None else (rate1, hmin1, hmax1, exc1,
                                                                                              note1)
    ok = (not np.isfinite(rate) and note.startswith("exact")) or (np.isfinite(rate) and rate >= expected - SLACK)
    if H is not None and np.isfinite(rate1) and rate1 < 2 - SLACK:
        ok = False
        note = "; ".join(filter(None, (note, f"r1 falls as h^{rate1:.2f}: the gradient is wrong here")))
    if not ok and np.isfinite(rate) and not note.startswith("r1"):
        what = "Hessian" if H is not None else "gradient"
        note = "; ".join(filter(None, (note, f"falls as h^{rate:.2f}, not h^{expected}: the {what} is wrong here")))
    row = {"block": name, "size": size, "rate0": rate0, "rate1": rate1, "rate2": rate2, "expected": expected,
           "passed": bool(ok), "fitted_h_min": hmin, "fitted_h_max": hmax, "excluded": int(exc), "note": note}
    clear = last > FLOOR * floor
    frame = pd.DataFrame({"block": name, "h": steps, "J": costs, "r0": r0, "r1": r1, "r2": r2, "roundoff": ~clear})
    return row, frame


def taylor_test(cost: Callable[..., float], theta: ArrayLike, grad: Callable[..., ArrayLike] | ArrayLike, *,
                hess: Callable[..., ArrayLike] | ArrayLike | None = None, direction: ArrayLike | None = None,
                layout: Layout | Mapping[str, ArrayLike] | None = None, args: tuple = (), seed: int = 0) -> TaylorResult:
    """Remainders of J's Taylor expansion along a direction over halving steps, and the rates they fall at.

    Parameters
    ----------
    cost : callable
        ``cost(theta, *args) -> float``.
    theta : 1-D float array
    grad : array or callable
        The analytic gradient at θ (or ``grad(theta, *args)``).
    hess : array or callable, optional
        The analytic Hessian (n, n), or ``hess(theta, *args)``: adds r2 (rate 3).
    direction : array, optional
        d (default: standard normal from ``seed``).
    layout : Layout or dict of arrays, optional
        A row per block too, with d restricted to the block.

    Returns
    -------
    TaylorResult
    """
    theta = as_theta(theta)
    args = args if isinstance(args, tuple) else (args,)
    n = len(theta)
    lay = layout_for(theta, layout)
    g = np.asarray(grad(theta.copy(), *args) if callable(grad) else grad, np.float64)
    if isinstance(grad, dict) or isinstance(g.dtype, np.dtypes.ObjectDType):
        g = lay.flatten(grad if isinstance(grad, dict) else grad(theta.copy(), *args))
    g = g.reshape(-1)
    if g.size != n:
        raise ValueError(f"grad has {g.size} entries but theta has {n}")
    H = None
    if hess is not None:
        H = np.asarray(hess(theta.copy(), *args) if callable(hess) else hess, np.float64)
        if hasattr(H, "toarray"):
            H = H.toarray()
        if H.shape != (n, n):
            raise ValueError(f"hess has shape {H.shape}; expected {(n, n)}")
    if direction is None:
        d = np.random.default_rng(seed).standard_normal(n)
    else:
        d = np.asarray(direction, np.float64).reshape(-1)
        if d.size != n or not np.isfinite(d).all() or not d.any():
            raise ValueError("direction must be a finite, non-zero vector like theta")
    ev = make_evaluator(cost, args, theta=theta, jit=False, workers=1)
    J0 = float(ev.value(theta))
    if not np.isfinite(J0):
        raise ValueError(f"the cost is {J0} at theta")
    scale = max(1.0, float(np.sqrt(np.mean(theta.astype(np.float64) ** 2))))
    blocks = [("theta", n, d)]
    if layout is not None:
        for name, a, b in zip(lay.names, lay.offsets[:-1], lay.offsets[1:]):
            if b > a:
                db = np.zeros(n)
                db[a:b] = d[a:b]
                blocks.append((name, b - a, db))
    rows, frames = [], []
    for name, size, db in blocks:
        rms = float(np.sqrt(np.mean(db[db != 0] ** 2))) if db.any() else 1.0
        row, frame = _taylor_rows(ev, theta, g, H, db, name, size, 0.125 * scale / rms, J0)
        rows.append(row)
        frames.append(frame)
    return TaylorResult(pd.DataFrame(rows, columns=RATE_COLUMNS), pd.concat(frames, ignore_index=True),
                        with_hessian=H is not None, direction=d)


def second_opinion(cost, theta, grad, args, layout: Layout, blocks, seed=0) -> dict:
    """The Taylor rate of r1 in each of ``blocks`` (names in ``layout``): ``{block: rate}``
    (about 2 where the gradient is right, 1 where it is wrong; NaN when it could not be fitted)."""
    theta = as_theta(theta)
    g = np.asarray(grad, np.float64).reshape(-1)
    ev = make_evaluator(cost, args, theta=theta, jit=False, workers=1)
    J0 = float(ev.value(theta))
    d = np.random.default_rng(seed).standard_normal(len(theta))
    scale = max(1.0, float(np.sqrt(np.mean(theta.astype(np.float64) ** 2))))
    out = {}
    for name in blocks:
        sl = layout.block_slice(name)
        db = np.zeros(len(theta))
        db[sl] = d[sl]
        rms = float(np.sqrt(np.mean(db[sl] ** 2))) if db.any() else 1.0
        row, _ = _taylor_rows(ev, theta, g, None, db, name, sl.stop - sl.start, 0.125 * scale / rms, J0)
        out[name] = row["rate1"]
    return out


def with_second_opinion(result, cost, theta, grad, args, layout: Layout, seed=0):
    """``result`` (a failing per-coordinate check) with the Taylor rate of r1 in each wrong block, in the
    block's note and the result's note: cheap (25 cost evaluations a block) and free of any step choice."""
    import dataclasses

    blocks = list(result.wrong_blocks)[:SECOND_OPINION_BLOCKS]
    if not blocks:
        return result
    g = grad(theta.copy(), *args) if callable(grad) else grad
    g = layout.flatten_gradients(g, what="grad")  # a dict, a list in block order or a flat vector
    try:
        rates = second_opinion(cost, theta, g, args, layout, blocks, seed)
    except Exception:  # noqa: BLE001 - a second opinion never spoils the first
        return result
    said = []
    for name, rate in rates.items():
        text = "Taylor r1 rate –" if not np.isfinite(rate) else f"Taylor r1 rate {rate:.2f}"
        where = result.blocks["block"] == name
        result.blocks.loc[where, "note"] = [f"{v}; {text}" if v else text for v in result.blocks.loc[where, "note"]]
        said.append(f"{name} {rate:.2f}" if np.isfinite(rate) else f"{name} –")
    opinion = ("Taylor test of the wrong blocks (no step to choose; r1 falls as h^2 where the gradient is right "
               f"along a random direction, h^1 where it is wrong): {', '.join(said)}")
    return dataclasses.replace(result, note="; ".join(filter(None, (result.note, opinion))))
