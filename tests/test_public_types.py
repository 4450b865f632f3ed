"""Every public name carries type hints (issue 27, item 7): each parameter and each return of the functions
and methods ``fastcheck`` exports, the options of every check included (they come from ``CheckOptions``'
fields and ``OPTION_TYPES``), and each annotation is a Python expression an editor can read."""
import ast
import inspect

import pytest

import fastcheck


def _public_callables():
    for name in sorted(fastcheck.__all__):
        obj = getattr(fastcheck, name)
        if inspect.isclass(obj):
            for member, fn in vars(obj).items():
                if (not member.startswith("_") or member == "__init__") and inspect.isfunction(fn):
                    yield f"{name}.{member}", fn
        elif callable(obj) and not inspect.ismodule(obj):
            yield name, obj


CALLABLES = dict(_public_callables())


def test_the_public_api_is_large_enough_to_mean_something():
    assert {"check_gradient", "check_model", "check_hessian", "taylor_test", "Layout.flatten"} <= set(CALLABLES)


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_every_parameter_and_return_is_annotated(name):
    sig = inspect.signature(CALLABLES[name])
    bare = [p.name for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    assert not bare, f"{name}: parameters without a type hint: {bare}"
    if not name.endswith("__init__"):
        assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
    for p in sig.parameters.values():
        if isinstance(p.annotation, str):
            ast.parse(p.annotation, mode="eval")  # a SyntaxError names the broken hint


def test_a_checks_options_are_typed_from_the_one_options_object():
    sig = inspect.signature(fastcheck.check_gradient)
    assert sig.parameters["eps"].annotation == "float | str | ArrayLike | None"
    assert sig.parameters["workers"].annotation == "int | str"
    assert inspect.signature(fastcheck.check_layer).parameters["n_douts"].annotation == "int"
    assert sig.return_annotation == "CheckResult"
