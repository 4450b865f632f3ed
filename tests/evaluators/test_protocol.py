"""The evaluator protocol (fastcheck.evaluators.protocol): capabilities as data, one wrapper base.

Every evaluator declares what it can do as a :class:`Capabilities`; every
evaluator built on another one derives from :class:`Wrapper`, which forwards
every member of the protocol, so a member added to :class:`Evaluator` later
cannot be forgotten by a wrapper (the introspection below fails first).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import fastcheck
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.evaluators.pool import ChunkedEvaluator
from fastcheck.evaluators.protocol import Capabilities, Evaluator, Wrapper
from fastcheck.inputs.stages import InOrder
from fastcheck.sweep.shared import SharedStencil

#: Every public member of the protocol, read from the class: a new one is covered without editing this file.
MEMBERS = sorted(n for n in dir(Evaluator) if not n.startswith("_"))
METHODS = [n for n in MEMBERS if inspect.isfunction(inspect.getattr_static(Evaluator, n))]
DATA = [n for n in MEMBERS if n not in METHODS]
#: The flags the capabilities replaced (read as ``ev.<flag>`` before).
OLD_FLAGS = ("holds_blas", "deterministic", "native_precision", "finds_kinks", "has_complex_step", "has_directions",
             "calls_user_cost")


def _recording(name):
    def method(self, *args):
        self.calls.append((name, args))
        return (name, args)

    return method


#: An evaluator whose every member is a distinct object and whose every method records its call.
Recorder = type("Recorder", (Evaluator,), {**{n: _recording(n) for n in METHODS}, **{n: object() for n in DATA}})


def test_the_protocol_is_what_the_checks_ask_for():
    assert set(METHODS) >= {"value", "prepare", "stencil", "complex_step", "directions", "kinks"}
    assert set(DATA) >= {"caps", "path", "note", "compile_seconds", "eval_seconds", "threads", "parallel_workers"}


def test_the_wrapper_defines_every_member_of_the_protocol():
    missing = [n for n in MEMBERS if n not in vars(Wrapper)]
    assert not missing, f"Wrapper must forward {missing} to its base (fastcheck/evaluators/protocol.py)"


@pytest.mark.parametrize("name", DATA)
def test_the_wrapper_forwards_each_attribute(name):
    base = Recorder()
    assert getattr(Wrapper(base), name) is getattr(base, name)


@pytest.mark.parametrize("name", METHODS)
def test_the_wrapper_forwards_each_method_with_its_arguments(name):
    base = Recorder()
    base.calls = []
    n_args = len(inspect.signature(getattr(Evaluator, name)).parameters) - 1  # without self
    args = tuple(object() for _ in range(n_args))
    got = getattr(Wrapper(base), name)(*args)
    assert base.calls == [(name, args)]
    assert got == ((name, args) if name != "prepare" else None)  # prepare returns nothing


def test_a_wrapper_overrides_only_what_it_changes_and_reads_the_base_live():
    class Doubled(Wrapper):
        def value(self, theta):
            return 2 * self.base.value(theta)

    base = LoopEvaluator(lambda t: float(np.sum(t**2)))
    ev = Doubled(base)
    theta = np.array([1.0, 2.0, 3.0])
    assert ev.eval_seconds == float("inf")  # not timed yet
    assert ev.value(theta) == 28.0
    assert ev.eval_seconds == base.eval_seconds < float("inf")  # the base's timing, as it is now
    base.note = "a remark"
    assert (ev.note, ev.path, ev.threads, ev.parallel_workers, ev.cost) == ("a remark", "loop", 1, 1, base.cost)
    assert ev.caps is base.caps and ev.caps.calls_user_cost
    coords, steps, offsets = np.arange(3), np.full(3, 1e-3), np.array([-1.0, 1.0])
    np.testing.assert_array_equal(ev.stencil(theta, coords, steps, offsets), base.stencil(theta, coords, steps, offsets))


def test_capabilities_are_frozen_data_with_cautious_defaults():
    caps = Capabilities()
    assert not any(dataclasses.asdict(caps).values())
    assert {f.name for f in dataclasses.fields(Capabilities)} == {
        "holds_blas", "deterministic", "native_precision", "finds_kinks", "complex_step", "directions",
        "calls_user_cost"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.deterministic = True


def _all_evaluator_classes():
    for info in pkgutil.walk_packages(fastcheck.__path__, "fastcheck."):
        if not info.name.endswith("__main__"):  # (running it would start the command line)
            importlib.import_module(info.name)
    seen, todo = set(), [Evaluator]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("fastcheck."):
                seen.add(sub)
                todo.append(sub)
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def test_every_evaluator_declares_capabilities_and_none_keeps_the_old_flags():
    classes = _all_evaluator_classes()
    assert {c.__name__ for c in classes} >= {"LoopEvaluator", "JitEvaluator", "SequentialEvaluator", "LayeredEvaluator",
                                             "BlackBoxModelEvaluator", "ChunkedEvaluator", "InOrder", "SharedStencil",
                                             "LayerModelEvaluator"}
    for cls in classes:
        caps = inspect.getattr_static(cls, "caps")
        assert isinstance(caps, (Capabilities, property)), f"{cls.__qualname__}.caps is {caps!r}"
        kept = [f for f in OLD_FLAGS if hasattr(cls, f)]
        assert not kept, f"{cls.__qualname__} still has {kept}: declare them in its caps"


def test_the_wrappers_are_wrappers():
    for cls in (ChunkedEvaluator, InOrder, SharedStencil):
        assert issubclass(cls, Wrapper)


def test_nothing_forwards_through_getattr():
    package = Path(fastcheck.__file__).parent
    found = [f"{path.relative_to(package)}: {cls.name}" for path in sorted(package.rglob("*.py"))
             for cls in ast.walk(ast.parse(path.read_text())) if isinstance(cls, ast.ClassDef)
             for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]
    assert not found, f"forward the protocol through evaluators.protocol.Wrapper, not __getattr__: {found}"
