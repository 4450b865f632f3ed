"""``fastcheck check``: check a user's network, or a built-in model, from the shell."""
from __future__ import annotations

import json
import sys
import argparse
from collections.abc import Mapping

from . import UsageError

ACCEPTED = (
    "(net, X, y) with getParams/setParams/costFunction/computeGradients, "
    "(forward, backward, parameters, X, Y), (cost, theta, grad[, args]) "
    "or (model, theta, X, y) with a fastcheck.models network"
)


def register(sub) -> None:
    import argparse

    from ..steps import SCHEMES

    p = sub.add_parser(
        "check",
        help="check the gradient of your network (path/to/net.py:make) or of a built-in model",
        description="Check a hand-written gradient. TARGET is path/to/file.py:function, where function() returns "
        + ACCEPTED
        + ". Without TARGET a built-in model is checked (--model, --sizes, ...).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", nargs="?", help="path/to/file.py:function returning what is to be checked")
    p.add_argument("--model", default="mlp", choices=["mlp", "seed"], help="built-in model when no TARGET is given")
    p.add_argument("--sizes", default="784,128,10", help="layer sizes of the built-in MLP")
    p.add_argument("--activation", default="sigmoid", help="activation of the built-in MLP (one, or one per layer, comma-separated)")
    p.add_argument("--loss", default="sse", help="loss of the built-in MLP")
    p.add_argument("--batch", type=int, default=64, help="batch size of the built-in MLP's data")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation of the built-in MLP")
    p.add_argument("--keep-prob", type=float, default=1.0, help="dropout keep probability (fixed mask) of the built-in MLP")
    p.add_argument("--mutant", default=None, help="plant this backprop bug in the built-in model (see fastcheck.models.MUTANTS)")
    p.add_argument("--mode", default="structured", choices=["structured", "blackbox"], help="kernel for built-in models")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="precision the built-in model computes its costs in")
    p.add_argument("--eps", type=_eps_arg, default=None,
                   help="absolute step, or 'adaptive' (Richardson over a ladder of steps per coordinate);"
                        " default: the scheme's optimal relative step")
    p.add_argument("--scheme", default="central", choices=sorted(SCHEMES), help="difference scheme")
    p.add_argument("--sample", type=int, default=None, metavar="K", help="check K coordinates of every block")
    p.add_argument("--directional", type=int, default=None, metavar="N", help="check N random directions instead")
    p.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling, directions and built-in models")
    p.add_argument("--worst", type=int, default=5, help="worst coordinates to show")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def _eps_arg(text):
    if text == "adaptive":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'adaptive', got {text!r}") from None


def _options(args) -> dict:
    if args.sample is not None and args.directional is not None:
        raise UsageError("give --sample or --directional, not both")
    if args.sample is not None and args.sample < 1:
        raise UsageError(f"--sample must be a positive integer, got {args.sample}")
    if args.directional is not None and args.directional < 1:
        raise UsageError(f"--directional must be a positive integer, got {args.directional}")
    if args.eps is not None and args.eps != "adaptive" and not args.eps > 0:
        raise UsageError(f"--eps must be positive, got {args.eps}")
    opts = {"threads": args.threads}
    if args.directional is None:
        opts.update(eps=args.eps, scheme=args.scheme, sample=args.sample, seed=args.seed)
    else:
        if args.scheme != "central":
            raise UsageError("--directional uses the central scheme; drop --scheme")
        opts.update(eps=args.eps, seed=args.seed)
    return opts


def check_target(obj, opts: dict, directional=None):
    """Run the right check for what a user's ``make()`` returned."""
    from .. import adapters
    from ..check import check_directional, check_gradient

    if not isinstance(obj, tuple):
        raise UsageError(f"the function returned a {type(obj).__name__}; expected a tuple: {ACCEPTED}")
    kinds = ", ".join(type(o).__name__ for o in obj)
    if len(obj) == 3 and adapters.is_object_style(obj[0]):
        return adapters.check_object(*obj, directional=directional, **opts)
    if len(obj) == 5 and callable(obj[0]) and callable(obj[1]) and isinstance(obj[2], Mapping):
        return adapters.check_functions(*obj, directional=directional, **opts)
    if len(obj) == 4 and _is_model(obj[0]):
        return _check_builtin(obj[0], obj[1], obj[2], obj[3], opts, directional)
    if len(obj) in (3, 4) and callable(obj[0]):
        cost, theta, grad = obj[:3]
        extra = tuple(obj[3]) if len(obj) == 4 else ()
        if directional:
            return check_directional(cost, theta, grad, args=extra, n_dirs=directional, **opts)
        return check_gradient(cost, theta, grad, args=extra, **opts)
    raise UsageError(f"the function returned a tuple of {len(obj)} ({kinds}), which fastcheck does not recognise; expected {ACCEPTED}")


def _is_model(obj) -> bool:
    return all(hasattr(obj, a) for a in ("layout", "cost", "grad", "init"))


def _check_builtin(model, theta, X, y, opts, directional, mode="structured"):
    from ..check import check_directional
    from ..structured import check_model

    if directional:
        return check_directional(
            model.jit_cost, theta, model.grad(theta, X, y), args=model.cost_args(X, y),
            layout=model.layout, n_dirs=directional, **opts,
        )
    return check_model(model, theta, X, y, mode=mode, **opts)


def builtin_model(args):
    """The model, θ and data that ``--model`` and its options describe."""
    from .. import models

    if args.model == "seed":
        model, theta, X, y = models.seed_network(seed=args.seed)
    else:
        try:
            sizes = [int(s) for s in args.sizes.split(",")]
        except ValueError:
            raise UsageError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
        acts = args.activation.split(",")
        model = models.MLP(sizes, activations=acts[0] if len(acts) == 1 else acts, loss=args.loss,
                           l2=args.l2, keep_prob=args.keep_prob, dropout_seed=args.seed)
        theta = model.init(args.seed)
        X, y = model.sample_data(args.batch, seed=args.seed)
    if args.mutant:
        model = model.mutant(args.mutant)
    return model, theta.astype(args.dtype), X, y


def run(args) -> int:
    from ..userfile import load_callable

    opts = _options(args)
    if args.target:
        make = load_callable(args.target)
        try:
            obj = make()
        except Exception as exc:
            raise UsageError(f"{args.target} raised {type(exc).__name__}: {exc}") from exc
        title = args.target
        if args.dtype != "float64":
            raise UsageError("--dtype applies to the built-in models; give your own theta in the precision you want")
        result = check_target(obj, opts, args.directional)
    else:
        model, theta, X, y = builtin_model(args)
        title = f"{args.model} {args.sizes if args.model == 'mlp' else ''}".strip()
        result = _check_builtin(model, theta, X, y, opts, args.directional, mode=args.mode)
    if args.json:
        json.dump(result.to_dict(worst=args.worst), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from .render import print_result

        print_result(result, title=title, worst=args.worst)
    if result.passed:
        return 0
    return 3 if result.verdict == "inconclusive" else 1
