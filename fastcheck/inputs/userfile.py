"""Load a user's function from ``path/to/file.py:function``: the one loader of user files.

The command line (``fastcheck check file.py:make``) and the sweeps (a
``file.py:make`` problem) load user files here.  The module gets a name
derived from the file's absolute path (stable across processes, so Numba's
cache and pickling by reference find it again), is registered in
``sys.modules`` while it lives, and may import the modules beside it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from fastcheck.errors import UserExit, UserFileError

__all__ = ["call_user", "load_callable", "module_name_of"]


def load_callable(target: str, default: str = "make"):
    """Import ``path/to/file.py`` and return its ``function``.

    ``target`` is ``"path/to/file.py:function"``; without ``:function`` the
    function ``default`` is taken.  The file's folder is put on ``sys.path``
    while it imports, so it can import its neighbours.
    """
    path_str, sep, name = str(target).rpartition(":")
    if not sep or not name.isidentifier():  # no ":function" (a ":" may belong to the path)
        path_str, name = str(target), default
    path = Path(path_str)
    if not path.is_file():
        raise UserFileError(f"no such file: {path_str}")
    module_name = module_name_of(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserFileError(f"{path_str} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # lets Numba and pickle find the module's functions
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserFileError(f"{path_str} {_what_happened(exc, 'does not import: ')}"
                            + (" while importing; nothing was checked" if _exited(exc) else "")) from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    fn = getattr(module, name, None)
    if fn is None:
        raise UserFileError(f"{path_str} has no function {name!r}")
    if not callable(fn):
        raise UserFileError(f"{path_str}:{name} is not callable")
    return fn


def module_name_of(path) -> str:
    """The module name of a user file: its stem and the sha1 of its absolute path."""
    path = Path(path)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"_fastcheck_user_{stem}_{digest}"


def call_user(fn, what: str):
    """``fn()``; an exception or a ``sys.exit`` in it becomes a :class:`UserFileError` naming ``what``."""
    try:
        return fn()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise UserFileError(f"{what} {_what_happened(exc, 'raised ')}"
                            + ("; nothing was checked" if _exited(exc) else "")) from exc


def _exited(exc: BaseException) -> bool:
    return isinstance(exc, (SystemExit, UserExit))


def _what_happened(exc: BaseException, lead: str) -> str:
    """``sys.exit(0)``, ``os._exit(0)`` (exit code 0 would read as a passed check: an error), or the exception
    (one not derived from Exception, such as asyncio.CancelledError, said to be so)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, UserExit):
        return f"called os._exit({exc.code!r})"
    kind = "" if isinstance(exc, Exception) else " (a BaseException, not an Exception)"
    return f"{lead}{type(exc).__name__}{kind}: {exc}"
