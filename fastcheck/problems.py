"""Named problems: what a sweep (or the command line) can check.

A *problem* is a cost, a point θ and the analytic gradient there.  It comes
from one of:

* a registry name with options, ``"name:arg,key=value"``:

  ``seed``                the 2-3-1 sigmoid network of Neural Networks Demystified (``fastcheck.models``)
  ``mlp:784-128-10``      an MLP by layer sizes; options ``batch``, ``act``,
                          ``loss``, ``l2``, ``seed``
  ``smooth:n=20``         J(θ) = Σ exp(sin θ_i) + (Σ c_i θ_i)², every derivative
                          known and non-zero; ``jit=0`` for a plain NumPy cost
  ``cube``, ``square``    the worked examples θ³ at 1 (Debugging your Neural Nets and checking your Gradients) and x² at 1.5 (Neural Networks Demystified)

* a user file, ``"path/to/file.py:function"``: the function is called with
  no arguments and returns a :class:`Problem`, a ``(cost, theta, grad[,
  args])`` tuple or a ``(model, theta, X, y)`` tuple;
* a ``(cost, theta, grad[, args])`` tuple, a built-in model, or a
  :class:`Problem`.

Problems built from a string keep it as :attr:`Problem.spec`, so a Dask
worker rebuilds them from a few bytes instead of receiving pickled arrays.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from .check import as_theta
from .layout import Layout

__all__ = ["PROBLEMS", "Problem", "ProblemError", "fingerprint", "get_problem", "list_problems", "register"]


class ProblemError(ValueError):
    """A problem specification that cannot be turned into a problem."""


@dataclass(frozen=True, eq=False)
class Problem:
    """A cost, a point and its analytic gradient.

    Parameters
    ----------
    name : str
        Label used in result tables.
    cost : callable
        ``cost(theta, *args) -> float`` (Numba-jitted costs run in parallel).
    theta : 1-D float64 array
    grad : callable or array
        ``grad(theta, *args)`` or the gradient at ``theta``.
    args : tuple
        Extra arguments of ``cost`` and ``grad``.
    layout : Layout, optional
        Block names of θ.
    model : object, optional
        A built-in ``fastcheck.models`` network; enables the structure-aware
        kernel.  ``data`` then holds its ``(X, y)``.
    spec : str, optional
        The string :func:`get_problem` rebuilds this problem from.
    """

    name: str
    cost: object
    theta: np.ndarray
    grad: object
    args: tuple = ()
    layout: Layout | None = None
    model: object = None
    data: tuple | None = None
    spec: str | None = None
    description: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_params(self) -> int:
        return int(len(self.theta))

    @property
    def structured(self) -> bool:
        """Whether the structure-aware kernel of ``fastcheck.models`` applies."""
        return self.model is not None

    def at(self, dtype):
        """``(theta, args)`` in precision ``dtype``.

        Floating arrays among the arguments (the data of a network) are cast
        too, so that a float32 check computes in float32 throughout rather
        than promoting back to float64 at the first product with the data.
        """
        dtype = np.dtype(dtype)
        key = ("at", dtype.str)
        if key not in self._cache:
            if dtype == np.float64:
                self._cache[key] = (self.theta, self.args)
            elif self.model is not None:
                X, y = (_cast(a, dtype) for a in self.data)
                self._cache[key] = (self.theta.astype(dtype), tuple(self.model.cost_args(X, y, dtype)))
            else:
                self._cache[key] = (self.theta.astype(dtype), _cast(self.args, dtype))
        return self._cache[key]

    def data_at(self, dtype):
        """The model's ``(X, y)`` in precision ``dtype`` (model problems only)."""
        return tuple(_cast(a, np.dtype(dtype)) for a in self.data)

    def reference_gradient(self, dtype) -> np.ndarray:
        """The analytic gradient in float64 at the point a ``dtype`` check sees.

        θ and the data are rounded to ``dtype`` first, then the gradient is
        taken in float64: the exact derivative of the function that the
        ``dtype`` evaluation approximates, so a sweep measures the error of
        the differences alone.
        """
        dtype = np.dtype(dtype)
        key = ("ref", dtype.str)
        if key not in self._cache:
            theta = self.theta.astype(dtype).astype(np.float64)
            if self.model is not None:
                # also the dropout factors and l2 as the dtype's cost has them
                g = self.model.grad(theta, *self.data, precision=dtype)
            else:
                args = _cast(_cast(self.args, dtype), np.dtype(np.float64))
                g = self.grad(theta.copy(), *args) if callable(self.grad) else self.grad
            if isinstance(g, dict):
                g = self.layout.flatten(g)
            g = np.asarray(g, dtype=np.float64).reshape(-1)
            if g.shape != self.theta.shape:
                raise ProblemError(f"problem {self.name!r}: grad has {g.size} entries but theta has {self.n_params}")
            self._cache[key] = g
        return self._cache[key]

    def ship(self):
        """What a Dask task carries: the spec string if there is one, else the problem."""
        return self.spec if self.spec is not None else self

    def __reduce__(self):
        # Never pickle the per-process cache (evaluators, cast copies).
        return (_rebuild, (self.name, self.cost, self.theta, self.grad, self.args, self.layout,
                           self.model, self.data, self.spec, self.description))


