"""ScreenResult: what a screen (``strategy="screen"``) found, where, and what it could have missed.

A :class:`~fastcheck.checks.result.CheckResult` whose per-coordinate arrays
(``coords``, ``numerical``, ``status``, ``worst()``, ...) hold the coordinates
the group tests pointed to, checked one by one; ``tests`` lists every group
test; ``blocks`` adds per block the number of tests and what the screen would
have caught (``detectable``: the smallest single-coordinate error caught for
sure; ``detectable_rel``: that divided by the block's gradient norm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.result import CheckResult
from fastcheck.verdicts import errorbars
from fastcheck.verdicts.bands import BLOCK_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SCREEN_BLOCK_COLUMNS", "TEST_COLUMNS", "ScreenResult"]

#: Columns of ``ScreenResult.blocks``: a full check's, then the screen's own.
SCREEN_BLOCK_COLUMNS = BLOCK_COLUMNS + ["tests", "detectable", "detectable_rel"]
#: Columns of ``ScreenResult.tests``, one row per group test: its block, "screen" (over the whole block) or
#: "localise" (a part of it), its depth and first flat coordinate and size, u·g and the numerical estimate, its
#: error bar, status, |a − d| over its tolerance, and the single-coordinate errors it catches for sure (above
#: ``catch``) and misses for sure (at most ``miss``).
TEST_COLUMNS = ["block", "role", "level", "lo", "size", "analytic", "estimate", "error_bar", "status", "ratio",
                "catch", "miss"]


def _no_tests():
    import pandas as pd

    return pd.DataFrame(columns=TEST_COLUMNS)


@dataclass(frozen=True, eq=False)
class ScreenResult(CheckResult):
    """The outcome of a screen: a :class:`CheckResult` plus the group tests (``tests``) and ``max_evals``.

    ``difference`` (overall and per block) compares the screen's directional
    derivatives u·g with their numerical estimates; the verdicts of blocks the
    tests pointed into come from the coordinates checked there.
    """

    tests: pd.DataFrame = field(default_factory=lambda: _no_tests())
    max_evals: object = None
    #: Cost evaluations per step: "J(theta)", "screen", "ladder", "localise", "confirm" (they add up to n_evals).
    spent: dict = field(default_factory=dict)
    strategy: str = "screen"

    def detection_limit(self) -> tuple[float, float]:
        """``(absolute, relative)``: a single coordinate of a block that passed, off by more than ``absolute``
        (or by more than ``relative`` of its block's gradient norm), would have been caught; NaN when no
        block passed."""
        passed = self.blocks[self.blocks["verdict"].isin(("great", "ok"))]
        if not len(passed):
            return np.nan, np.nan
        return float(passed["detectable"].max()), float(passed["detectable_rel"].max())

    def statement(self) -> str:
        """What the screen could have missed, in one sentence ("" when no block passed)."""
        absolute, relative = self.detection_limit()
        if not np.isfinite(absolute):
            return ""
        where = "" if len(self.blocks) == 1 or self.passed else " in the blocks that passed"
        rel = f" ({relative:.1e} of its block's gradient norm)" if np.isfinite(relative) else ""
        return f"a single coordinate{where} off by more than {absolute:.2e}{rel} would have been caught"

    def headline(self) -> str:
        said = self.statement()
        head = super().headline()
        if self.verdict == "wrong" and not np.any(self.status_code == errorbars.WRONG):  # none named (the budget)
            head = (f"FAILED — wrong in {', '.join(self.wrong_blocks)}: a group test disagrees beyond its error "
                    f"bar; no coordinate named within max_evals={self.max_evals} (difference {self.difference:.3e})")
        return head + (f"; {said}" if said else "")

    def to_frame(self) -> pd.DataFrame:
        frame = super().to_frame()
        absolute, relative = self.detection_limit()
        frame["strategy"] = self.strategy
        frame["n_tests"] = len(self.tests)
        frame["max_evals"] = self.max_evals
        frame["detectable"] = absolute
        frame["detectable_rel"] = relative
        return frame

    def stats_line(self) -> str:
        """What the screen did: its group tests, its evaluations (and the budget), the coordinates checked."""
        localised = int(np.count_nonzero(self.tests["role"] == "localise")) if len(self.tests) else 0
        budget = "" if self.max_evals is None else f" of max_evals={self.max_evals}"
        return (f"screen of {self.n_params} parameters: {len(self.tests)} group tests ({localised} localising), "
                f"then {len(self.coords)} coordinate(s) checked one by one; {self.n_evals} cost evaluations"
                f"{budget}, {self.seconds:.3g} s{self._compiled()} on {self.threads} thread(s) [{self.path}]")
