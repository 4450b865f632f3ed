"""The ``fastcheck`` command line: a thin layer over the library.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called
with the parsed namespace, returning the exit code).  Exit codes: 0 success
(a check passed), 1 a check failed (a gradient is wrong), 2 usage or input
error, 3 a check was inconclusive (nothing wrong found, but some coordinates
could not be read; the report says what would settle it).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from fastcheck._version import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("demo", "check", "taylor", "sweep", "report", "bench")


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastcheck",
        description="Check hand-written gradients against finite differences, fast.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastcheck {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse is done by now: this came from the user's code
        print(f"fastcheck {args.command}: error: user code called sys.exit({exc.code!r}); nothing was checked",
              file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line, exit 2; --debug shows the traceback
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]
        print(f"fastcheck {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
