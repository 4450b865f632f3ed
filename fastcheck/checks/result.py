"""CheckResult: what a gradient check found, and where."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fastcheck import config
from fastcheck.core.layout import Layout
from fastcheck.verdicts.bands import band, hint, relative_difference
from fastcheck.verdicts.errorbars import KINK_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from fastcheck.checks.table import Table

__all__ = ["CheckResult", "relative_difference"]


def _empty_kinks():
    from fastcheck.checks.table import empty_table

    return empty_table(KINK_COLUMNS)


#: Columns of :attr:`CheckResult.cross_check`.
CROSS_COLUMNS = ["block", "difference", "tolerance", "agrees"]


def _empty_cross():
    from fastcheck.checks.table import empty_table

    return empty_table(CROSS_COLUMNS)


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
        that count (not kinks, not non-finite; 0 when both are zero).
    verdict : str
        "wrong" when some coordinate's discrepancy exceeds its error bar by a
        clear margin (``config.MARGIN`` bars); "inconclusive" when nothing is
        wrong but some coordinates could not be read (round-off swamps the
        gradient, non-finite costs, a sample of only zeros; ``reason`` says
        which and what would settle it); otherwise the band of the difference
        ("great" < 1e-6, "ok" < 1e-4), and "ok" when the difference reads
        worse but every coordinate agrees within its error bar.
    passed : bool
        True exactly when the verdict is "great" or "ok".
    numerical, analytic : ndarray
        The two gradients at the checked coordinates (for a directional
        check: the directional derivatives u·g); ``numerical`` is the
        quotient at the check's own step, which ``difference`` reads.
    estimate, error : ndarray
        The best numerical estimate of each entry (refined by a second step
        or a ladder of steps where the entry needed it; else ``numerical``)
        and its error bar (round-off, plus the truncation measured where it
        was needed).  The status compares ``analytic`` with ``estimate``.
    status : ndarray of str
        Per entry: "agree", "zero", "wrong", "kink", "inconclusive", "nonfinite".
    coords : ndarray
        The checked flat coordinates (for a directional check: direction ids).
    eps : None, "adaptive", float or ndarray
        The step as asked (``eps=``; None: the scheme's default rule).
    steps : ndarray
        The step actually taken per checked coordinate (or direction): the
        effective ``(θ_i + h) − θ_i`` of the real stencils, the ladder's base
        step for ``eps="adaptive"``.
    blocks : DataFrame
        block, size, checked, difference, max_abs_err, worst_index, verdict,
        wrong (coordinates outside their error bars), note.
    kinks : DataFrame
        Coordinates at a kink of the cost: block, index, coord, analytic,
        numerical, left and right (the one-sided slopes); listed apart and
        left out of the verdict (unless the analytic value matches neither
        side, which is wrong).
    nonfinite : ndarray
        Coordinates where a perturbed cost was NaN or inf.
    dtype : str
        The precision θ was in ("float64" or "float32"; the complex step then
        ran in complex128 resp. complex64; "float16" or "bfloat16" for an op
        checked in that format, real stencils only).
    precision : str
        The precision the cost was found to compute in, when it is lower
        than θ's (else θ's dtype), with the machine epsilon the precision
        probe measured when that differs from the format's
        ("float64 (measured eps 3.1e-13)").
    resolution : float
        The smallest error, relative to the gradient's scale (its largest
        |g_i|), that this check would have caught: a pass says every
        coordinate agrees to within it (per block: ``blocks["resolution"]``,
        relative to the block's own scale; see
        :mod:`fastcheck.verdicts.resolution`).  NaN when nothing was judged.
    reason : str
        Why an inconclusive check could not decide, and what would settle it.
    seconds, compile_seconds : float
        Wall time of the differencing, and of the Numba compilation this
        check needed before it (0 when everything was compiled already, or
        when the check ran interpreted); never one in the other.
    compile_note : str
        "cached for next time" when what was compiled went to the cache,
        "loaded from the cache" when it was only loaded ("" otherwise).
    cross_check : DataFrame
        ``check_torch(cross_check="float64")``: per checked block, the
        relative difference ``‖g₃₂ − g₆₄‖ / (‖g₃₂‖ + ‖g₆₄‖)`` between the
        op's backward in its own dtype and its backward on float64 copies of
        the inputs, the tolerance, and whether it is within it (empty
        otherwise).
    cross_check_note : str
        What the cross-check found, in one line (why it could not run, when it
        could not); the report prints it under the summary.
    unchecked : tuple of str
        Float arrays of a checked layer object that no gradient was found
        for, so they were not checked (the headline names them); empty when
        everything the layer holds was checked.
    """

    difference: float
    verdict: str
    passed: bool
    numerical: np.ndarray
    analytic: np.ndarray
    coords: np.ndarray
    eps: object
    steps: np.ndarray
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
    kinks: pd.DataFrame = field(default_factory=_empty_kinks)
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    direction_blocks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    note: str = ""
    dtype: str = "float64"
    error: np.ndarray = field(default_factory=lambda: np.zeros(0))
    estimate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    status_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    reason: str = ""
    precision: str = ""
    n_refined: int = 0
    compile_seconds: float = 0.0
    compile_note: str = ""
    #: kinks whose analytic value a converged derivative confirmed (one side's at a corner at θ, or the
    #: steps below a corner within the step): read by it, not left out
    n_kinks_read: int = 0
    resolution: float = float("nan")
    cross_check: pd.DataFrame = field(default_factory=_empty_cross)
    cross_check_note: str = ""
    unchecked: tuple = ()

    def __post_init__(self):
        # The tables print in full (every column, every number): see fastcheck.checks.table.
        from fastcheck.checks.table import as_table

        object.__setattr__(self, "blocks", as_table(self.blocks))
        object.__setattr__(self, "kinks", as_table(self.kinks))
        object.__setattr__(self, "cross_check", as_table(self.cross_check))

    # -- views ----------------------------------------------------------------
    @property
    def status(self) -> np.ndarray:
        """Per entry: "agree", "zero", "wrong", "kink", "inconclusive" or "nonfinite"."""
        from fastcheck.verdicts.errorbars import STATUS_NAMES

        return STATUS_NAMES[self.status_code]

    def worst(self, k: int = 10) -> Table:
        """The ``k`` checked coordinates with the largest absolute error
        (wrong ones first, then by error), with their error bars and status.

        A DataFrame (a :class:`~fastcheck.checks.table.Table`) that prints every column in full."""
        from fastcheck.checks.table import Table

        err = np.abs(self.analytic - self.numerical)
        err_key = np.where(np.isfinite(err), err, np.inf)
        status = self.status if len(self.status_code) == len(err) else np.full(len(err), "", dtype=object)
        bars = self.error if len(self.error) == len(err) else np.full(len(err), np.nan)
        best = self.estimate if len(self.estimate) == len(err) else self.numerical
        wrong_first = np.where(status == "wrong", 0, 1)
        order = np.lexsort((-err_key, wrong_first))[: max(int(k), 0)]
        scale = np.abs(self.analytic[order]) + np.abs(self.numerical[order])
        rel = np.divide(err[order], scale, out=np.zeros(len(order)), where=scale > 0)
        if self.kind == "coordinates":
            located = [self.layout.locate(c) for c in self.coords[order]]
            blocks = [b for b, _ in located]
            index = [_index_str(i) for _, i in located]
        else:
            blocks = [self.layout.names[b] for b in self.direction_blocks[order]]
            index = [f"u{d}" for d in self.coords[order]]
        return Table(
            {
                "block": blocks,
                "index": index,
                "analytic": self.analytic[order],
                "numerical": self.numerical[order],
                "abs_err": err[order],
                "rel_err": rel,
                "estimate": best[order],
                "error_bar": bars[order],
                "status": status[order],
            }
        )

    @property
    def failing_blocks(self) -> list:
        """Blocks whose verdict does not pass (wrong or inconclusive)."""
        return self.blocks.loc[~self.blocks["verdict"].isin(config.PASSING), "block"].tolist()

    @property
    def wrong_blocks(self) -> list:
        """Blocks with a coordinate outside its error bar."""
        return self.blocks.loc[self.blocks["verdict"] == "wrong", "block"].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One tidy row summarising the check."""
        import pandas as pd

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
                    "max_abs_err": _max_abs(self.analytic - self.numerical),
                    "eps": _asked(self.eps),
                    "step_median": float(np.median(self.steps)) if len(self.steps) else np.nan,
                    "n_evals": self.n_evals,
                    "seconds": self.seconds,
                    "compile_seconds": self.compile_seconds,
                    "compile_note": self.compile_note,
                    "threads": self.threads,
                    "failing_blocks": ",".join(self.failing_blocks),
                    "n_kinks": len(self.kinks),
                    "n_nonfinite": len(self.nonfinite),
                    "n_refined": self.n_refined,
                    "precision": self.precision or self.dtype,
                    "resolution": self.resolution,
                    "reason": self.reason,
                }
            ]
        )

    def to_dict(self, worst: int = 10) -> dict:
        """Everything a report needs, as plain JSON-serialisable values."""
        summary = {k: _plain(v) for k, v in self.to_frame().iloc[0].items()}
        return {
            **summary,
            "headline": self.headline(),
            "hint": hint(self.layout, self.wrong_blocks),
            "thresholds": dict(self.thresholds),
            "note": self.note,
            "blocks": [{k: _plain(v) for k, v in row.items()} for row in self.blocks.to_dict("records")],
            "worst": [{k: _plain(v) for k, v in row.items()} for row in self.worst(worst).to_dict("records")],
            "kinks": [{k: _plain(v) for k, v in row.items()} for row in self.kinks.to_dict("records")],
            "nonfinite": [int(c) for c in self.nonfinite],
            "cross_check_note": self.cross_check_note,
            "unchecked": list(self.unchecked),
            "cross_check": [{k: _plain(v) for k, v in row.items()} for row in self.cross_check.to_dict("records")],
        }

    def headline(self) -> str:
        """What happened, in one line: PASSED/FAILED and why (and what was not checked, when something was not)."""
        return self._verdict_line() + self.unchecked_clause()

    def unchecked_clause(self) -> str:
        """"; NOT CHECKED (no gradient found): W, b" when a layer's arrays were left out, else ""."""
        if not self.unchecked:
            return ""
        return (f"; NOT CHECKED (no gradient found): {', '.join(self.unchecked)}; only "
                f"{', '.join(self.layout.names)} checked")

    def _verdict_line(self) -> str:
        d = f"difference {self.difference:.3e}"
        if self.passed:
            reading = band(self.difference, self.thresholds)
            extra = "" if reading in config.PASSING else f"; reads {reading} by the bands, but every coordinate agrees within its error bar"
            kinks = self._kinks_clause()
            return f"PASSED — {self.verdict} ({d}{extra}{kinks}){self._resolution_clause()}"
        if self.verdict == "wrong":
            n = int(np.count_nonzero(self.status == "wrong")) if len(self.status_code) else 0
            what = "direction(s)" if self.kind == "directional" else "coordinate(s)"
            return (f"FAILED — wrong in {', '.join(self.wrong_blocks)}: {n} {what} outside their error bars"
                    f" ({self._worst_wrong()}{d})")
        return f"FAILED — inconclusive: {self.reason or 'the check could not decide'} ({d})"

    def _kinks_clause(self) -> str:
        n, one = len(self.kinks), self.n_kinks_read
        if not n:
            return ""
        if one >= n:
            return f"; {n} coordinate(s) at kinks, read by converged one-sided or small-step derivatives"
        if one:
            return (f"; {n} coordinate(s) at kinks, {one} read by converged one-sided or small-step derivatives,"
                    f" {n - one} left out")
        return f"; {n} coordinate(s) at kinks left out"

    def _resolution_clause(self) -> str:
        r = self.resolution
        if not np.isfinite(r):
            return ""
        if r == 0:
            return "; any error would have been caught"
        return f"; errors above {r:.1e} of the gradient would have been caught"

    def _worst_wrong(self) -> str:
        """The wrong entry farthest outside its bar, in numbers: how far off, and how many bars."""
        if not len(self.status_code) or len(self.estimate) != len(self.status_code):
            return ""
        wrong = np.flatnonzero(self.status_code == 2)
        if not len(wrong):
            return ""
        dev = np.abs(self.analytic[wrong] - self.estimate[wrong])
        bars = self.error[wrong] if len(self.error) == len(self.status_code) else np.full(len(wrong), np.nan)
        k = int(np.argmax(dev))
        j = wrong[k]
        scale = max(abs(self.analytic[j]), abs(self.estimate[j]))
        rel = dev[k] / scale if scale > 0 else np.inf
        if self.kind == "coordinates":
            block, index = self.layout.locate(self.coords[j])
            where = f"{block}{_index_str(index)}"
        else:
            where = f"{self.layout.names[self.direction_blocks[j]]} u{self.coords[j]}"
        many = f", {dev[k] / bars[k]:.3g} error bars" if np.isfinite(bars[k]) and bars[k] > 0 else ""
        return f"worst {where}: off by {rel:.1e} of its value{many}; "

    def summary(self) -> str:
        """The first line of the report: the verdict, then each block's verdict.

        >>> result.summary()  # doctest: +SKIP
        'PASSED — great (difference 2.094e-11) · blocks: W1 great, W2 great'
        """
        return f"{self.headline()} · blocks: {self._block_list()}"

    def _block_list(self, limit: int = 12) -> str:
        names, verdicts = list(self.blocks["block"]), list(self.blocks["verdict"])
        shown = [f"{b} {v}" for b, v in zip(names[:limit], verdicts[:limit])]
        if len(names) > limit:
            rest = verdicts[limit:]
            counts = ", ".join(f"{rest.count(v)} {v}" for v in dict.fromkeys(rest))
            shown.append(f"… {len(names) - limit} more ({counts})")
        return ", ".join(shown) if shown else "none"

    def stats_line(self) -> str:
        what = "random directions" if self.kind == "directional" else "coordinates"
        prec = "" if self.dtype == "float64" else " in " + self.dtype
        if self.precision and self.precision != self.dtype:
            prec += f" (the cost computes in {self.precision})"
        return (f"{len(self.coords)} {what} checked ({self.n_params} parameters), scheme {self.scheme}"
                f"{prec}, {self.n_evals} cost evaluations,"
                f" {self.seconds:.3g} s{self._compiled()} on {self.threads} thread(s) [{self.path}]")

    def kink_line(self) -> str:
        shown = ", ".join(f"{b}{i}" if i.startswith("[") else f"{b} {i}"  # "b1[2]", or "relu u0" for a direction
                          for b, i in zip(self.kinks["block"][:5], self.kinks["index"][:5]))
        what = "direction(s)" if self.kind == "directional" else "coordinate(s)"
        return (f"{len(self.kinks)} {what} sit at a kink of the cost (the slopes left and right"
                f" of θ differ, or the estimate jumps as the step shrinks): {shown}; excluded from the verdict")

    def nonfinite_line(self) -> str:
        if self.kind == "directional":
            return f"non-finite cost along {len(self.nonfinite)} direction(s): {self.nonfinite[:10].tolist()}"
        shown = ", ".join(f"{b}{_index_str(i)}" for b, i in (self.layout.locate(c) for c in self.nonfinite[:10]))
        return f"non-finite cost at {len(self.nonfinite)} perturbed coordinate(s): {shown}"

    def to_string(self, worst: int | None = None, width: int | None = None) -> str:
        """The whole report as plain text: the verdict and the blocks' verdicts, what was checked, the
        per-block table, non-finite points and kinks, and (when the check did not pass, or ``worst=k``
        asks) the worst coordinates and where to look.  Every number is shown in full; tables wider than
        ``width`` (default: the terminal's, 80 when piped) continue on further lines.  ``str(result)``
        and ``print(result)`` give the same."""
        from fastcheck.checks.table import format_table

        lines = [self.summary(), "  " + self.stats_line()] + ([f"  ({self.note})"] if self.note else [])
        lines += [f"  {self.cross_check_note}"] if self.cross_check_note else []
        lines += ["", "per block:"]
        lines += [_indent(ln) for ln in format_table(self.blocks, None if width is None else width - 2).splitlines()]
        if len(self.nonfinite):
            lines += ["", self.nonfinite_line()]
        if len(self.kinks):
            lines += ["", self.kink_line()]
        k = (5 if not self.passed else 0) if worst is None else int(worst)
        if k > 0 and len(self.coords):
            table = format_table(self.worst(k), None if width is None else width - 2)
            lines += ["", "worst coordinates:"] + [_indent(ln) for ln in table.splitlines()]
        if not self.passed:
            tip = hint(self.layout, self.wrong_blocks)
            if tip:
                lines += ["", tip]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"<CheckResult {self.summary()}>"

    def _compiled(self) -> str:
        """" + 8.1 s compiling, cached for next time" (the time the check did not count), or ""."""
        if not self.compile_seconds > 0:
            return ""
        if self.compile_note == "loaded from the cache":
            return f" + {self.compile_seconds:.3g} s loading compiled code"
        return f" + {self.compile_seconds:.3g} s compiling" + (f", {self.compile_note}" if self.compile_note else "")

    def _repr_html_(self) -> str:
        """The report as HTML for notebooks: the verdict coloured, the per-block table, the worst
        coordinates and the kinks as ``<table>``s."""
        from fastcheck.checks.table import VERDICT_COLOURS, html_table

        colour = VERDICT_COLOURS.get(self.verdict, "#cf222e") if not self.passed else VERDICT_COLOURS["great"]
        e = html.escape
        parts = [
            '<div class="fastcheck-result">',
            f'<p><strong style="color:{colour}">{e(self.headline())}</strong></p>',
            f'<p style="color:#57606a">{e(self.stats_line())}</p>',
        ]
        if self.note:
            parts.append(f"<p><em>{e(self.note)}</em></p>")
        if self.cross_check_note:
            parts.append(f"<p>{e(self.cross_check_note)}</p>")
        parts += ["<p><strong>per block</strong></p>", html_table(self.blocks)]
        if len(self.nonfinite):
            parts.append(f"<p>{e(self.nonfinite_line())}</p>")
        if len(self.kinks):
            parts += [f"<p><strong>kinks</strong>: {e(self.kink_line())}</p>", html_table(self.kinks, max_rows=10)]
        if len(self.coords):
            label = "worst coordinates" if self.kind == "coordinates" else "worst directions"
            parts += [f"<p><strong>{label}</strong></p>", html_table(self.worst(5))]
        tip = "" if self.passed else hint(self.layout, self.wrong_blocks)
        if tip:
            parts.append(f"<p>{e(tip)}</p>")
        parts.append("</div>")
        return "\n".join(parts)


def _indent(line: str) -> str:
    return "  " + line if line else ""


def _asked(eps) -> str:
    """The asked step as one table cell: "default", "adaptive", the number, or "per coordinate"."""
    if eps is None:
        return "default"
    if isinstance(eps, str):
        return eps
    arr = np.asarray(eps)
    return f"{float(arr):.3g}" if arr.ndim == 0 else "per coordinate"


def _max_abs(x) -> float:
    x = np.abs(np.asarray(x, np.float64))
    x = x[np.isfinite(x)]
    return float(x.max()) if len(x) else 0.0
