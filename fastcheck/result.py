"""CheckResult: what a gradient check found, and where."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import config
from .layout import Layout


def relative_difference(a, b) -> float:
    """||a − b||₂ / (||a||₂ + ||b||₂), the seeds' formula; 0 when both are 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = _norm(a) + _norm(b)
    return 0.0 if den == 0 else float(_norm(a - b) / den)


def _norm(x) -> float:
    """√Σx², by NumPy's own summation rather than BLAS: called right after a Numba
    parallel kernel, a BLAS ``ddot`` can stall for 10-100 ms while its threads
    wake up against Numba's still-spinning workers."""
    x = np.ravel(x)
    return float(np.sqrt(np.sum(x * x)))


def check_thresholds(thresholds) -> dict:
    """Merge user thresholds into the defaults; they must increase."""
    t = dict(config.THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(t)
        if unknown:
            raise ValueError(f"unknown threshold(s) {sorted(unknown)}; known: {list(t)}")
        t.update({k: float(v) for k, v in thresholds.items()})
    vals = [t[k] for k in ("great", "ok", "suspect")]
    if not all(v > 0 and np.isfinite(v) for v in vals) or not vals[0] <= vals[1] <= vals[2]:
        raise ValueError(f"thresholds must be positive and increasing great <= ok <= suspect, got {t}")
    return t


def verdict(difference: float, thresholds=None, *, at_noise: bool = False) -> str:
    """Read a difference against the bands ("great", "ok", "suspect", "wrong").

    ``at_noise`` marks a difference whose absolute errors are all below the
    round-off noise of the difference quotient: nothing can be read from it,
    so it is not held against the gradient.
    """
    t = thresholds or config.THRESHOLDS
    if at_noise:
        return "great"
    if not np.isfinite(difference):
        return "wrong"
    for name in ("great", "ok", "suspect"):
        if difference < t[name]:
            return name
    return "wrong"


def _plain(v):
    """numpy scalars to Python scalars (for JSON)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _index_str(index) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


@dataclass(frozen=True, eq=False)
class CheckResult:
    """The outcome of a gradient check.

    Attributes
    ----------
    difference : float
        ||g − g_num||₂ / (||g||₂ + ||g_num||₂) over the checked coordinates
        (0 when both are zero).
    verdict : str
        "great" (< 1e-6), "ok" (< 1e-4), "suspect" (< 1e-2) or "wrong".
    passed : bool
        True when the overall difference *and every block's* are great or ok,
        no checked coordinate had a non-finite cost, and (for kinks) nothing
        but kink coordinates disagree.
    numerical, analytic : ndarray
        The two gradients at the checked coordinates (for a directional
        check: the directional derivatives u·g).
    coords : ndarray
        The checked flat coordinates (for a directional check: direction ids).
    eps : ndarray
        The step actually taken per checked coordinate (or direction).
    blocks : DataFrame
        block, size, checked, difference, max_abs_err, worst_index, verdict.
    kinks : DataFrame
        Coordinates whose ±ε perturbation crosses a kink of the cost (ReLU);
        reported apart, excluded from the verdict.
    nonfinite : ndarray
        Coordinates where a perturbed cost was NaN or inf (excluded from the
        difference; the check does not pass).
    dtype : str
        The precision θ and the costs were evaluated in ("float64" or
        "float32"; the complex step then ran in complex128 resp. complex64).
    seconds, compile_seconds : float
        Wall time of the differencing, and of the Numba compilation this
        check needed before it (0 when everything was compiled already).
    """

    difference: float
    verdict: str
    passed: bool
    numerical: np.ndarray
    analytic: np.ndarray
    coords: np.ndarray
    eps: np.ndarray
    scheme: str
    n_evals: int
    seconds: float
    threads: int
    blocks: pd.DataFrame
    layout: Layout
    path: str = "loop"
    kind: str = "coordinates"
    n_params: int = 0
    thresholds: dict = field(default_factory=lambda: dict(config.THRESHOLDS))
    kinks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["block", "index", "coord"]))
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    direction_blocks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    note: str = ""
    dtype: str = "float64"
    compile_seconds: float = 0.0

    # -- views ----------------------------------------------------------------
    def worst(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` checked coordinates with the largest absolute error."""
        err = np.abs(self.analytic - self.numerical)
        order = np.argsort(-np.where(np.isfinite(err), err, np.inf), kind="stable")[: max(int(k), 0)]
        scale = np.abs(self.analytic[order]) + np.abs(self.numerical[order])
        rel = np.divide(err[order], scale, out=np.zeros(len(order)), where=scale > 0)
        if self.kind == "coordinates":
            located = [self.layout.locate(c) for c in self.coords[order]]
            blocks = [b for b, _ in located]
            index = [_index_str(i) for _, i in located]
        else:
            blocks = [self.layout.names[b] for b in self.direction_blocks[order]]
            index = [f"u{d}" for d in self.coords[order]]
        return pd.DataFrame(
            {
                "block": blocks,
                "index": index,
                "analytic": self.analytic[order],
                "numerical": self.numerical[order],
                "abs_err": err[order],
                "rel_err": rel,
            }
        )

    @property
    def failing_blocks(self) -> list:
        return self.blocks.loc[~self.blocks["verdict"].isin(config.PASSING), "block"].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One tidy row summarising the check."""
        return pd.DataFrame(
            [
                {
                    "kind": self.kind,
                    "scheme": self.scheme,
                    "dtype": self.dtype,
                    "path": self.path,
                    "n_params": self.n_params,
                    "checked": len(self.coords),
                    "difference": self.difference,
                    "verdict": self.verdict,
                    "passed": self.passed,
                    "max_abs_err": float(np.max(np.abs(self.analytic - self.numerical))) if len(self.coords) else 0.0,
                    "eps_median": float(np.median(self.eps)) if len(self.eps) else np.nan,
                    "n_evals": self.n_evals,
                    "seconds": self.seconds,
                    "compile_seconds": self.compile_seconds,
                    "threads": self.threads,
                    "failing_blocks": ",".join(self.failing_blocks),
                    "n_kinks": len(self.kinks),
                    "n_nonfinite": len(self.nonfinite),
                }
            ]
        )

    def to_dict(self, worst: int = 10) -> dict:
        """Everything a report needs, as plain JSON-serialisable values."""
        summary = {k: _plain(v) for k, v in self.to_frame().iloc[0].items()}
        return {
            **summary,
            "thresholds": dict(self.thresholds),
            "note": self.note,
            "blocks": [{k: _plain(v) for k, v in row.items()} for row in self.blocks.to_dict("records")],
            "worst": [{k: _plain(v) for k, v in row.items()} for row in self.worst(worst).to_dict("records")],
            "kinks": [{k: _plain(v) for k, v in row.items()} for row in self.kinks.to_dict("records")],
            "nonfinite": [int(c) for c in self.nonfinite],
        }

    def __str__(self) -> str:
        what = "random directions" if self.kind == "directional" else "coordinates"
        head = (
            f"gradient check: {'PASSED' if self.passed else 'FAILED'} — {self.verdict} "
            f"(difference {self.difference:.3e})\n"
            f"  {len(self.coords)} {what} checked ({self.n_params} parameters), scheme {self.scheme}"
            f"{'' if self.dtype == 'float64' else ' in ' + self.dtype}, {self.n_evals} cost evaluations,"
            f" {self.seconds:.3g} s{self._compiled()} on {self.threads} thread(s) [{self.path}]"
        )
        lines = [head] + ([f"  ({self.note})"] if self.note else []) + ["", "per block:"]
        table = self.blocks.copy()
        table["difference"] = table["difference"].map(lambda v: f"{v:.2e}")
        table["max_abs_err"] = table["max_abs_err"].map(lambda v: f"{v:.2e}")
        lines += ["  " + ln for ln in table.to_string(index=False).splitlines()]
        if len(self.nonfinite) and self.kind == "directional":
            lines += ["", f"non-finite cost along {len(self.nonfinite)} direction(s): {self.nonfinite[:10].tolist()}"]
        elif len(self.nonfinite):
            shown = ", ".join(f"{b}{_index_str(i)}" for b, i in (self.layout.locate(c) for c in self.nonfinite[:10]))
            lines += ["", f"non-finite cost at {len(self.nonfinite)} perturbed coordinate(s): {shown}"]
        if len(self.kinks):
            lines += ["", f"{len(self.kinks)} coordinate(s) sit at a kink (a ±eps step changes a ReLU's side);"
                      " excluded from the verdict"]
        if not self.passed and len(self.coords):
            worst = self.worst(5)
            lines += ["", "worst coordinates:"] + ["  " + ln for ln in worst.to_string(index=False).splitlines()]
            if self.failing_blocks:
                lines += ["", f"look at: {', '.join(self.failing_blocks)}"]
        return "\n".join(lines)

    def _compiled(self) -> str:
        return f" (+ {self.compile_seconds:.3g} s compiling)" if self.compile_seconds > 0 else ""

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        return f"<pre>{self}</pre>"


def block_table(layout: Layout, ids, labels, analytic, numerical, noise, thresholds, exclude=None) -> pd.DataFrame:
    """Per-block comparison of checked entries (coordinates or directions).

    ``ids`` gives the block number of each entry and ``labels`` its name
    inside the block (an index such as ``[2,0]``, or ``u3`` for a
    direction).  ``noise`` is the round-off level of each numerical entry; a
    block whose errors are all below it reads "great" (see :func:`verdict`).
    ``exclude`` masks entries left out of the verdict (kinks, non-finite
    costs).
    """
    ids = np.asarray(ids, np.int64)
    keep = np.ones(len(ids), bool) if exclude is None else ~np.asarray(exclude, bool)
    rows = []
    for b, name in enumerate(layout.names):
        in_block = ids == b
        checked = int(np.count_nonzero(in_block))
        if checked == 0:
            continue
        sel = in_block & keep
        a, g = analytic[sel], numerical[sel]
        err = np.abs(a - g)
        if len(err):
            w = int(np.argmax(err))
            worst_label = labels[np.flatnonzero(sel)[w]]
            max_err = float(err[w])
            diff = relative_difference(a, g)
            at_noise = bool(np.all(err <= noise[sel]))
        else:
            worst_label, max_err, diff, at_noise = "", 0.0, 0.0, True
        rows.append(
            {
                "block": name,
                "size": layout.sizes[b],
                "checked": checked,
                "difference": diff,
                "max_abs_err": max_err,
                "worst_index": worst_label,
                "verdict": verdict(diff, thresholds, at_noise=at_noise),
            }
        )
    return pd.DataFrame(rows, columns=["block", "size", "checked", "difference", "max_abs_err", "worst_index", "verdict"])
