"""Fail on a clear speed regression: today's ratios against the recorded asv history.

    python benchmarks/gate.py [--factor 1.5] [--attempts 3] [--machine fastcheck-ci] [--only SUBSTRING]

Measures every ratio of ``benchmarks/asv_suite/_ratios.py`` (single-thread
timings taken in turns in one process: a full check in units of one forward
pass of the same network, a black-box check in units of one cost call) and
compares each with its baseline: the median of the values recorded for the
three most recent commits in ``reports/asv/results/<machine>/`` (the files
``asv run`` writes; benchmark ``bench_ratios.*.track_ratio``).  A ratio
fails when it exceeds ``factor`` × baseline in every one of ``attempts``
measurements — one noisy measurement cannot fail the gate, a real slowdown
fails all of them.  Ratios without history are reported and pass.

Exit status: 0 when nothing regressed, 1 on a regression, 2 on bad input.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "reports" / "asv" / "results"


def _param_key(values) -> str:
    """asv stores string parameters with their quotes ("'784-128-10'"); the gate names them bare."""
    return ", ".join(str(v).strip("'\"") for v in values)


def read_history(results_dir: Path, machine: str) -> dict[str, list[tuple[int, float]]]:
    """``{ratio key: [(commit date, value), ...]}`` from the asv result files of ``machine``.

    The key is ``benchmark`` or ``benchmark(param, ...)`` as in :attr:`Ratio.key`.
    """
    history: dict[str, list[tuple[int, float]]] = {}
    folder = Path(results_dir) / machine
    for path in sorted(folder.glob("*.json")):
        if path.name == "machine.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable asv result file ({exc})") from None
        columns = data.get("result_columns", [])
        if "result" not in columns or "params" not in columns:
            continue
        i_res, i_par = columns.index("result"), columns.index("params")
        date = int(data.get("date") or 0)
        for name, entry in data.get("results", {}).items():
            if not name.startswith("bench_ratios.") or entry is None:
                continue
            values, params = entry[i_res], entry[i_par]
            if values is None:
                continue
            combos = list(itertools.product(*params)) if params else [()]
            for combo, value in zip(combos, values):
                if value is None or not np.isfinite(value):
                    continue
                key = name if not combo else f"{name}({_param_key(combo)})"
                history.setdefault(key, []).append((date, float(value)))
    return history


def baseline(entries: list[tuple[int, float]], recent: int = 3) -> float:
    """Median of the values of the ``recent`` most recent commits."""
    latest = sorted(entries, key=lambda e: e[0])[-recent:]
    return float(np.median([v for _, v in latest]))


def judge(current: list[float], base: float | None, factor: float) -> str:
    """"regressed" if every measurement exceeds factor × base, else "ok" (or "no history")."""
    if base is None:
        return "no history"
    return "regressed" if min(current) > factor * base else "ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=1.5, help="fail above factor × baseline (default 1.5)")
    parser.add_argument("--attempts", type=int, default=3, help="measurements before a ratio fails (default 3)")
    parser.add_argument("--machine", default="fastcheck-ci", help="asv machine name of the history")
    parser.add_argument("--results", type=Path, default=RESULTS, help="asv results folder")
    parser.add_argument("--only", default="", help="only ratios whose key contains this text")
    args = parser.parse_args(argv)
    if not args.factor > 1 or args.attempts < 1:
        print("gate: --factor must be > 1 and --attempts ≥ 1", file=sys.stderr)
        return 2
    try:
        history = read_history(args.results, args.machine)
    except ValueError as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return 2

    sys.path.insert(0, str(HERE))
    from asv_suite._ratios import RATIOS  # the suite's own measurement code

    ratios = [r for r in RATIOS if args.only in r.key]
    if not ratios:
        print(f"gate: no ratio matches {args.only!r}", file=sys.stderr)
        return 2
    failed = []
    print(f"{'ratio':<62} {'baseline':>10} {'now':>10} {'× base':>7}  verdict")
    for r in ratios:
        base = baseline(history[r.key]) if r.key in history else None
        current = []
        for _ in range(args.attempts):
            current.append(r.measure())
            if judge(current, base, args.factor) != "regressed":
                break
        verdict = judge(current, base, args.factor)
        best = min(current)
        times = f"{best / base:7.2f}" if base else f"{'–':>7}"
        shown = f"{base:10.1f}" if base else f"{'–':>10}"
        print(f"{r.key:<62} {shown} {best:10.1f} {times}  {verdict} ({r.unit}; {len(current)} measurement(s))",
              flush=True)
        if verdict == "regressed":
            failed.append(r.key)
    if failed:
        print(f"gate: {len(failed)} ratio(s) more than {args.factor}× their recorded baseline: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    print(f"gate: no ratio above {args.factor}× its baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