def _rebuild(*fields):
    return Problem(*fields)


def _cast(obj, dtype: np.dtype):
    """Cast floating arrays (also inside tuples) to ``dtype``; leave the rest."""
    if isinstance(obj, np.ndarray) and obj.dtype in (np.float64, np.float32) and obj.dtype != dtype:
        return obj.astype(dtype)
    if isinstance(obj, tuple):
        return tuple(_cast(o, dtype) for o in obj)
    return obj


# -- the registry -------------------------------------------------------------------
#: name -> (factory, one-line description).  Factories take the parsed
#: positional and keyword options of the spec string.
PROBLEMS: dict = {}


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
_SIZES = re.compile(r"^\d+(?:-\d+)+$")


def parse_spec(spec: str):
    """``"mlp:784-128-10,batch=64"`` -> ``("mlp", ["784-128-10"], {"batch": "64"})``."""
    text = spec.strip()
    if _SIZES.match(text):
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


def _is_file_spec(spec: str) -> bool:
    head = spec.rsplit(":", 1)[0]
    return head.endswith(".py")


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
    if _is_model(spec):
        return _from_model(spec, name=name)
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
    if _is_file_spec(spec):
        return _from_file(spec)
    name, pos, kw = parse_spec(spec)
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
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_name = f"_fastcheck_problem_{digest}"
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours, as `fastcheck check` allows
    try:
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module  # lets Numba and pickle find the module's functions
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is "cannot load"
        sys.modules.pop(mod_name, None)
        raise ProblemError(f"cannot load problem file {path_text!r}: {_user_failure(exc)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ProblemError(f"problem file {path_text!r} has no function {func!r}")
    try:
        made = fn()
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        raise ProblemError(f"{spec}: calling {func}() failed: {_user_failure(exc)}") from None
    p = get_problem(made, name=spec)
    # Workers rebuild the problem from the absolute path, whatever their cwd.
    return Problem(spec, p.cost, p.theta, p.grad, p.args, p.layout, p.model, p.data, f"{path.resolve()}:{func}", p.description)


def _user_failure(exc) -> str:
    """What user code did instead of returning: an exception, or a call of sys.exit."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}); nothing was checked"
    return f"{type(exc).__name__}: {exc}"


def estimated_bytes(spec, threads: int = 1) -> tuple:
    """``(n_params, bytes)`` a check of registry problem ``spec`` would need, read from the
    spec alone (nothing is built); ``(None, None)`` when the spec does not tell."""
    from .resources import check_bytes, mlp_bytes

    if not isinstance(spec, str) or _is_file_spec(spec.strip()):
        return None, None
    try:
        name, pos, kw = parse_spec(spec)
        if name == "mlp" and pos and _SIZES.match(pos[0]):
            return mlp_bytes(pos[0].split("-"), int(kw.get("batch", 64)), threads)
        if name == "smooth":
            n = int(kw.get("n", pos[0] if pos else 20))
            return n, check_bytes(n, threads)
    except (ProblemError, ValueError):
        pass  # the factory will say what is wrong
    return None, None


def fingerprint(problem: Problem) -> dict:
    """What identifies a problem's numbers across runs: the sha1 of θ's bytes
    and, for a user file, of the file's contents (a resumed sweep compares them)."""
    theta_sha1 = hashlib.sha1(np.ascontiguousarray(problem.theta).tobytes()).hexdigest()
    out = {"n_params": problem.n_params, "theta_sha1": theta_sha1}
    if problem.spec is not None and _is_file_spec(problem.spec):
        path = Path(problem.spec.rsplit(":", 1)[0])
        if path.is_file():
            out["file_sha1"] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _is_model(obj) -> bool:
    return all(hasattr(obj, a) for a in ("cost", "grad", "layout", "init", "sample_data"))


def _from_tuple(t: tuple, name) -> Problem:
    if len(t) == 4 and _is_model(t[0]):
        model, theta, X, y = t
        return _from_model(model, theta=theta, X=X, y=y, name=name)
    if len(t) not in (3, 4) or not callable(t[0]):
        raise ProblemError("a problem tuple is (cost, theta, grad) or (cost, theta, grad, args), or (model, theta, X, y)")
    cost, theta, grad = t[:3]
    args = tuple(t[3]) if len(t) == 4 else ()
    theta = _as_theta(theta)
    return Problem(name or getattr(cost, "__name__", "problem"), cost, theta, grad, args)


def _as_theta(theta) -> np.ndarray:
    try:
        arr = as_theta(theta)
    except (TypeError, ValueError) as exc:
        raise ProblemError(str(exc)) from None
    # A problem keeps its own float64 copy: sweeps cast it, never the caller's array.
    return np.array(arr, dtype=np.float64)


def _from_model(model, *, theta=None, X=None, y=None, batch=64, seed=0, name=None, description="") -> Problem:
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


def _models():
    try:
        from . import models
    except ImportError as exc:
        raise ProblemError(f"fastcheck.models is not available ({exc})") from None
    return models


# -- built-in problems ------------------------------------------------------------------
@register("seed", "the 2-3-1 sigmoid network of Neural Networks Demystified on their sleep/study data (fastcheck.models.seed_network)")
def _seed(seed="0"):
    model, theta, X, y = _models().seed_network(seed=_int(seed, "seed"))
    return _from_model(model, theta=theta, X=X, y=y, description="the 2-3-1 sigmoid network of Neural Networks Demystified, sse loss")


def seed_numpy_cost(theta, X, y):
    """The costFunction of Neural Networks Demystified, 0.5·Σ(y − ŷ)², in their NumPy style (2-3-1, sigmoid, no biases).

    Pure NumPy on θ's own dtype: float32 stays float32 and complex θ gives the
    complex step what it needs.
    """
    W1 = theta[:6].reshape(2, 3)
    W2 = theta[6:9].reshape(3, 1)
    a2 = 1 / (1 + np.exp(-(X @ W1)))
    r = y - 1 / (1 + np.exp(-(a2 @ W2)))
    return 0.5 * np.sum(r * r)


def seed_numpy_grad(theta, X, y):
    """The costFunctionPrime of Neural Networks Demystified: δ3 = −(y − ŷ)·σ'(z3), δ2 = δ3·W2ᵀ·σ'(z2)."""
    W1 = theta[:6].reshape(2, 3)
    W2 = theta[6:9].reshape(3, 1)
    z2 = X @ W1
    a2 = 1 / (1 + np.exp(-z2))
    z3 = a2 @ W2
    yhat = 1 / (1 + np.exp(-z3))
    delta3 = -(y - yhat) * (yhat * (1 - yhat))
    delta2 = (delta3 @ W2.T) * (a2 * (1 - a2))
    return np.concatenate(((X.T @ delta2).ravel(), (a2.T @ delta3).ravel()))


@register("seed-numpy", "the 2-3-1 network of Neural Networks Demystified as their own NumPy code (any dtype, complex-safe); same θ and data as seed")
def _seed_numpy(seed="0"):
    _, theta, X, y = _models().seed_network(seed=_int(seed, "seed"))
    layout = Layout(("W1", "W2"), ((2, 3), (3, 1)))
    return Problem("seed-numpy", seed_numpy_cost, np.array(theta, dtype=np.float64), seed_numpy_grad, (X, y), layout,
                   description="the NumPy 2-3-1 sigmoid network of Neural Networks Demystified, sse loss")


@register("mlp", "dense network by layer sizes, e.g. mlp:784-128-10,batch=64,act=sigmoid,loss=sse,l2=0,seed=0")
def _mlp(sizes, batch="64", act="sigmoid", loss="sse", l2="0", seed="0"):
    if not _SIZES.match(sizes):
        raise ProblemError(f"mlp sizes must look like 784-128-10, got {sizes!r}")
    dims = [int(s) for s in sizes.split("-")]
    if min(dims) < 1:
        raise ProblemError(f"mlp layer sizes must be positive, got {sizes!r}")
    acts = act.split("/") if "/" in act else act
    model = _models().MLP(dims, activations=acts, loss=loss, l2=_float(l2, "l2"))
    return _from_model(
        model, batch=_int(batch, "batch"), seed=_int(seed, "seed"),
        description=f"MLP {sizes}, {act}, {loss} loss, batch {batch}",
    )


@njit(cache=True)
def smooth_cost(theta, c):
    """J(θ) = Σ_i exp(sin θ_i) + (Σ_i c_i θ_i)².

    Written without float literals so that a float32 θ (with float32 ``c``)
    is evaluated in float32, and without ``**`` so that complex θ keeps the
    tiny imaginary part a complex step needs.
    """
    acc = theta[0] - theta[0]
    s = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += np.exp(np.sin(theta[i]))
        s += c[i] * theta[i]
    return acc + s * s


def smooth_cost_numpy(theta, c):
    """:func:`smooth_cost` in plain NumPy (runs in the loop evaluator)."""
    s = np.sum(c * theta)
    return np.sum(np.exp(np.sin(theta))) + s * s


def smooth_grad(theta, c):
    """∂J/∂θ_i = cos θ_i · exp(sin θ_i) + 2 c_i Σ_j c_j θ_j."""
    return np.cos(theta) * np.exp(np.sin(theta)) + 2.0 * c * np.dot(c, theta)


@register("smooth", "J = Σ exp(sin θ_i) + (Σ c_i θ_i)², known gradient; options n=20, seed=0, jit=1")
def _smooth(n="20", seed="0", jit="1"):
    n = _int(n, "n")
    if n < 1:
        raise ProblemError(f"smooth needs n >= 1, got {n}")
    rng = np.random.default_rng(_int(seed, "seed"))
    theta = rng.uniform(-1.5, 1.5, n)
    c = rng.uniform(0.2, 1.0, n) / np.sqrt(n)
    cost = smooth_cost if _int(jit, "jit") else smooth_cost_numpy
    return Problem("smooth", cost, theta, smooth_grad, (c,), Layout.single(n),
                   description="Σ exp(sin θ_i) + (Σ c_i θ_i)², analytic gradient")


@njit(cache=True)
def cube_cost(theta):
    """J(θ) = Σ θ_i³ (written as products, complex-safe)."""
    acc = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += theta[i] * theta[i] * theta[i]
    return acc


def cube_grad(theta):
    return 3.0 * theta * theta


@register("cube", "f(θ) = θ³ of Debugging your Neural Nets and checking your Gradients at θ = 1 (one parameter)")
def _cube():
    return Problem("cube", cube_cost, np.array([1.0]), cube_grad, (), Layout.single(1), description="θ³ at θ = 1")


@njit(cache=True)
def square_cost(theta):
    """J(x) = Σ x_i² (complex-safe)."""
    acc = theta[0] - theta[0]
    for i in range(theta.shape[0]):
        acc += theta[i] * theta[i]
    return acc


def square_grad(theta):
    return 2.0 * theta


@register("square", "f(x) = x² of Neural Networks Demystified at x = 1.5 (one parameter)")
def _square():
    return Problem("square", square_cost, np.array([1.5]), square_grad, (), Layout.single(1), description="x² at x = 1.5")


def _int(v, what) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ProblemError(f"option {what} must be an integer, got {v!r}") from None


def _float(v, what) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ProblemError(f"option {what} must be a number, got {v!r}") from None
