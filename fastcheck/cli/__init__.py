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
from fastcheck.errors import UsageError  # noqa: F401 - the subcommands raise it from here

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("demo", "check", "taylor", "sweep", "report")




class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default once.

    ``(default: X)`` is appended unless the help already names a default or the option has none to show
    (None, False, or a flag); a tuple or list default shows as the comma list one types.  Choices show in
    the option's metavar (``{a,b,c}``), as argparse does.  Descriptions and epilogs keep their line breaks.
    """

    def _fill_text(self, text, width, indent):
        # Paragraphs (split by blank lines) of one line are wrapped; text laid out already is kept as it is.
        import textwrap

        paragraphs = text.split("\n\n")
        return "\n\n".join(p if "\n" in p else textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent)
                           for p in paragraphs)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text.lower() or default is None or default is False
                or default is argparse.SUPPRESS or isinstance(action, argparse._StoreTrueAction)):
            return text
        if isinstance(default, (tuple, list)):
            default = ",".join(str(v) for v in default)
        return f"{text} (default: {str(default).replace('%', '%%')})"


def add_parser(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand's parser with the package's help formatter."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    return sub.add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastcheck",
        description="Check hand-written gradients against finite differences, fast.",
        epilog="`fastcheck COMMAND --help` lists each command's options (`fastcheck sweep --help`: both kinds "
               "of sweep). Exit codes: 0 passed, 1 a gradient is wrong, 2 usage or input error, 3 inconclusive.",
        formatter_class=HelpFormatter,
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
