"""``strategy="screen"``: a million parameters of a cost fastcheck cannot see into, and still told where.

A full check costs two evaluations of the cost per coordinate.  The screen
spends a few hundred, on the same evaluators (the loop, the Numba kernels, the
pool, Dask, the built-in networks' kernel), in three steps:

1. **Screen.**  Per block, ``directions`` (default :data:`SCREEN_DIRS`) group
   tests along random-sign directions over the whole block, read at the best
   of :data:`~fastcheck.verdicts.detectable.SCREEN_RUNGS` steps with an error
   bar (:mod:`fastcheck.verdicts.detectable`); a test that disagrees or cannot
   decide goes down the ladder of steps as a directional check's would
   (:func:`fastcheck.verdicts.errorbars.ladder_directions`).  A block passes
   when every one of its tests agrees.
2. **Localise.**  A failing block is split in halves, each tested along the
   failing direction's own signs restricted to it (so the halves' discrepancies
   add up to the whole's: splitting creates no new cancellation), at a step
   chosen from its parent's reading (:func:`next_factor`); the halves that
   disagree are split again, down to groups of :data:`LEAF` coordinate: k
   wrong coordinates among m cost about 2k·log2(m) tests of 4 evaluations.  A
   group that failed while both its halves pass (two errors, each below its
   half's tolerance) hands the suspicion on to the half with the larger
   discrepancy, for at most :data:`CARRY` levels; then the last group that
   failed is checked coordinate by coordinate if it is small
   (:data:`FALLBACK`).  A block with :data:`MAX_GROUPS` failing groups at one
   level is wrong throughout: it is not localised further, and the largest
   analytic entry of each of its :data:`WIDESPREAD_SAMPLE` worst groups is
   confirmed.
3. **Confirm.**  The coordinates pointed to get the per-coordinate check
   (``confirm``: :func:`fastcheck.checks.gradient.run_check`) with
   ``eps="adaptive"`` (unless a step or the complex step was asked for): error
   bars, ladder, kinks, complex step, so each reported coordinate has the
   evidence of a full check, read sharper than a group test reads it.

What it could miss: ``result.blocks["detectable"]`` is the smallest
single-coordinate error each block's tests would have caught for sure, from
their measured error bars and the weight 1/√m every coordinate has in a
random-sign direction (:func:`fastcheck.verdicts.detectable.limits`);
``"detectable_rel"`` divides it by the block's analytic gradient norm.

``n_evals`` counts every evaluation of the cost, J(θ) included (``spent``: per
step); with ``max_evals`` each step runs only when the most it can spend still
fits, and what the budget did not reach is inconclusive.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from fastcheck import config
from fastcheck.checks.base import analytic_gradient, base_value, compile_note, coordinate_band, held_blas
from fastcheck.checks.screen_result import SCREEN_BLOCK_COLUMNS, TEST_COLUMNS, ScreenResult
from fastcheck.core.options import CheckOptions
from fastcheck.core.steps import ADAPTIVE, SCHEMES, direction_steps, get_scheme, validate_eps
from fastcheck.core.validate import layout_for
from fastcheck.errors import NondeterministicCostWarning
from fastcheck.verdicts import errorbars, ladder, precision
from fastcheck.verdicts.bands import overall, relative_difference, validate_thresholds, within_error_bars
from fastcheck.verdicts.detectable import (
    LOCALISE_RUNGS,
    SCREEN_RUNGS,
    judge_groups,
    limits,
    offsets,
    read_rungs,
    scale_of,
)

__all__ = ["CARRY", "FALLBACK", "LADDER_MAX_COORDS", "LEAF", "MAX_GROUPS", "SCREEN_DIRS", "WIDESPREAD_SAMPLE",
           "estimated_evals", "next_factor", "run_screen"]

#: Group tests per block in the screen (random-sign directions over the whole block).
SCREEN_DIRS = 2
#: Groups of at most this many coordinates are checked coordinate by coordinate (1: localisation goes down to
#: single coordinates, the fewest evaluations: a leaf's neighbours cost more to confirm than a level of tests).
LEAF = 1
#: A block with this many failing groups at one level is wrong throughout (not localised further): fewer
#: wrong coordinates than this are always localised one by one.
MAX_GROUPS = 16
#: Coordinates confirmed in a block wrong throughout (the largest analytic entry of its worst groups).
WIDESPREAD_SAMPLE = 4
#: Levels a failing group's suspicion is carried by the larger half when both halves pass.
CARRY = 2
#: When the carried suspicion runs out, the last group that failed its own test is checked coordinate by
#: coordinate if it has at most this many (the per-coordinate check reads sharper than a small group's test).
FALLBACK = 64
#: Screen tests over longer directions skip the ladder (its bookkeeping holds 2·19 points of the direction,
#: 300 bytes per coordinate): their two-step reading stands, and the per-coordinate check decides.
LADDER_MAX_COORDS = 1_500_000

_FAILING = (errorbars.WRONG, errorbars.INCONCLUSIVE, errorbars.NONFINITE)
_CENTRAL = SCHEMES["central"]


class Budget:
    """Cost evaluations spent, against ``max_evals`` (None: no bound)."""

    def __init__(self, limit):
        self.limit, self.used = limit, 0
        self.spent = {}  # evaluations per step of the screen

    @property
    def left(self) -> float:
        return math.inf if self.limit is None else self.limit - self.used

    def fits(self, n: int) -> bool:
        return n <= self.left

    def spend(self, n: int, step: str) -> None:
        self.used += int(n)
        self.spent[step] = self.spent.get(step, 0) + int(n)


@dataclass
class _Block:
    """What the screen learns about one block."""

    index: int
    name: str
    lo: int
    size: int
    state: str = "unscreened"  # then "passed", "wrong" or "inconclusive"
    why: int = 0  # errorbars WHY code of an inconclusive screen
    signs: np.ndarray = None  # the localising direction's signs over the block
    root: object = None  # the localising test, as the group of the whole block
    confirmed: bool = False  # the ladder read the localising test wrong too
    widespread: bool = False
    cut: bool = False  # the budget ended before localisation or confirmation was complete
    unexplained: int = 0  # failing groups whose halves, and their carried halves, all passed
    tests: int = 0
    survivors: list = field(default_factory=list)


@dataclass
class _Group:
    block: _Block
    lo: int
    size: int
    level: int
    carried: int = 0
    priority: float = 0.0
    factor: float = 1.0  # its test's step, in units of the default step
    noise: float = 0.0  # its test's round-off and error bar (what its halves' step is chosen from)
    error: float = 0.0
    anchor: object = None  # the last group on its way down that failed its own test


def next_factor(factor: float, noise: float, error: float) -> float:
    """The step factor for the halves of a group whose test read round-off ``noise`` in an error bar
    ``error`` at step ``factor``·h: the central difference's best step balances the round-off ν ∝ 1/t
    against the truncation c·t² (measured as |d_t − d_2t| ≈ 3c·t²), t* = t·(1.5·ν/trunc)^(1/3); halves
    of a group are curvier along their directions, and the step follows them (a power of 2, by at most 4×
    per level, within 64× of the default)."""
    trunc = error - noise
    if not (np.isfinite(trunc) and np.isfinite(noise)) or noise <= 0:
        return factor
    k = 2 if trunc <= 0 else int(np.clip(np.round(np.log2((1.5 * noise / trunc) ** (1 / 3))), -2, 2))
    return float(np.clip(factor * 2.0**k, 2.0**-6, 2.0**6))


def estimated_evals(n: int, n_blocks: int, n_dirs: int = SCREEN_DIRS) -> int:
    """Evaluations of a screen that finds one wrong coordinate (for the evaluator's choice of loop, pool or jit)."""
    depth = max(1, math.ceil(math.log2(max(n / max(n_blocks, 1), 2) / LEAF)))
    return (2 + 2 * SCREEN_RUNGS * n_blocks * n_dirs + 2 * LOCALISE_RUNGS * 2 * depth + 2 * len(ladder.DIRECTION_RUNGS)
            + 4 * LEAF)


def run_screen(ev, theta, grad, opts: CheckOptions, *, confirm) -> ScreenResult:
    """A screen with a ready evaluator (see the module docstring).

    ``confirm(ev, theta, g, opts)`` is the per-coordinate check the survivors get
    (:func:`fastcheck.checks.gradient.run_check`).
    """
    n_dirs = SCREEN_DIRS if opts.directions is None else opts.directions
    if isinstance(n_dirs, bool) or not isinstance(n_dirs, (int, np.integer)) or n_dirs < 1:
        raise ValueError(f"directions must be a positive integer (group tests per block), got {n_dirs!r}")
    if opts.coords is not None or opts.sample is not None:
        raise ValueError("strategy='screen' covers every coordinate; coords= and sample= choose coordinates for "
                         "strategy='full'")
    if opts.per_block is not None:
        raise ValueError("strategy='screen' tests every block apart; per_block= does not apply")
    if not ev.caps.directions:
        raise ValueError(f"the {ev.path} evaluator evaluates no directions, which strategy='screen' needs; "
                         "use strategy='full'")
    get_scheme(opts.scheme)
    asked = validate_eps(opts.eps)
    # the group tests' step: the number asked, else the default rule (per-coordinate steps and "adaptive"
    # apply to the confirmation)
    eps_dir = asked if asked is not None and not isinstance(asked, str) and asked.ndim == 0 else None
    thresholds = validate_thresholds(opts.thresholds)
    layout = layout_for(theta, opts.layout)
    with held_blas(ev):
        return _Screen(ev, theta, grad, opts, layout, thresholds, int(n_dirs), eps_dir, confirm).run()


class _Screen:
    def __init__(self, ev, theta, grad, opts, layout, thresholds, n_dirs, eps_dir, confirm):
        self.ev, self.theta, self.grad, self.opts = ev, theta, grad, opts
        self.layout, self.thresholds, self.n_dirs, self.eps_dir, self.confirm = (
            layout, thresholds, n_dirs, eps_dir, confirm)
        self.mach = float(np.finfo(theta.dtype).eps)
        self.great = coordinate_band(thresholds, self.mach)
        self.budget = Budget(opts.max_evals)
        self.n_base = 1 if ev.caps.deterministic else 2
        self.blocks = [_Block(b, name, layout.offsets[b], size)
                       for b, (name, size) in enumerate(zip(layout.names, layout.sizes)) if size > 0]
        self.log = []  # one dict of columns per round of tests
        self.scale = 0.0
        self.conf = None

    # -- the steps ------------------------------------------------------------------------
    def run(self) -> ScreenResult:
        t0 = time.perf_counter()
        if not self.budget.fits(self.n_base):
            return self._result(t0, screened=False)
        self.f0 = base_value(self.ev, self.theta)
        self.budget.spend(self.n_base, "J(theta)")
        self.ev.prepare(self.theta, "directions")
        t0 = time.perf_counter()
        self.g = analytic_gradient(self.grad, self.theta, self.opts.args, self.layout, self.opts.layout is not None)
        self._screen()
        self._localise()
        self._confirm()
        return self._result(t0, screened=True)

    def _screen(self) -> None:
        """Step 1: ``n_dirs`` tests over every block, as many whole blocks as the budget holds."""
        n_rungs = SCREEN_RUNGS if self.eps_dir is None else LOCALISE_RUNGS  # a step asked for is kept
        per_block = 2 * n_rungs * self.n_dirs
        rng = np.random.default_rng(self.opts.seed)
        todo, signs = [], []
        for blk in self.blocks:  # every block's signs are drawn, so a budget does not change the draws
            s = rng.integers(0, 2, size=(self.n_dirs, blk.size), dtype=np.int8) * 2 - 1
            if self.budget.fits(per_block * (len(todo) + 1)):
                todo.append(blk)
                signs.append(s)
        if not todo:
            return
        groups = [_Group(blk, blk.lo, blk.size, 0) for blk in todo for _ in range(self.n_dirs)]
        sign_rows = [row for s in signs for row in s]
        lo, start, dirvals, steps, ana, typical, costs = self._measure(groups, sign_rows, n_rungs,
                                                                       np.ones(len(groups)), "screen")
        reading = read_rungs(costs, steps, self.mach)
        finite = reading.finite
        self.scale = scale_of(ana, reading)
        j = judge_groups(reading, ana, typical, costs, self.f0, self.great, self.scale)
        status, why, est, err = j.status, j.why, reading.estimate.copy(), reading.error.copy()
        laddered = self._ladder(todo, lo, start, dirvals, steps, ana, typical, finite, status, why, err, est,
                                j.ratio)
        ratio = self._ratio(ana, typical, est, err)
        for k, blk in enumerate(todo):
            rows = slice(k * self.n_dirs, (k + 1) * self.n_dirs)
            st = status[rows]
            blk.tests += self.n_dirs
            if np.any(st == errorbars.WRONG):
                blk.state = "wrong"
                worst = int(np.argmax(np.where(st == errorbars.WRONG, ratio[rows], -np.inf)))
                blk.signs = signs[k][worst]
                d = k * self.n_dirs + worst
                blk.root = _Group(blk, blk.lo, blk.size, 0, priority=np.inf, factor=2.0 ** int(reading.rung[d]),
                                  noise=float(reading.noise[d]), error=float(reading.error[d]))
                blk.root.anchor = blk.root
                blk.confirmed = bool(laddered[d])
            elif np.any(np.isin(st, (errorbars.INCONCLUSIVE, errorbars.NONFINITE))):
                blk.state = "inconclusive"
                codes = why[rows][why[rows] > 0]
                blk.why = int(codes[0]) if len(codes) else errorbars.ROUNDOFF
            else:
                blk.state = "passed"
        self._record("screen", groups, ana, typical, est, err, status, ratio)

    def _ratio(self, ana, typical, est, err):
        """|a − d| over the tolerance MARGIN·max(E, great·max(|a|, |d|, ‖g_G‖/√m)) of each test."""
        with np.errstate(invalid="ignore", divide="ignore"):
            band = self.great * np.maximum(np.maximum(np.abs(ana), np.abs(est)), typical)
            tol = config.MARGIN * np.maximum(err, band)
            return np.where(tol > 0, np.abs(ana - est) / np.where(tol > 0, tol, 1.0), np.inf)

    def _ladder(self, todo, lo, start, dirvals, steps, ana, typical, finite, status, why, err, est, ratio):
        """The ladder along flagged screen tests, as a directional check's (kinks, truncation, Richardson):
        per block its worst flagged test, then the next one only if the ladder cleared it; updates in place and
        returns which tests were laddered."""
        per_ladder = 2 * len(ladder.DIRECTION_RUNGS)
        done = np.zeros(len(status), bool)
        flagged = (status == errorbars.WRONG) | (status == errorbars.INCONCLUSIVE)
        while True:
            pick = []
            for k in range(len(todo)):
                rows = np.arange(k * self.n_dirs, (k + 1) * self.n_dirs)
                if np.any(done[rows] & (status[rows] == errorbars.WRONG)):
                    continue  # the block is wrong, confirmed
                cand = rows[flagged[rows] & finite[rows] & ~done[rows]] if todo[k].size <= LADDER_MAX_COORDS else []
                if len(cand):
                    pick.append(int(cand[np.argmax(ratio[cand])]))
            pick = sorted(pick, key=lambda d: -ratio[d])[: int(min(self.budget.left, per_ladder * len(pick))
                                                                   // per_ladder)]
            if not pick:
                return done
            mask = np.zeros(len(status), bool)
            mask[pick] = True
            done |= mask
            n3, _, _ = errorbars.ladder_directions(self.ev, self.theta, lo, start, dirvals, steps, self.f0, self.g,
                                                    ana, finite & mask, status, why, err, est, self.mach,
                                                    self.scale, self.great)
            self.budget.spend(n3, "ladder")
            # the ladder's relative band is |u·g|'s; a group's is never narrower than its typical |u·g|
            status[mask & (status == errorbars.WRONG) & (self._ratio(ana, typical, est, err) <= 1)] = errorbars.AGREE

    def _localise(self) -> None:
        """Step 2: halves of the failing groups, level by level, all blocks in one evaluation per level."""
        suspects = [blk.root for blk in self.blocks if blk.state == "wrong"]
        while suspects:
            parents, parts = [], []
            for s in sorted(suspects, key=lambda s: -s.priority):
                if s.size <= LEAF:
                    s.block.survivors.extend(range(s.lo, s.lo + s.size))
                    continue
                half = s.size // 2
                f = next_factor(s.factor, s.noise, s.error) if self.eps_dir is None else 1.0  # a step asked: kept
                pair = [_Group(s.block, s.lo, half, s.level + 1, factor=f, anchor=s.anchor),
                        _Group(s.block, s.lo + half, s.size - half, s.level + 1, factor=f, anchor=s.anchor)]
                if not self.budget.fits(2 * LOCALISE_RUNGS * (len(parts) + 2)):
                    s.block.cut = True
                    continue
                parents.append(s)
                parts += pair
            if not parts:
                return
            rows = [p.block.signs[p.lo - p.block.lo : p.lo - p.block.lo + p.size] for p in parts]
            factor = np.array([p.factor for p in parts])
            _, _, _, steps, ana, typical, costs = self._measure(parts, rows, LOCALISE_RUNGS, factor, "localise")
            reading = read_rungs(costs, steps, self.mach)
            j = judge_groups(reading, ana, typical, costs, self.f0, self.great, self.scale)
            self._record("localise", parts, ana, typical, reading.estimate, reading.error, j.status, j.ratio)
            suspects = []
            for k, parent in enumerate(parents):
                pair = parts[2 * k : 2 * k + 2]
                parent.block.tests += 2
                failing = [p for p, st in zip(pair, j.status[2 * k : 2 * k + 2]) if st in _FAILING]
                for i, p in enumerate(pair, start=2 * k):
                    p.priority, p.noise, p.error = float(j.ratio[i]), float(reading.noise[i]), float(reading.error[i])
                for p in failing:
                    p.anchor = p
                if failing:
                    suspects += failing
                elif parent.carried < CARRY:
                    carried = max(pair, key=lambda p: p.priority)
                    carried.carried = parent.carried + 1
                    suspects.append(carried)
                elif parent.anchor.size <= FALLBACK:  # the trail is lost: the last failing group, one by one
                    parent.block.survivors.extend(range(parent.anchor.lo, parent.anchor.lo + parent.anchor.size))
                else:
                    parent.block.unexplained += 1
            suspects = self._cap(suspects)

    def _cap(self, suspects):
        """Blocks with ``MAX_GROUPS`` failing groups are wrong throughout: sample, stop."""
        by_block = {}
        for s in suspects:
            by_block.setdefault(s.block.index, []).append(s)
        kept = []
        for groups in by_block.values():
            blk = groups[0].block
            if len(groups) < MAX_GROUPS:
                kept += groups
                continue
            blk.widespread = True
            for s in sorted(groups, key=lambda s: -s.priority)[:WIDESPREAD_SAMPLE]:
                part = np.abs(self.g[s.lo : s.lo + s.size])
                blk.survivors.append(s.lo + int(np.argmax(part)))
        return kept

    def _confirm(self) -> None:
        """Step 3: the per-coordinate check of every survivor the budget holds (most suspect blocks first)."""
        wanted = [blk for blk in self.blocks if blk.survivors]
        if not wanted:
            return
        scheme = get_scheme(self.opts.scheme)
        # Richardson over a ladder of steps unless a step or the complex step is asked for: the full check's
        # sharpest reading, so that what a group test (at its best step) caught is not lost at the default step
        eps = ADAPTIVE if self.opts.eps is None and not scheme.complex else self.opts.eps
        # the most a coordinate can cost: the adaptive ladder, or the scheme at h, at 2h and again after a
        # precision probe; then the ladder of a doubtful coordinate, and its complex step
        first = 2 * len(ladder.ADAPTIVE_RUNGS) if isinstance(eps, str) else 3 * scheme.evals_per_coord
        per_coord = first + 2 * len(ladder.REFINE_RUNGS) + 1
        fixed = self.n_base + precision.PROBE_COORDS * len(precision.PROBE_OFFSETS) * 3
        room = max(0, int((self.budget.left - fixed) // per_coord)) if self.budget.limit is not None else math.inf
        coords = []
        for blk in wanted:
            mine = sorted(set(blk.survivors))
            take = mine[: max(0, min(len(mine), room - len(coords)))] if room != math.inf else mine
            if len(take) < len(mine):
                blk.cut = True
            blk.survivors = take
            coords += take
        if not coords:
            return
        checked = self.opts.replace(coords=np.asarray(sorted(coords), np.int64), strategy="full", max_evals=None,
                                    directions=None, sample=None, per_block=None, eps=eps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NondeterministicCostWarning)  # the screen's J(θ) said it already
            self.conf = self.confirm(self.ev, self.theta, self.g, checked)
        self.budget.spend(self.conf.n_evals + self.n_base, "confirm")

    # -- evaluation and bookkeeping ---------------------------------------------------------
    def _measure(self, groups, sign_rows, n_rungs, factor, step):
        """The costs of group tests: ragged directions ``s/√m`` over each group, at ``n_rungs`` rungs from
        ``factor`` times the default step (or the step asked for)."""
        lo = np.array([p.lo for p in groups], np.int64)
        lengths = np.array([p.size for p in groups], np.int64)
        start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        dirvals = np.concatenate([np.asarray(s, np.float64) / math.sqrt(len(s)) for s in sign_rows])
        steps = direction_steps(self.theta, lo, lengths, _CENTRAL, self.eps_dir) * factor
        ana = np.array([float(np.sum(self.g[a : a + n] * dirvals[s : s + n]))
                        for a, n, s in zip(lo, lengths, start[:-1])])
        typical = np.array([math.sqrt(float(np.sum(self.g[a : a + n] ** 2)) / n) for a, n in zip(lo, lengths)])
        costs = self.ev.directions(self.theta, lo, start, dirvals, steps, offsets(n_rungs))
        self.budget.spend(costs.size, step)
        return lo, start, dirvals, steps, ana, typical, np.asarray(costs, np.float64)

    def _record(self, role, groups, ana, typical, est, err, status, ratio) -> None:
        sizes = np.array([p.size for p in groups], np.int64)
        catch, miss = limits(ana, est, err, typical, sizes, self.great)
        self.log.append({
            "block": [p.block.name for p in groups], "role": [role] * len(groups),
            "level": [p.level for p in groups], "lo": [p.lo for p in groups], "size": sizes,
            "analytic": np.asarray(ana, np.float64), "estimate": np.asarray(est, np.float64),
            "error_bar": np.asarray(err, np.float64), "status": errorbars.STATUS_NAMES[status],
            "ratio": np.asarray(ratio, np.float64), "catch": catch, "miss": miss,
        })

    # -- the result ---------------------------------------------------------------------------
    def _result(self, t0, screened: bool) -> ScreenResult:
        import pandas as pd  # the tables (not needed before a result is put together)

        tests = (pd.concat([pd.DataFrame(r) for r in self.log], ignore_index=True) if self.log
                 else pd.DataFrame(columns=TEST_COLUMNS))
        tests = tests.reindex(columns=TEST_COLUMNS)
        conf = self.conf
        cstatus = conf.status_code if conf is not None else np.zeros(0, np.int8)
        ccoords = conf.coords if conf is not None else np.zeros(0, np.int64)
        cblock = self.layout.block_ids(ccoords) if len(ccoords) else np.zeros(0, np.int64)
        screen = tests[tests["role"] == "screen"]
        g = getattr(self, "g", None)
        rows = [self._block_row(blk, screen[screen["block"] == blk.name], cstatus[cblock == blk.index],
                                ccoords[cblock == blk.index], conf, g)
                for blk in self.blocks]
        blocks = pd.DataFrame(rows, columns=SCREEN_BLOCK_COLUMNS)
        counted = screen[np.isin(screen["status"], errorbars.STATUS_NAMES[list(errorbars.COUNTED)])]
        difference = relative_difference(counted["analytic"].to_numpy(float), counted["estimate"].to_numpy(float))
        n_nonfinite = len(conf.nonfinite) if conf is not None else 0
        verdict, reason = overall(blocks, difference, self.thresholds, n_nonfinite)
        if not len(blocks):
            verdict, reason = "inconclusive", "theta has no parameters"
        ev, theta = self.ev, self.theta
        empty = np.zeros(0)
        fields = dict(
            numerical=conf.numerical if conf is not None else empty,
            analytic=conf.analytic if conf is not None else empty,
            coords=ccoords, eps=validate_eps(self.opts.eps),
            steps=conf.steps if conf is not None else empty,
            scheme=conf.scheme if conf is not None else get_scheme(self.opts.scheme).name,
            kinks=conf.kinks if conf is not None else None,
            nonfinite=conf.nonfinite if conf is not None else np.zeros(0, np.int64),
            error=conf.error if conf is not None else empty,
            estimate=conf.estimate if conf is not None else empty,
            status_code=cstatus, precision=conf.precision if conf is not None else theta.dtype.name,
            n_refined=conf.n_refined if conf is not None else 0,
        )
        if fields["kinks"] is None:
            del fields["kinks"]
        return ScreenResult(
            difference=difference, verdict=verdict, passed=verdict in ("great", "ok"), blocks=blocks,
            layout=self.layout, thresholds=self.thresholds, reason=reason, threads=ev.threads, path=ev.path,
            note=ev.note, compile_seconds=ev.compile_seconds, compile_note=compile_note(ev), n_params=len(theta),
            dtype=theta.dtype.name, kind="coordinates", n_evals=self.budget.used, seconds=time.perf_counter() - t0, tests=tests,
            max_evals=self.opts.max_evals, spent=dict(self.budget.spent), **fields,
        )

    def _block_row(self, blk, screen, cstatus, ccoords, conf, g) -> dict:
        a = screen["analytic"].to_numpy(float)
        d = screen["estimate"].to_numpy(float)
        ok = np.isfinite(d)
        diff = relative_difference(a[ok], d[ok]) if ok.any() else 0.0
        max_err = float(np.max(np.abs(a[ok] - d[ok]))) if ok.any() else 0.0
        detectable = float(np.nanmin(screen["catch"])) if blk.state == "passed" else np.nan
        norm = float(np.sqrt(np.sum(g[blk.lo : blk.lo + blk.size] ** 2))) if g is not None else np.nan
        rel = detectable / norm if norm > 0 else (np.inf if np.isfinite(detectable) and detectable > 0 else np.nan)
        budget = f"the evaluation budget (max_evals={self.budget.limit}) ended"
        worst, n_wrong, note = "", 0, ""
        if blk.state == "passed":
            verdict = within_error_bars(diff, self.thresholds)
            note = ""
        elif blk.state == "unscreened":
            verdict, note = "inconclusive", f"{budget} before this block was screened"
        elif blk.state == "inconclusive":
            verdict = "inconclusive"
            note = ("the block's group tests could not be read: "
                    + errorbars.SETTLE[errorbars.WHY_NAMES[blk.why]] + "; or use strategy='full'")
        else:
            wrong = cstatus == errorbars.WRONG
            n_wrong = int(np.count_nonzero(wrong))
            where = []
            if blk.widespread:
                where.append(f"wrong throughout ({MAX_GROUPS}+ parts disagree; not localised further)")
            if blk.cut:
                where.append(f"{budget} before localisation was complete; more may be wrong")
            if n_wrong:
                verdict = "wrong"
                idx = np.flatnonzero(wrong)
                err = np.abs(conf.analytic - conf.numerical)
                pos = np.flatnonzero(np.isin(conf.coords, ccoords[idx]))
                top = pos[int(np.argmax(err[pos]))]
                worst = "[" + ",".join(map(str, self.layout.locate(int(conf.coords[top]))[1])) + "]"
                max_err = float(err[top])
                note = "; ".join([f"{n_wrong} outside their error bars"] + where)
            elif blk.cut and blk.confirmed:  # the block's own test is the evidence, as in a directional check
                verdict = "wrong"
                note = ("a group test over the whole block disagrees beyond its error bar (its ladder too); the "
                        f"budget (max_evals={self.budget.limit}) ended before a coordinate was named")
            elif np.any(np.isin(cstatus, (errorbars.INCONCLUSIVE, errorbars.NONFINITE))):
                verdict = "inconclusive"
                note = "; ".join(["a group test disagrees, and coordinates it points to could not be read"] + where)
            else:
                verdict = "inconclusive"
                note = "; ".join(where or [
                    "a group test disagrees beyond its error bar, but no coordinate in the groups that disagree "
                    "is wrong; strategy='full' would settle it"])
        return {"block": blk.name, "size": blk.size, "checked": len(ccoords), "difference": diff,
                "max_abs_err": max_err, "worst_index": worst, "verdict": verdict, "wrong": n_wrong, "note": note,
                "tests": blk.tests, "detectable": detectable, "detectable_rel": rel}
