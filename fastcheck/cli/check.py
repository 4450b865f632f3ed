"""``fastcheck check``: check a user's network, or a built-in model, from the shell."""
from __future__ import annotations

import argparse
import sys

from fastcheck.errors import TargetError, UsageError
from fastcheck.inputs.targets import ACCEPTED


def register(sub) -> None:
    from fastcheck.cli import add_parser
    from fastcheck.core.steps import SCHEMES
    from fastcheck.models import ACTIVATIONS, LOSSES, MUTANTS

    p = add_parser(
        sub,
        "check",
        help="check the gradient of your network (path/to/net.py:make) or of a built-in model",
        description="Check a hand-written gradient. TARGET is path/to/file.py:function, where function() returns "
        + ACCEPTED
        + ". Without TARGET a built-in model is checked (--model, --sizes, ...).\n\n"
        "Tables are printed in full, never cut: columns that do not fit the terminal (COLUMNS; 80 when piped) "
        "continue below; --wide prints each table in one piece, --json everything as JSON.",
    )
    p.add_argument("target", nargs="?", help="path/to/file.py:function returning what is to be checked")
    p.add_argument("--model", default="mlp", choices=["mlp", "tutorial"], type=_model_name,
                   help="built-in model when no TARGET is given (tutorial: the 2-3-1 network of Neural Networks "
                        "Demystified)")
    p.add_argument("--sizes", default="784,128,10", help="layer sizes of the built-in MLP")
    p.add_argument("--activation", default="sigmoid", type=_names(ACTIVATIONS, "--activation"), metavar="NAME[,NAME...]",
                   help=f"activation of the built-in MLP, one for every layer or one per layer, comma-separated: "
                        f"{', '.join(ACTIVATIONS)}")
    p.add_argument("--loss", default="sse", choices=list(LOSSES), help="loss of the built-in MLP")
    p.add_argument("--batch", type=int, default=64, help="batch size of the built-in MLP's data")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation of the built-in MLP")
    p.add_argument("--keep-prob", type=float, default=1.0, help="dropout keep probability (fixed mask) of the built-in MLP")
    p.add_argument("--mutant", default=None, choices=sorted(MUTANTS), metavar="MUTANT",
                   help="plant this backprop bug in the built-in model: " + ", ".join(sorted(MUTANTS))
                        + " (see fastcheck.models.MUTANTS); default: none")
    p.add_argument("--mode", default="structured", choices=["structured", "blackbox"], help="kernel for built-in models")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="precision the built-in model computes its costs in")
    p.add_argument("--eps", type=_eps_arg, default=None,
                   help="absolute step, or 'adaptive' (Richardson over a ladder of steps per coordinate);"
                        " default: the scheme's optimal relative step")
    p.add_argument("--scheme", default="central", choices=sorted(SCHEMES), help="difference scheme")
    p.add_argument("--sample", type=int, default=None, metavar="K",
                   help="check K coordinates of every block (default: every coordinate)")
    p.add_argument("--directional", type=int, default=None, metavar="N",
                   help="check N random directions instead of coordinates")
    p.add_argument("--strategy", default="full", choices=["full", "screen"],
                   help="full: every coordinate; screen: group tests per block, then the coordinates they point to "
                        "(a few hundred evaluations at any size; states the smallest error it would have caught)")
    p.add_argument("--max-evals", type=int, default=None, metavar="N",
                   help="with --strategy screen: at most N cost evaluations (inconclusive where they run out)")
    p.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    p.add_argument("--workers", default="auto", type=_workers, metavar="N|auto",
                   help="worker processes for a cost that stays Python (1: the serial loop; auto: all cores when "
                        "the check is long enough to pay for starting them)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling, directions and built-in models")
    p.add_argument("--reseed", type=int, default=None, metavar="S",
                   help="a cost that draws random numbers: seed NumPy's global RNG and random with S before every evaluation")
    p.add_argument("--worst", type=int, default=5, help="worst coordinates to show")
    p.add_argument("--wide", action="store_true", help="print each table in one piece, however wide")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object (strict: NaN is null)")
    p.add_argument("--force", action="store_true",
                   help="check a built-in model even if it needs more memory than the machine has available")
    p.set_defaults(func=run)


def _model_name(text: str) -> str:
    return "tutorial" if text == "seed" else text  # "seed": the tutorial network's old name, still accepted


def _names(known, option: str):
    """An argparse type: a comma list of names, each one of ``known``."""

    def parse(text: str) -> str:
        bad = [n for n in text.split(",") if n not in known]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(known)}")
        return text

    parse.__name__ = option.lstrip("-")
    return parse


def _eps_arg(text):
    if text == "adaptive":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'adaptive', got {text!r}") from None


def _workers(text: str):
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (1 runs the serial loop), got {n}")
    return n


