"""The problem registry, the spec parser, and the conversion of anything checkable into a :class:`Problem`."""
from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

import numpy as np

from fastcheck.core.validate import as_theta
from fastcheck.errors import ProblemError, TargetError, UserFileError
from fastcheck.inputs.targets import classify, is_model, split_cost
from fastcheck.inputs.userfile import call_user, load_callable
from fastcheck.problems.problem import Problem, is_file_spec

__all__ = ["PROBLEMS", "SIZES_PATTERN", "estimated_bytes", "get_problem", "list_problems", "parse_spec",
           "problem_from_model", "register"]


#: name -> (factory, one-line description).  Factories take the parsed
#: positional and keyword options of the spec string.
PROBLEMS: dict = {}
#: Old names still accepted for one release: old -> new.
ALIASES = {"seed": "tutorial", "seed-numpy": "tutorial-numpy"}


def register(name: str, description: str):
    """Decorator adding a problem factory to :data:`PROBLEMS`."""

    def deco(factory):
        PROBLEMS[name] = (factory, description)
        return factory

    return deco


def list_problems():
    """The registry as a DataFrame (name, description)."""
    import pandas as pd

    return pd.DataFrame([{"name": k, "description": d} for k, (_, d) in PROBLEMS.items()])


_SPEC = re.compile(r"^(?P<name>[A-Za-z_][\w.-]*)(?::(?P<opts>.*))?$")
SIZES_PATTERN = re.compile(r"^\d+(?:-\d+)+$")


def parse_spec(spec: str):
    """``"mlp:784-128-10,batch=64"`` -> ``("mlp", ["784-128-10"], {"batch": "64"})``."""
    text = spec.strip()
    if SIZES_PATTERN.match(text):
        return "mlp", [text], {}
    m = _SPEC.match(text)
    if not m:
        raise ProblemError(f"cannot read problem {spec!r}; expected NAME[:OPTIONS] (one of {sorted(PROBLEMS)}) or FILE.py:FUNCTION")
    pos, kw = [], {}
    for part in filter(None, (p.strip() for p in (m.group("opts") or "").split(","))):
        if "=" in part:
            k, v = part.split("=", 1)
            kw[k.strip()] = v.strip()
        else:
            pos.append(part)
    return m.group("name"), pos, kw


def get_problem(spec, name: str | None = None) -> Problem:
    """Turn anything fastcheck can check into a :class:`Problem`.

    Parameters
    ----------
    spec : str, Problem, tuple or model
        See the module docstring.
    name : str, optional
        Label for the result tables (default: the spec string, or the cost's
        name for a tuple).

    Raises
    ------
    ProblemError
        An unknown name, bad options, or a file that cannot be loaded.
    """
    if isinstance(spec, Problem):
        return spec if name is None else _renamed(spec, name)
    if isinstance(spec, str):
        p = _from_string(spec.strip())
        return p if name is None else _renamed(p, name)
    if isinstance(spec, tuple):
        return _from_tuple(spec, name)
    if is_model(spec):
        return problem_from_model(spec, name=name)
    raise ProblemError(
        f"cannot make a problem of {type(spec).__name__}; give a registry name, FILE.py:FUNCTION,"
        " a (cost, theta, grad[, args]) tuple or a fastcheck.models network"
    )


def _renamed(p: Problem, name: str) -> Problem:
    return Problem(name, p.cost, p.theta, p.grad, p.args, p.layout, p.model, p.data, p.spec, p.description)


@functools.lru_cache(maxsize=32)
def _from_string(spec: str) -> Problem:
    # Cached: a Dask worker sees the same spec for many grid points, and the
    # cached Problem keeps its evaluators (and their compiled kernels) warm.
    if is_file_spec(spec):
        return _from_file(spec)
    name, pos, kw = parse_spec(spec)
    if name in ALIASES:
        warnings.warn(f"problem {name!r} is now called {ALIASES[name]!r}", DeprecationWarning, stacklevel=3)
        name = ALIASES[name]
    if name not in PROBLEMS:
        raise ProblemError(f"unknown problem {name!r}; known problems: {sorted(PROBLEMS)} (or FILE.py:FUNCTION)")
    factory = PROBLEMS[name][0]
    try:
        p = factory(*pos, **kw)
    except TypeError as exc:
        raise ProblemError(f"bad options for problem {name!r}: {exc}") from None
    return Problem(spec, p.cost, p.theta, p.grad, p.args, p.layout, p.model, p.data, spec, p.description)


