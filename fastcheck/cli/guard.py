"""What the command line does around user code: exits noticed, stdout kept for fastcheck, arguments in UTF-8.

* :func:`user_code`: while the block runs, ``os._exit(code)`` called in this
  process raises :class:`~fastcheck.errors.UserExit` instead of ending it, so a
  user file that ends the process at import, in ``make()`` or in the cost is
  an error (exit 2, "nothing was checked"), never a silent exit 0.  (An exit
  from C code, ``libc.exit`` through ctypes, cannot be noticed in-process.)
* :func:`stdout_to_stderr`: what user code prints (Python's ``print``, and
  C-level writes to file descriptor 1) goes to stderr, so stdout carries
  fastcheck's report only and ``--json`` stays one JSON document.
* :func:`stdout_closed`: after a broken pipe (``fastcheck check … | head -1``)
  the rest of the output goes to /dev/null, quietly.
* :func:`non_utf8_argument`: an argument holding bytes that are not UTF-8 (a
  name decoded with surrogate escapes) is refused before any work, as the
  files fastcheck writes record names in UTF-8.
"""
from __future__ import annotations

import contextlib
import os
import sys

from fastcheck.errors import UserExit

__all__ = ["non_utf8_argument", "stdout_closed", "stdout_to_stderr", "user_code"]


@contextlib.contextmanager
def user_code():
    """Run the block with ``os._exit`` of this process raising :class:`UserExit`."""
    import posix

    real = os._exit
    pid = os.getpid()

    def raising_exit(code):
        if os.getpid() != pid:  # a forked child ends as it asked
            real(code)
        raise UserExit(code)

    os._exit = posix._exit = raising_exit
    try:
        yield
    finally:
        os._exit = posix._exit = real


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers (what a C extension printf'd), best effort."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # pragma: no cover - no C library to ask
        pass


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what is written to stdout during the block to stderr (Python level and file descriptor 1)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 at all
        saved = None
    if saved is not None:
        try:
            os.dup2(2, 1)
        except OSError:
            os.close(saved)
            saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        _flush_c_stdio()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def stdout_closed() -> None:
    """The reader of stdout went away: send the rest (and the final flush) to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:  # pragma: no cover
        pass


def non_utf8_argument(argv) -> str:
    """A message naming the first argument that is not valid UTF-8, or "" when every one is."""
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            try:
                bad = exc.object[exc.start:exc.end].encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate that stands for no byte
                bad = exc.object[exc.start:exc.end]
            return (f"argument {i + 1} ({arg!r}) holds bytes that are not UTF-8 ({bad!r}); fastcheck writes "
                    "names and paths into UTF-8 files and output, so rename it (or pass a UTF-8 name)")
    return ""
