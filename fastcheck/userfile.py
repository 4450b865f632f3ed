"""Load a user's function from ``path/to/file.py:function``."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


class UserFileError(ValueError):
    """The user's file or function could not be loaded."""


def load_callable(target: str, default: str = "make"):
    """Import ``path/to/file.py`` and return its ``function``.

    ``target`` is ``"path/to/file.py:function"``; without ``:function`` the
    function ``default`` is taken.  The file's folder is put on ``sys.path``
    while it imports, so it can import its neighbours.
    """
    path_str, _, name = str(target).partition(":")
    name = name or default
    path = Path(path_str)
    if not path.is_file():
        raise UserFileError(f"no such file: {path_str}")
    module_name = f"_fastcheck_user_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserFileError(f"{path_str} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # exit code 0 would read as a passed check
        raise UserFileError(f"{path_str} called sys.exit({exc.code!r}) while importing; nothing was checked") from None
    except Exception as exc:
        raise UserFileError(f"{path_str} does not import: {type(exc).__name__}: {exc}") from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    fn = getattr(module, name, None)
    if fn is None:
        raise UserFileError(f"{path_str} has no function {name!r}")
    if not callable(fn):
        raise UserFileError(f"{path_str}:{name} is not callable")
    return fn


def call_user(fn, what: str):
    """``fn()``; an exception or a ``sys.exit`` in it becomes a :class:`UserFileError` naming ``what``."""
    try:
        return fn()
    except SystemExit as exc:  # exit code 0 would read as a passed check
        raise UserFileError(f"{what} called sys.exit({exc.code!r}); nothing was checked") from None
    except Exception as exc:
        raise UserFileError(f"{what} raised {type(exc).__name__}: {exc}") from exc
