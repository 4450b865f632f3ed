"""The ``fastcheck`` command line: a thin layer over the library.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called
with the parsed namespace, returning the exit code).  Exit codes: 0 success
(a check passed), 1 a check failed (a gradient is wrong), 2 usage or input
error (user code that raised a BaseException such as ``asyncio.CancelledError``,
or ended the process with ``sys.exit``/``os._exit``, included: nothing was
checked), 3 a check was inconclusive (nothing wrong found, but some coordinates
could not be read; the report says what would settle it), 141 the reader of
stdout went away (``| head``) before the output was written (``check`` still
gives its verdict's code: the check ran).  User code runs under
:mod:`fastcheck.cli.guard`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from fastcheck._version import __version__
from fastcheck.errors import UsageError, UserExit  # noqa: F401 - the subcommands raise UsageError from here

#: Exit code when stdout was closed by its reader before fastcheck wrote it (128 + SIGPIPE, as a shell reports).
BROKEN_PIPE = 141

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
               "of sweep). Exit codes: 0 passed, 1 a gradient is wrong, 2 usage or input error (or user code that "
               "exited or raised: nothing was checked), 3 inconclusive, 141 stdout closed by its reader.",
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
    from fastcheck.cli.guard import non_utf8_argument, stdout_closed, user_code

    argv = sys.argv[1:] if argv is None else list(argv)
    bad = non_utf8_argument(argv)
    if bad:  # before any work: what is computed could not be written or reported
        print(f"fastcheck: error: {bad}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    what = f"fastcheck {args.command}: error:"
    try:
        with user_code():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fastcheck … | head`: the reader has what it wanted
        stdout_closed()
        return BROKEN_PIPE
    except SystemExit as exc:  # argparse is done by now: this came from the user's code
        print(f"{what} user code called sys.exit({exc.code!r}); nothing was checked", file=sys.stderr)
        return 2
    except UserExit as exc:
        print(f"{what} user code called os._exit({exc.code!r}); nothing was checked", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line, exit 2; --debug shows the traceback
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]
        print(f"{what} {msg}", file=sys.stderr)
        return 2
    except BaseException as exc:  # asyncio.CancelledError, GeneratorExit, ...: only user code raises these here
        if args.debug:
            raise
        name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"{what} user code raised {name}{': ' + text if text else ''} (a BaseException, not an "
              "Exception); nothing was checked", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
