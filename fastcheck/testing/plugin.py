"""The pytest plugin: gradient checks as ordinary tests.

Installed with fastcheck (entry point ``pytest11``), so pytest loads it by itself; without the entry
point (a plain source checkout), ``-p fastcheck.testing.plugin`` loads it.

* The fixture ``gradcheck``: call it as :func:`fastcheck.check_gradient` (same arguments); it returns the
  :class:`~fastcheck.CheckResult` when the check passes and fails the test with the headline, the per-block
  table and the worst coordinates when it does not.  Its methods run the other checks the same way:
  ``gradcheck.model(model, theta, X, y)``, ``.object(net, X, y)``, ``.functions(forward, backward, params,
  X, Y)``, ``.layer(forward, backward, inputs)``, ``.jacobian(fn, x, jac)``, ``.sequential(stages, params,
  x, grads)``, ``.directional(cost, theta, grad)``.  ``expect="wrong"`` (or ``expect="fail"``) inverts
  the assertion, for a test that a planted bug is caught.
* ``--gradcheck=full|screen|off`` chooses the depth for the whole run: ``full`` (the default) runs each
  check as asked; ``screen`` runs the screening check (``strategy="screen"``: group tests along random
  directions per block, failing groups split down to the wrong coordinates, which get a full check) where
  the check has it (``gradcheck(...)``, ``.model``, ``.object``, ``.functions``, ``.layer``), a
  directional check of 8 directions for ``.directional``, and a sample of 8 coordinates per block where
  the check has neither (``.jacobian``, ``.sequential``).  A screened pass states what it resolves: the
  smallest error in a single coordinate its tests would have caught, in the failure message and in
  ``result.blocks["detectable"]``; ``off`` skips every test that uses the fixture or carries the marker.
* The marker ``@pytest.mark.gradcheck``: tags a test as a gradient check (tests using the fixture get it
  automatically, so ``-m gradcheck`` / ``-m "not gradcheck"`` select them); its keyword arguments are
  default options of that test's checks, and ``depth="full"`` pins a test to the full check whatever
  ``--gradcheck`` says.
* Assertions on results explain themselves: ``assert result.passed`` shows the result's one-line summary
  (its ``repr``), and a comparison with a result on either side (``assert result == "great"``) adds its
  whole table (``pytest_assertrepr_compare``).

One session shares one worker pool and one compile cache: fastcheck keeps its process pool warm between
checks (started on first need, reused by every later check) and compiles each cost and kernel once per
process; its own functions load from the on-disk cache.

This module imports only pytest at load time: NumPy, Numba and pandas come with the first check.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest

DEPTHS = ("full", "screen", "off")
#: Directions of ``.directional`` under ``--gradcheck=screen``, and coordinates per block where a check has
#: no screening form (``.jacobian``, ``.sequential``).
SCREEN_DIRECTIONS = 8
SCREEN_SAMPLE = 8
#: The verdicts ``expect=`` accepts: "pass" (the default), or a failure ("fail": wrong or inconclusive).
EXPECT = ("pass", "fail", "wrong", "inconclusive")


def pytest_addoption(parser) -> None:
    group = parser.getgroup("fastcheck", "gradient checks (fastcheck)")
    group.addoption("--gradcheck", choices=DEPTHS, default=None, dest="gradcheck_depth",
                    help="depth of the gradient checks of the gradcheck fixture and marker: full (every check as "
                         "asked), screen (the screening check, strategy='screen': group tests per block, "
                         "wrong coordinates localised and confirmed), off (skip them); default: full")
    parser.addini("gradcheck", "default --gradcheck depth (full, screen or off)", default="full")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(depth=None, **options): a gradient check (fastcheck); options are defaults of the test's "
        "gradcheck calls, depth='full' pins the depth; skipped by --gradcheck=off",
    )


def _depth(config) -> str:
    depth = config.getoption("gradcheck_depth", None) or config.getini("gradcheck") or "full"
    if depth not in DEPTHS:
        raise pytest.UsageError(f"gradcheck depth must be one of {', '.join(DEPTHS)}, got {depth!r}")
    return depth


def pytest_collection_modifyitems(config, items) -> None:
    off = _depth(config) == "off"
    for item in items:
        uses = "gradcheck" in getattr(item, "fixturenames", ())
        marker = item.get_closest_marker("gradcheck")
        if uses and marker is None:
            item.add_marker(pytest.mark.gradcheck)
            marker = item.get_closest_marker("gradcheck")
        if off and marker is not None and marker.kwargs.get("depth") != "full":
            item.add_marker(pytest.mark.skip(reason="gradient checks are off (--gradcheck=off)"))


def pytest_assertrepr_compare(config, op, left, right):
    results = [side for side in (left, right) if _is_result(side)]
    if not results:
        return None
    lines = [f"{_short(left)} {op} {_short(right)}"]
    for result in results:
        lines += ["", *result.to_string().splitlines()]
    return lines


def _is_result(obj) -> bool:
    from sys import modules

    mod = modules.get("fastcheck.checks.result")
    return mod is not None and isinstance(obj, mod.CheckResult)


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 120 else text[:117] + "..."


class GradCheck:
    """The ``gradcheck`` fixture: the check functions as assertions (see the module's docstring)."""

    def __init__(self, depth: str = "full", defaults: dict | None = None):
        self.depth = depth
        self.defaults = dict(defaults or {})
        self.results: list = []

    @property
    def __signature__(self) -> inspect.Signature:
        """``check_gradient``'s signature plus ``expect`` (what ``inspect.signature(gradcheck)`` and IDEs show)."""
        from fastcheck.checks.gradient import check_gradient

        params = list(inspect.signature(check_gradient).parameters.values())
        expect = inspect.Parameter("expect", inspect.Parameter.KEYWORD_ONLY, default="pass")
        tail = [p for p in params if p.kind is p.VAR_KEYWORD]
        return inspect.Signature([p for p in params if p.kind is not p.VAR_KEYWORD] + [expect] + tail)

    # -- the checks ------------------------------------------------------------------------------------
    def __call__(self, cost, theta, grad, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_gradient` as an assertion (its arguments, plus ``expect``)."""
        from fastcheck.checks.gradient import check_gradient

        return self._run(check_gradient, (cost, theta, grad, *args), self._screened(options), expect)

    def directional(self, cost, theta, grad, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_directional` as an assertion (screen: 8 directions unless asked)."""
        from fastcheck.checks.directional import check_directional

        if self.depth == "screen":
            options = {"directions": SCREEN_DIRECTIONS, **options}
        return self._run(check_directional, (cost, theta, grad, *args), options, expect)

    def model(self, model, theta, X, y, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_model` as an assertion (screen: ``strategy="screen"``)."""
        from fastcheck.checks.model import check_model

        return self._run(check_model, (model, theta, X, y, *args), self._screened(options), expect)

    def object(self, net, X, y, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_object` as an assertion (screen: ``strategy="screen"``)."""
        from fastcheck.inputs.adapters import check_object

        return self._run(check_object, (net, X, y, *args), self._screened(options), expect)

    def functions(self, forward, backward, parameters, X, Y, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_functions` as an assertion (screen: ``strategy="screen"``)."""
        from fastcheck.inputs.adapters import check_functions

        return self._run(check_functions, (forward, backward, parameters, X, Y, *args), self._screened(options),
                         expect)

    def layer(self, forward, backward, inputs, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_layer` as an assertion (screen: ``strategy="screen"``)."""
        from fastcheck.inputs.layers import check_layer

        return self._run(check_layer, (forward, backward, inputs, *args), self._screened(options), expect)

    def jacobian(self, fn, x, jac, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_jacobian` as an assertion (screen: ``sample=8``)."""
        from fastcheck.inputs.layers import check_jacobian

        return self._run(check_jacobian, (fn, x, jac, *args), self._screen_sample(options), expect)

    def sequential(self, stages, params, x, grads, *args: Any, expect: str = "pass", **options: Any):
        """:func:`fastcheck.check_sequential` as an assertion (screen: ``sample=8`` per block)."""
        from fastcheck.checks.sequential import check_sequential

        return self._run(check_sequential, (stages, params, x, grads, *args), self._screen_sample(options), expect)

    # -- how -------------------------------------------------------------------------------------------
    def _options(self, fn, options: dict) -> dict:
        merged = {**self.defaults, **options}
        accepted = _keywords(fn)
        return merged if accepted is None else {k: v for k, v in merged.items() if k in accepted or k in options}

    def _screened(self, options: dict) -> dict:
        """``strategy="screen"`` under ``--gradcheck=screen``, unless the test asked for particular coordinates,
        directions or a strategy of its own."""
        asked = ("strategy", "coords", "sample", "directions", "directional")
        if self.depth != "screen" or any(options.get(k) is not None for k in asked):
            return options
        return {**options, "strategy": "screen"}

    def _screen_sample(self, options: dict) -> dict:
        if self.depth != "screen" or options.get("coords") is not None or options.get("sample") is not None:
            return options
        return {**options, "sample": SCREEN_SAMPLE}

    def _run(self, fn, args: tuple, options: dict, expect: str):
        if expect not in EXPECT:
            raise ValueError(f"expect must be one of {', '.join(EXPECT)}, got {expect!r}")
        result = fn(*args, **self._options(fn, options))
        self.results.append(result)
        depth = "" if self.depth == "full" else f" (--gradcheck={self.depth}: {_what(result)})"
        if expect == "pass" and not result.passed:
            pytest.fail(f"{fn.__name__} did not pass{depth}:\n\n{result.to_string()}", pytrace=False)
        if expect != "pass" and (result.passed or (expect != "fail" and result.verdict != expect)):
            pytest.fail(f"{fn.__name__}: expected {expect}, got {result.verdict}{depth}\n\n{result.to_string()}",
                        pytrace=False)
        return result


def _what(result) -> str:
    if result.kind == "directional":
        return f"a directional check of {len(result.coords)} directions"
    if "detectable" in getattr(result.blocks, "columns", ()):
        import numpy as np

        coarsest = float(np.nanmax(result.blocks["detectable"])) if len(result.blocks) else float("nan")
        return (f"a screen: {result.n_evals} cost evaluations, {len(result.coords)} of {result.n_params} "
                f"coordinates checked one by one, a single coordinate off by more than {coarsest:.2e} caught")
    return f"{len(result.coords)} of {result.n_params} coordinates checked"


@functools.lru_cache(maxsize=None)
def _keywords(fn):
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


@pytest.fixture
def gradcheck(request) -> GradCheck:
    """Gradient checks as assertions: ``gradcheck(cost, theta, grad, **options)`` is
    :func:`fastcheck.check_gradient` that fails the test (with the per-block table and the worst
    coordinates) unless the check passes, and returns the :class:`~fastcheck.CheckResult`; see
    :mod:`fastcheck.testing.plugin` for ``.model``, ``.object``, ``.layer``, ... and ``--gradcheck``."""
    marker = request.node.get_closest_marker("gradcheck")
    defaults = dict(marker.kwargs) if marker is not None else {}
    pinned = defaults.pop("depth", None)
    depth = pinned or _depth(request.config)
    if pinned is not None and pinned not in DEPTHS:
        raise pytest.UsageError(f"@pytest.mark.gradcheck(depth=...) must be one of {', '.join(DEPTHS)}, got {pinned!r}")
    if depth == "off":
        pytest.skip("gradient checks are off (--gradcheck=off)")
    return GradCheck(depth, defaults)
