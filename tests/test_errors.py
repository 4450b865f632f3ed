"""Every exception and warning of fastcheck lives in fastcheck.errors, and the public ones are exported."""
import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import fastcheck
from fastcheck import errors

PACKAGE = Path(fastcheck.__file__).parent
#: Classes allowed outside errors.py (none).
PENDING = set()


def _modules():
    for info in pkgutil.walk_packages(fastcheck.__path__, "fastcheck."):
        if info.name != "fastcheck.__main__":  # runs the command line when imported
            yield importlib.import_module(info.name)


def _exception_classes(module):
    return {name: obj for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__}


def test_no_exception_or_warning_is_defined_outside_errors():
    outside = sorted(f"{m.__name__}.{name}" for m in _modules() if m is not errors
                     for name in _exception_classes(m) if name not in PENDING)
    assert not outside, f"define these in fastcheck/errors.py and import them from there: {outside}"


def _looks_like_exception(base: ast.expr) -> bool:
    name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
    builtin = getattr(builtins, name, None)
    return (inspect.isclass(builtin) and issubclass(builtin, BaseException)) or name.endswith(("Error", "Warning"))


def test_no_exception_class_is_defined_inside_a_function_either():
    """What importing cannot see: classes defined in function bodies, or under ``if``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name not in PENDING and any(map(_looks_like_exception,
                                                                                           node.bases)):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not found, f"exception classes outside fastcheck/errors.py: {found}"


ALL_ERRORS = _exception_classes(errors)


@pytest.mark.parametrize("name", sorted(ALL_ERRORS))
def test_every_exception_is_exported_or_internal(name):
    if name in errors.INTERNAL:
        assert name not in fastcheck.__all__ and name not in errors.__all__
        assert "internal" in (ALL_ERRORS[name].__doc__ or "").lower(), f"{name}'s docstring should say it is internal"
    else:
        assert name in errors.__all__, f"{name} is neither in fastcheck.errors.__all__ nor in errors.INTERNAL"
        assert name in fastcheck.__all__ and getattr(fastcheck, name) is ALL_ERRORS[name], (
            f"export {name} from fastcheck/__init__.py")


@pytest.mark.parametrize("name", sorted(ALL_ERRORS))
def test_every_error_subclasses_a_builtin_a_user_would_catch(name):
    cls = ALL_ERRORS[name]
    assert cls.__doc__, f"{name} needs a docstring"
    if name in errors.INTERNAL:
        return
    catchable = (ValueError, TypeError, RuntimeError, OSError, AssertionError, Warning)  # AssertionError: a failed test
    assert issubclass(cls, catchable), f"{name} should subclass one of {[c.__name__ for c in catchable]}"
    if issubclass(cls, Warning):
        assert cls.__mro__[1] in (UserWarning, RuntimeWarning, DeprecationWarning), name


def test_errors_module_lists_only_what_it_defines():
    assert sorted(errors.__all__) == sorted(n for n in ALL_ERRORS if n not in errors.INTERNAL)
    assert set(errors.INTERNAL) <= set(ALL_ERRORS)


def test_the_errors_raised_where_they_were_are_the_same_classes():
    """Modules that raise an error use the class of fastcheck.errors (no copies)."""
    from fastcheck.core import layout
    from fastcheck.evaluators import sequential
    from fastcheck.inputs import layers, targets
    from fastcheck.support import files, resources

    assert layers.LayerError is fastcheck.LayerError and sequential.StageError is fastcheck.StageError
    assert targets.TargetError is fastcheck.TargetError and layout.ShapeNoteWarning is fastcheck.ShapeNoteWarning
    assert resources.ResourceError is fastcheck.ResourceError and files.DirectoryBusyError is fastcheck.DirectoryBusyError
