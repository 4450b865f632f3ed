"""``python -m benchmarks.peers``: fastcheck against the checkers people already use.

Runs the same problems through every checker in one process and writes
``peers.csv`` (and ``peers.parquet``), a Markdown table ``peers.md`` and a
log-log plot ``peers.png``.  Timings are only comparable when nothing else
runs: hold the benchmark lock
(``flock /tmp/fastcheck-bench.lock python -m benchmarks.peers``).
Exit status 2 on bad options.
"""
from __future__ import annotations

import argparse
import sys

from . import BUDGET, PEERS, PROBLEMS, compare, markdown_table, torch_available, write_report


class UsageError(ValueError):
    """A bad command-line option."""


def build_parser() -> argparse.ArgumentParser:
    q = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description="Time every checker on the same problems in one run and save a table and a plot. "
        "A checker whose full run would exceed --budget seconds is timed on a subset of coordinates and "
        "its full time extrapolated; the table marks such rows.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    q.add_argument(
        "--sizes",
        nargs="+",
        default=list(PROBLEMS),
        metavar="PROBLEM",
        help=f"problems to run, from: {', '.join(repr(k) for k in PROBLEMS)} (also 'seed' for the first)",
    )
    q.add_argument(
        "--peers",
        nargs="+",
        default=None,
        metavar="PEER",
        help=f"checkers to run (default: all available), from: {', '.join(k.replace(' ', '-') for k in PEERS)}",
    )
    q.add_argument("--batch", type=int, default=64, help="batch size of the MLP problems")
    q.add_argument("--budget", type=float, default=BUDGET, help="seconds a checker may take per problem before it is extrapolated")
    q.add_argument("--repeat", type=int, default=3, help="runs per timing (median) for runs under a second")
    q.add_argument("--seed", type=int, default=0, help="seed of θ and of the random batch")
    q.add_argument("--out", default=None,
                   help="directory for peers.csv/.parquet/.md/.png (default: a temporary folder; --write: reports/peers)")
    q.add_argument("--write", action="store_true", help="write into the tracked reports/peers (same as --out reports/peers)")
    q.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return q


def _problem_names(sizes) -> list:
    out = []
    for s in sizes:
        name = "seed 2-3-1" if s in ("seed", "tutorial", "2-3-1") else s
        if name not in PROBLEMS:
            raise UsageError(f"unknown problem {s!r} in --sizes; choose from {', '.join(repr(k) for k in PROBLEMS)}")
        if name not in out:
            out.append(name)
    return out


def _peer_names(given) -> list:
    """Peer names as typed: the full name, or with dashes for spaces ("torch-gradcheck-fast")."""
    lookup = {name.replace(" ", "-"): name for name in PEERS} | {name: name for name in PEERS}
    bad = [g for g in given if g not in lookup]
    if bad:
        raise UsageError(f"unknown peer(s) {bad}; choose from {', '.join(k.replace(' ', '-') for k in PEERS)}")
    return list(dict.fromkeys(lookup[g] for g in given))


def run_peers(args) -> int:
    import platform

    import numba

    problems = _problem_names(args.sizes)
    chosen = None if args.peers is None else _peer_names(args.peers)
    if args.batch < 1:
        raise UsageError(f"--batch must be a positive integer, got {args.batch}")
    if not args.budget > 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.repeat < 1:
        raise UsageError(f"--repeat must be a positive integer, got {args.repeat}")

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    load_before = _load()
    df = compare(problems, chosen, batch=args.batch, budget=args.budget, repeat=args.repeat, seed=args.seed, log=log)
    load_after = _load()
    header = (
        f"Measured by `python -m benchmarks.peers --sizes {' '.join(repr(p) if ' ' in p else p for p in problems)}"
        f" --batch {args.batch} --budget {args.budget:g}` on {platform.machine()} with {numba.get_num_threads()}"
        f" Numba thread(s), Python {platform.python_version()}, numba {numba.__version__}"
        + (f", torch {_torch_version()}" if torch_available() else ", torch not installed")
        + f". Load average (1 min) {load_before} at the start and {load_after} at the end; the run itself"
        " accounts for up to the number of cores, anything above means other work shared them."
    )
    out = args.out or ("reports/peers" if args.write else None)
    if out is None:
        import tempfile

        out = tempfile.mkdtemp(prefix="fastcheck-peers-")
    paths = write_report(df, out, header=header)
    print(markdown_table(df))
    for kind, path in paths.items():
        print(f"wrote {path}")
    return 0


def _load() -> str:
    import os

    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on every platform
        return "unknown"


def _torch_version() -> str:
    import torch

    return torch.__version__


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_peers(args)
    except (UsageError, ValueError) as exc:
        print(f"peers: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
