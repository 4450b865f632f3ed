"""``fastcheck taylor``: the Taylor test of a user's cost and gradient (and Hessian), from the shell."""
from __future__ import annotations

import sys

from fastcheck.cli import UsageError


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "taylor",
        help="Taylor test of your gradient (and Hessian): the rates the expansion's remainders fall at",
        description="Run the Taylor test of path/to/file.py:function, where function() returns (cost, theta, grad"
                    "[, args][, layout]) or (cost, theta, grad, hess[, args][, layout]). The remainder r1 must fall "
                    "as h^2 (r2 as h^3 with the Hessian), per block of the layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", help="path/to/file.py:function returning what is to be tested")
    p.add_argument("--seed", type=int, default=0, help="seed of the random direction")
    p.add_argument("--plot", default=None, metavar="PNG", help="write the remainders against h to this PNG file")
    p.add_argument("--json", action="store_true", help="print the rates as JSON records")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastcheck.cli.guard import stdout_closed, stdout_to_stderr

    with stdout_to_stderr():  # what user code prints goes to stderr: stdout is the report (--json: one document)
        res = _test(args)
    try:
        if args.json:
            from fastcheck.support.files import dumps_strict

            sys.stdout.write(dumps_strict(res.rates.to_dict("records"), indent=2) + "\n")
        else:
            print(f"{args.target}: {res}")
        if args.plot:
            res.plot(args.plot)
            if not args.json:
                print(f"plot written to {args.plot}")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away; the test ran, its code stands
        stdout_closed()
    return 0 if res.passed else 1


def _test(args):
    from fastcheck.checks.taylor import taylor_test
    from fastcheck.inputs.targets import TargetError, classify, split_cost, split_hessian
    from fastcheck.inputs.userfile import call_user, load_callable

    made = call_user(load_callable(args.target), args.target)
    try:
        kind = classify(made)
    except TargetError as exc:
        raise UsageError(f"the function returned what fastcheck cannot test: {exc}") from None
    if kind == "hessian":
        cost, theta, grad, hess, extra, layout = split_hessian(made)
    elif kind == "cost":
        (cost, theta, grad, extra, layout), hess = split_cost(made), None
    else:
        raise UsageError(f"the Taylor test takes a cost and its gradient; {args.target} returned a {kind} target")
    return taylor_test(cost, theta, grad, hess=hess, layout=layout, args=extra, seed=args.seed)