def _from_file(spec: str) -> Problem:
    path_text, func = spec.rsplit(":", 1)
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ProblemError(f"problem file {path_text!r} does not exist")
    if not func.isidentifier():
        raise ProblemError(f"{func!r} in {spec!r} is not a function name")
    try:
        make = load_callable(f"{path}:{func}")
    except UserFileError as exc:
        raise ProblemError(f"cannot load problem file {path_text!r}: {exc}") from None
    try:
        made = call_user(make, f"{spec}: calling {func}()")
    except UserFileError as exc:
        raise ProblemError(str(exc)) from None
    p = get_problem(made, name=spec)
    # Workers rebuild the problem from the absolute path, whatever their cwd.
    return Problem(spec, p.cost, p.theta, p.grad, p.args, p.layout, p.model, p.data, f"{path.resolve()}:{func}", p.description)


def estimated_bytes(spec, threads: int = 1) -> tuple:
    """``(n_params, bytes)`` a check of registry problem ``spec`` would need, read from the
    spec alone (nothing is built); ``(None, None)`` when the spec does not tell."""
    from fastcheck.support.resources import check_bytes, mlp_bytes

    if not isinstance(spec, str) or is_file_spec(spec.strip()):
        return None, None
    try:
        name, pos, kw = parse_spec(spec)
        if name == "mlp" and pos and SIZES_PATTERN.match(pos[0]):
            return mlp_bytes(pos[0].split("-"), int(kw.get("batch", 64)), threads)
        if name == "smooth":
            n = int(kw.get("n", pos[0] if pos else 20))
            return n, check_bytes(n, threads)
    except (ProblemError, ValueError):
        pass  # the factory will say what is wrong
    return None, None


def _from_tuple(t: tuple, name) -> Problem:
    try:
        target_type = classify(t)
    except TargetError as exc:
        raise ProblemError(str(exc)) from None
    if target_type == "model":
        model, theta, X, y = t
        return problem_from_model(model, theta=theta, X=X, y=y, name=name)
    if target_type != "cost":
        raise ProblemError(f"a sweep takes a (cost, theta, grad[, args][, layout]) or a (model, theta, X, y) "
                           f"tuple; this one is a {target_type} check (run it with `fastcheck check`)")
    try:
        cost, theta, grad, args, layout = split_cost(t)
    except TargetError as exc:
        raise ProblemError(str(exc)) from None
    return Problem(name or getattr(cost, "__name__", "problem"), cost, _as_theta(theta), grad, args, layout)


def _as_theta(theta) -> np.ndarray:
    try:
        arr = as_theta(theta)
    except (TypeError, ValueError) as exc:
        raise ProblemError(str(exc)) from None
    # A problem keeps its own float64 copy: sweeps cast it, never the caller's array.
    return np.array(arr, dtype=np.float64)


def problem_from_model(model, *, theta=None, X=None, y=None, batch=64, seed=0, name=None, description="") -> Problem:
    """The :class:`Problem` of a built-in :mod:`fastcheck.models` network: θ from ``model.init(seed)`` and a
    sampled batch unless given; named ``mlp:<sizes>`` unless ``name`` is."""
    if theta is None:
        theta = model.init(seed)
    if X is None:
        X, y = model.sample_data(batch, seed=seed)
    theta = _as_theta(theta)
    if len(theta) != model.n_params:
        raise ProblemError(f"theta has {len(theta)} entries but the model has {model.n_params} parameters")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    label = name or "mlp:" + "-".join(str(s) for s in model.spec.get("sizes", ()))
    return Problem(
        label, model.jit_cost, theta, lambda t, *a: model.grad(t, X, y), tuple(model.cost_args(X, y)),
        model.layout, model, (X, y), None, description,
    )