def _options(args) -> dict:
    if args.sample is not None and args.directional is not None:
        raise UsageError("give --sample or --directional, not both")
    if args.sample is not None and args.sample < 1:
        raise UsageError(f"--sample must be a positive integer, got {args.sample}")
    if args.directional is not None and args.directional < 1:
        raise UsageError(f"--directional must be a positive integer, got {args.directional}")
    if args.eps is not None and args.eps != "adaptive" and not args.eps > 0:
        raise UsageError(f"--eps must be positive, got {args.eps}")
    if args.strategy == "screen" and (args.sample is not None or args.directional is not None):
        raise UsageError("--strategy screen covers every coordinate; drop --sample and --directional")
    if args.max_evals is not None and (args.strategy != "screen" or args.max_evals < 1):
        raise UsageError("--max-evals takes a positive number and bounds --strategy screen")
    opts = {"threads": args.threads, "workers": args.workers}
    if getattr(args, "reseed", None) is not None:
        opts["reseed"] = args.reseed
    if args.strategy == "screen":
        opts.update(strategy="screen", max_evals=args.max_evals)
    if args.directional is None:
        opts.update(eps=args.eps, scheme=args.scheme, sample=args.sample, seed=args.seed)
    else:
        if args.scheme != "central":
            raise UsageError("--directional uses the central scheme; drop --scheme")
        opts.update(eps=args.eps, seed=args.seed)
    return opts


def check_target(obj, opts: dict, directional=None, mode: str = "structured"):
    """Run the right check for what a user's ``make()`` returned (see :mod:`fastcheck.inputs.targets`)."""
    from fastcheck.inputs.targets import run_target

    try:
        return run_target(obj, opts, directional, mode)
    except TargetError as exc:
        raise UsageError(f"the function returned what fastcheck cannot check: {exc}") from None


def builtin_model(args):
    """The model, θ and data that ``--model`` and its options describe."""
    from fastcheck import models

    if args.model == "tutorial":
        model, theta, X, y = models.tutorial_network(seed=args.seed)
    else:
        try:
            sizes = [int(s) for s in args.sizes.split(",")]
        except ValueError:
            raise UsageError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
        from fastcheck.config import num_threads
        from fastcheck.support.resources import mlp_bytes, require_memory

        n, nbytes = mlp_bytes(sizes, max(args.batch, 1), args.threads or num_threads())
        require_memory(nbytes, f"a check of MLP {args.sizes} ({n:,} parameters)", force=args.force)
        acts = args.activation.split(",")
        model = models.MLP(sizes, activations=acts[0] if len(acts) == 1 else acts, loss=args.loss,
                           l2=args.l2, keep_prob=args.keep_prob, dropout_seed=args.seed)
        theta = model.init(args.seed)
        X, y = model.sample_data(args.batch, seed=args.seed)
    if args.mutant:
        refuse_hidden_mutant(args.mutant, model, len(X), "this model" if args.model == "mlp" else "--model tutorial")
        model = model.mutant(args.mutant)
    return model, theta.astype(args.dtype), X, y


def refuse_hidden_mutant(name: str, model, batch: int, what: str) -> None:
    """A planted bug that cannot change ``model``'s gradient would only ever pass: refuse it, naming why."""
    from fastcheck.models import MUTANTS

    why = MUTANTS[name].hidden_because(model, batch)
    if why:
        raise UsageError(f"--mutant {name} cannot change the gradient of {what}: {why}; the check could only "
                         f"pass. The bug: {MUTANTS[name].description}")


def run(args) -> int:
    from fastcheck.cli.guard import stdout_closed, stdout_to_stderr
    from fastcheck.inputs.userfile import call_user, load_callable

    opts = _options(args)
    with stdout_to_stderr():  # what user code prints goes to stderr: stdout is the report (--json: one document)
        if args.target:
            make = load_callable(args.target)
            obj = call_user(make, args.target)
            title = args.target
            if args.dtype != "float64":
                raise UsageError("--dtype applies to the built-in models; give your own theta in the precision you want")
            result = check_target(obj, opts, args.directional, mode=args.mode)
        else:
            model, theta, X, y = builtin_model(args)
            title = f"{args.model} {args.sizes if args.model == 'mlp' else ''}".strip()
            result = check_target((model, theta, X, y), opts, args.directional, mode=args.mode)
    code = 0 if result.passed else 3 if result.verdict == "inconclusive" else 1
    try:
        _print(result, args, title)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head -1`: the reader has what it wanted; the check ran, its code stands
        stdout_closed()
    return code


def _print(result, args, title: str) -> None:
    if args.json:
        from fastcheck.support.files import dumps_strict

        # Strict JSON: a NaN (say, a non-finite perturbed cost) is null, not a literal jq rejects.
        sys.stdout.write(dumps_strict(result.to_dict(worst=args.worst), indent=2) + "\n")
    elif hasattr(result, "row_layout"):  # a Hessian check: entries by row and column
        print(f"{title}: {result}")
    else:
        from fastcheck.cli.render import print_result

        print_result(result, title=title, worst=args.worst, wide=args.wide)
