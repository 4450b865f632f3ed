"""``fastcheck sweep eps|size``: run a sweep into fastcheck-reports/<name>/ (``--out``) and write its report."""
from __future__ import annotations

import argparse
import contextlib
import re
import shlex
from pathlib import Path

from fastcheck.errors import UsageError


def _csv(text: str) -> tuple:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple:
    try:
        return tuple(int(v) for v in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _common(p) -> None:
    p.add_argument("--name", help="report name: results go to OUT/NAME/ (default: from the first problem)")
    p.add_argument("--out", default="fastcheck-reports",
                   help="parent directory of the report (the project's own tracked reports use --out reports)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep: compute only missing points")
    p.add_argument("--force", action="store_true",
                   help="start over even if the report directory holds results (with --resume: keep them); "
                   "also run a grid or model larger than the machine's available memory")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--no-report", action="store_true", help="only results.csv; skip parquet, plots and README")
    dist = p.add_mutually_exclusive_group()
    dist.add_argument("--dask-workers", type=int, metavar="N",
                      help="run on a local Dask cluster of N worker processes (127.0.0.1)")
    dist.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    # --workers means worker processes of one check everywhere else; a sweep's parallelism is Dask's.
    p.add_argument("--workers", type=str, default=None, help=argparse.SUPPRESS)


def register(sub) -> None:
    from fastcheck.cli import HelpFormatter, add_parser
    from fastcheck.models import ACTIVATIONS, LOSSES

    p = add_parser(
        sub,
        "sweep",
        help="error vs eps / time vs size sweeps, written to fastcheck-reports/<name>/ (--out, --name)",
        description="Run a sweep; every finished point is appended to OUT/NAME/results.csv at once, "
        "--resume continues an interrupted run, and the report (parquet, plots, README) is written at the end. "
        "Both kinds and all their options are listed below.",
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    e = add_parser(
        kinds, "eps", help="error of the numerical gradient vs eps, per scheme and dtype",
        description="Error of the numerical gradient against the step eps for each scheme and precision. "
        "PROBLEM is a registry name (tutorial, tutorial-numpy, mlp:784-128-10,batch=64, smooth:n=20, cube, square) "
        "or FILE.py:FUNCTION.",
    )
    e.add_argument("problems", nargs="+", metavar="PROBLEM")
    e.add_argument("--eps", default="1e0:1e-14:29", help="START:STOP:NUM (log-spaced) or a comma list")
    e.add_argument("--schemes", type=_csv, default=("forward", "central", "central4", "complex"),
                   help="comma list of schemes (forward, backward, central, central4, complex)")
    e.add_argument("--dtypes", type=_csv, default=("float64", "float32"), help="comma list of dtypes (float64, float32)")
    e.add_argument("--sample", type=int, help="check this many coordinates per block (default: all)")
    e.add_argument("--seed", type=int, default=0, help="seed of the sampled coordinates")
    e.add_argument("--threads", type=int, help="Numba threads (default: all)")
    e.add_argument("--blackbox", action="store_true", help="use the black-box kernel even for built-in models")
    _common(e)
    e.set_defaults(func=run_eps)

    s = add_parser(
        kinds, "size", help="check time vs model size, mode and threads (also: batch check of many networks)",
        description="Time every way of checking against model size and Numba threads. SIZE is layer sizes "
        "such as 784-128-10 (an MLP) or any problem spec.",
    )
    s.add_argument("sizes", nargs="+", metavar="SIZE")
    s.add_argument("--modes", type=_csv, default=("structured", "blackbox", "directional", "sampled"),
                   help="comma list of modes (structured, blackbox, directional, sampled)")
    s.add_argument("--threads", type=_ints, default=(1, 2), help="comma list of Numba thread counts")
    s.add_argument("--batch", type=int, default=64, help="batch size of MLPs given by layer sizes")
    s.add_argument("--activation", default="sigmoid", choices=list(ACTIVATIONS), help="activation of MLPs given by layer sizes")
    s.add_argument("--loss", default="sse", choices=list(LOSSES), help="loss of MLPs given by layer sizes")
    s.add_argument("--sample", type=int, default=8, help="coordinates per block in the sampled mode")
    s.add_argument("--n-dirs", type=int, default=8, help="directions per block in the directional mode")
    s.add_argument("--repeat", type=int, default=3, help="timed runs per point (median kept)")
    s.add_argument("--budget", type=float, default=60.0, help="skip full checks estimated to take longer (seconds)")
    s.add_argument("--seed", type=int, default=0, help="seed of weights, data, samples and directions")
    _common(s)
    s.set_defaults(func=run_size)

    # `fastcheck sweep --help` lists both kinds' options, not only their names.
    p.epilog = "\n".join(f"{'-' * 8} fastcheck sweep {name} {'-' * 8}\n{kind.format_help()}"
                         for name, kind in (("eps", e), ("size", s)))
    p.formatter_class = HelpFormatter


def _default_name(kind: str, first: str) -> str:
    stem = Path(first.rsplit(":", 1)[0]).stem if ".py:" in first else first
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-")


@contextlib.contextmanager
def _client(args):
    """The Dask client the options ask for (None: run in-process)."""
    from fastcheck.sweep import dask as dask_support

    if args.workers is not None:
        raise UsageError("a sweep runs its points on Dask: --dask-workers N starts a local cluster of N worker "
                         "processes, --scheduler tcp://HOST:PORT joins one (--workers is a check's worker processes)")
    if args.dask_workers is not None:
        if args.dask_workers < 1:
            raise UsageError(f"--dask-workers must be a positive integer, got {args.dask_workers}")
        client = dask_support.local_client(args.dask_workers)
    elif args.scheduler:
        client = dask_support.connect(args.scheduler)
    else:
        yield None
        return
    try:
        yield client
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and args.dask_workers is not None:
            cluster.close()


def _directory(args, kind, first) -> Path:
    name = args.name or _default_name(kind, first)
    if not name or "/" in name or name in (".", ".."):
        raise UsageError(f"--name must be a plain directory name, got {name!r}")
    return Path(args.out) / name


def _command(args) -> str:
    """The command that reproduces this sweep, every option spelled out."""
    parts = ["fastcheck", "sweep", args.kind, *(args.problems if args.kind == "eps" else args.sizes)]
    skip = {"func", "command", "kind", "problems", "sizes", "debug", "resume", "force", "quiet", "no_report"}
    for key, value in sorted(vars(args).items()):
        if key in skip or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (tuple, list)):
            parts += [flag, ",".join(str(v) for v in value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def run_eps(args) -> int:
    from fastcheck.problems import get_problem
    from fastcheck.support.files import directory_lock
    from fastcheck.sweep import eps_sweep, fit_notes, fit_orders, parse_eps
    from fastcheck.sweep.engine import require_sweep_memory
    from fastcheck.sweep.grid import eps_count

    # The size of the grid is known before its steps are made: refuse a huge one first.
    n_points = len(args.problems) * len(args.schemes) * len(args.dtypes) * eps_count(args.eps)
    require_sweep_memory(args.problems, n_points, args.threads, args.force)
    eps = parse_eps(args.eps)
    problems = [get_problem(p) for p in args.problems]  # unloadable files fail here, before any work
    directory = _directory(args, "eps", args.problems[0])
    with directory_lock(directory), _client(args) as client:  # one writer, from the first row to the report
        df = eps_sweep(
            problems, eps=eps, schemes=args.schemes, dtypes=args.dtypes, sample=args.sample, seed=args.seed,
            threads=args.threads, structured=not args.blackbox, out=directory, resume=args.resume,
            overwrite=args.force, progress=False if args.quiet else None, client=client, force=args.force,
        )
        _report(args, directory)
    if not args.quiet:
        fits = fit_orders(df)
        cols = ["problem", "scheme", "dtype", "order", "truncation_slope", "roundoff_slope", "best_eps", "floor"]
        print(fits[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        for line in fit_notes(fits):
            print(f"  {line}")
        print(f"\nreport: {directory}/")
    return 0


def run_size(args) -> int:
    from fastcheck.support.files import directory_lock
    from fastcheck.sweep import size_sweep

    directory = _directory(args, "size", args.sizes[0])
    with directory_lock(directory), _client(args) as client:  # one writer, from the first row to the report
        df = size_sweep(
            args.sizes, modes=args.modes, threads=args.threads, batch=args.batch, activation=args.activation,
            loss=args.loss, sample=args.sample, n_dirs=args.n_dirs, repeat=args.repeat, budget=args.budget,
            seed=args.seed, out=directory, resume=args.resume, overwrite=args.force,
            progress=False if args.quiet else None, client=client, force=args.force,
        )
        _report(args, directory)
    if not args.quiet:
        cols = ["problem", "n_params", "mode", "threads", "seconds", "evals_per_s", "peak_mem_mb", "verdict", "note"]
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"\nreport: {directory}/")
    ran = df[df["verdict"] != ""]
    return 0 if ran["passed"].all() else 1


def _report(args, directory) -> None:
    from fastcheck.support.files import dumps_strict, write_text
    from fastcheck.sweep.store import META_JSON, read_json

    meta_path = directory / META_JSON
    meta = read_json(meta_path) if meta_path.exists() else {}
    meta["command"] = _command(args)
    write_text(meta_path, dumps_strict(meta, indent=2) + "\n")
    if not args.no_report:
        from fastcheck.report import write_report

        write_report(directory)
