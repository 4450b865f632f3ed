"""Calling the user's callables: which of the accepted argument lists a callable takes, and a clear
error when it takes none of them.

:func:`pick_call` reads the signature (``inspect.signature``) when Python can give one; when it cannot
(some builtins and C extensions), :func:`call_fitting` tries the argument lists in turn and treats a
``TypeError`` as a misfit only when it was raised by the call itself, never one raised inside the
user's code.
"""
from __future__ import annotations

import inspect

__all__ = ["call_fitting", "describe", "pick_call", "takes"]


def takes(fn, n: int):
    """True if ``fn`` accepts ``n`` positional arguments, False if it does not, None when its signature is
    unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*([None] * n))
    except TypeError:
        return False
    return True


def describe(fn) -> str:
    """``name(signature)`` of a callable, for error messages."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    try:
        return f"{name}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return name


def pick_call(fn, counts, what: str, forms: str):
    """The first of ``counts`` (numbers of positional arguments) that ``fn`` accepts; None when the signature
    is unknown.  ``what`` names the callable, ``forms`` the accepted argument lists, for the error:
    ``TypeError("grads must take (params) or (params, x); grads(a, b, c) does not")``."""
    if not callable(fn):
        raise TypeError(f"{what} must be callable taking {forms}, got {type(fn).__name__}")
    unknown = False
    for n in counts:
        ok = takes(fn, n)
        if ok:
            return n
        unknown = unknown or ok is None
    if unknown:
        return None
    raise TypeError(f"{what} must take {forms}; {describe(fn)} does not")


def _raised_by_call(exc: BaseException) -> bool:
    """The TypeError came from binding the arguments (no frame of the callee's Python code below ours)."""
    tb = exc.__traceback__
    return tb is not None and tb.tb_next is None


def call_fitting(fn, arglists, what: str, forms: str):
    """``fn(*args)`` for the first of ``arglists`` it accepts: by signature when known, else by trying
    (a TypeError raised inside ``fn`` propagates as it is)."""
    n = pick_call(fn, [len(a) for a in arglists], what, forms)
    if n is not None:
        return fn(*next(a for a in arglists if len(a) == n))
    for args in arglists:
        try:
            return fn(*args)
        except TypeError as exc:
            if not _raised_by_call(exc):
                raise
    raise TypeError(f"{what} must take {forms}; {describe(fn)} does not")
