"""The options of every check, in one object: :class:`CheckOptions`.

Every public check (:func:`fastcheck.check_gradient`, ``check_directional``,
``check_model``, ``check_object``, ``check_functions``, ``check_layer``,
``check_jacobian``, ``check_sequential``) takes its target positionally and
the same keyword options with the same defaults.  The public function builds
one frozen :class:`CheckOptions` from its keywords (:meth:`CheckOptions.build`),
which rejects unknown keys naming that function, and hands it down; nothing
below the public functions re-lists the options.

A few options belong to one check only (``dout``/``n_douts`` of a layer
check, ``mode`` of a built-in model); they live in :attr:`CheckOptions.extra`
and are accepted only by the checks that declare them
(:func:`takes_options`).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from collections.abc import Mapping
from numbers import Integral
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names of the annotations only (the annotations are strings: nothing is imported)
    from collections.abc import Callable

    import distributed
    from numpy.typing import ArrayLike

    from fastcheck.core.layout import Layout

__all__ = ["OPTION_DOCS", "OPTION_TYPES", "STRATEGIES", "CheckOptions", "takes_options"]

#: Old spellings still accepted, with a DeprecationWarning: old name -> new name.
RENAMED = {"n_dirs": "directions", "directional": "directions"}
#: ``strategy=``: every coordinate differenced ("full"), or screened by group tests ("screen",
#: :mod:`fastcheck.checks.screen`).
STRATEGIES = ("full", "screen")


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """The keyword options of a gradient check (see :data:`OPTION_DOCS` for each).

    Build it with :meth:`build` at a public boundary; derive a variant with
    :meth:`replace`.  ``extra`` holds the options only some checks take.
    """

    args: tuple = ()
    eps: float | str | ArrayLike | None = None
    scheme: str = "central"
    coords: ArrayLike | None = None
    sample: int | None = None
    seed: int = 0
    layout: Layout | Mapping[str, ArrayLike] | None = None
    thresholds: Mapping[str, float] | None = None
    threads: int | None = None
    jit: bool | str = "auto"
    workers: int | str = "auto"
    client: distributed.Client | None = None
    directions: int | None = None
    per_block: bool | None = None
    cache_stages: bool = True
    reseed: int | Callable[[], object] | None = None
    strategy: str = "full"
    max_evals: int | None = None
    extra: Mapping = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def names(cls) -> tuple:
        """The option keywords every check accepts (``extra`` aside)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def build(cls, where: str, kwargs: Mapping, specific: Mapping | None = None) -> CheckOptions:
        """Options from the keywords a public function ``where`` was called with.

        ``specific``: the options only ``where`` takes, with their defaults.
        Unknown keys raise a ``TypeError`` naming ``where`` and the accepted
        keys; the old spellings ``n_dirs``/``directional`` become
        ``directions`` with a ``DeprecationWarning``.
        """
        specific = dict(specific or {})
        kw = dict(kwargs)
        for old, new in RENAMED.items():
            if old in kw:
                value = kw.pop(old)
                if new in kw:
                    raise TypeError(f"{where}() got both {old}= and {new}=; pass {new}= only")
                warnings.warn(f"{where}(): {old}= is deprecated, use {new}= (same meaning)", DeprecationWarning,
                              stacklevel=4)
                kw[new] = value
        common = set(cls.names())
        unknown = sorted(set(kw) - common - set(specific))
        if unknown:
            accepted = ", ".join(sorted(common | set(specific)))
            raise TypeError(f"{where}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                            f"it accepts: {accepted}")
        extra = {k: kw.pop(k, v) for k, v in specific.items()}
        _validate_strategy(where, kw.get("strategy", "full"), kw.get("max_evals"))
        if kw.get("thresholds") is not None:  # refused before any evaluation, naming the function
            from fastcheck.core.validate import validate_thresholds

            try:
                validate_thresholds(kw["thresholds"])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{where}(): {exc}") from None
        args = kw.get("args", ())
        if not isinstance(args, tuple):  # a list of arguments, or one argument alone
            kw["args"] = tuple(args) if isinstance(args, list) else (args,)
        return cls(**kw, extra=MappingProxyType(extra))

    def replace(self, **changes: object) -> CheckOptions:
        """A copy with some options changed (``extra`` keys included)."""
        extra_keys = set(self.extra)
        extra = {k: changes.pop(k) for k in list(changes) if k in extra_keys}
        if extra:
            changes["extra"] = MappingProxyType({**self.extra, **extra})
        return dataclasses.replace(self, **changes)

    def for_python_cost(self) -> CheckOptions:
        """These options for a cost fastcheck builds around the user's Python code (a closure over their
        object or forward): ``jit="auto"`` means the loop there, as such a closure never compiles."""
        return self.replace(jit=False) if isinstance(self.jit, str) and self.jit == "auto" else self

    def own_layout(self, where: str, layout: Layout | Mapping[str, ArrayLike] | None) -> CheckOptions:
        """These options with the layout a check builds itself; one passed by the user is refused."""
        if self.layout is not None:
            raise ValueError(f"{where} names the blocks itself; layout= does not apply")
        return self.replace(layout=layout)

    def __getitem__(self, key):
        """A check-specific option, e.g. ``opts["dout"]``."""
        return self.extra[key]

    def require_full(self, where: str) -> None:
        """Refuse ``strategy="screen"`` and ``max_evals`` in a check that differences every coordinate it is given."""
        if self.strategy != "full" or self.max_evals is not None:
            raise ValueError(f"{where} differences every coordinate it checks: strategy='screen' and max_evals= "
                             "do not apply (they screen a cost evaluated as a whole: check_gradient, check_object, "
                             "check_functions, check_layer, check_model)")


def _validate_strategy(where: str, strategy, max_evals) -> None:
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"{where}(): strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if max_evals is not None and (isinstance(max_evals, bool) or not isinstance(max_evals, Integral)
                                  or max_evals < 1):
        raise ValueError(f"{where}(): max_evals must be a positive integer (cost evaluations) or None, "
                         f"got {max_evals!r}")
    if max_evals is not None and strategy != "screen":
        raise ValueError(f"{where}(): max_evals= bounds a screen (strategy='screen'); a full check takes "
                         "the evaluations its coordinates need")


#: One line of documentation per option, shown in every public check's docstring.
OPTION_DOCS = {
    "args": "extra positional arguments of the cost: ``cost(theta, *args)``",
    "eps": "None (the scheme's optimal relative step × max(1, |θ_i|)), a number or array (absolute steps), "
           "or \"adaptive\" (Richardson over a ladder of steps)",
    "scheme": "\"central\" (default), \"forward\", \"backward\", \"central4\" or \"complex\"",
    "coords": "check only these flat coordinates",
    "sample": "check this many coordinates drawn from every block (seeded by ``seed``)",
    "seed": "seed of every random draw (sampled coordinates, directions, upstream gradients)",
    "layout": "a Layout or a dict of arrays naming θ's blocks, so the report says which layer is wrong",
    "thresholds": "override the verdict bands {\"great\": 1e-6, \"ok\": 1e-4, \"suspect\": 1e-2}: strictly "
                  "increasing, great and ok at most 0.1 (laxer bands would pass clearly wrong gradients), suspect "
                  "at most 1",
    "threads": "Numba threads for compiled kernels (default: all)",
    "jit": "\"auto\" (compile a plain cost with Numba when it pays), True (always; JitError if it cannot), False",
    "workers": "worker processes for a cost that stays Python: \"auto\" (when the saving covers the start-up), "
               "1 (serial) or a number",
    "client": "a dask.distributed.Client to run the loop's chunks on",
    "directions": "None (check every coordinate) or a number of random directions: a directional check, "
                  "two cost evaluations per direction",
    "per_block": "directional checks: draw the directions inside every block (default: when a layout is known)",
    "cache_stages": "networks whose stages fastcheck can see: recompute only the stages after a perturbed one",
    "reseed": "a cost that draws random numbers: an int (NumPy's global RNG and the stdlib random are seeded with it "
              "before every evaluation and restored afterwards) or a callable run before every evaluation",
    "strategy": "\"full\" (default: every coordinate differenced) or \"screen\" (group tests along random-sign "
                "directions per block, then the per-coordinate check of the few coordinates they point to; "
                "states the smallest single-coordinate error it would have caught)",
    "max_evals": "strategy=\"screen\": at most this many cost evaluations (inconclusive where the budget ends "
                 "before a decision); None: no bound",
}

#: The annotation of each option only some checks take (the common ones are :class:`CheckOptions`' fields).
OPTION_TYPES = {
    "mode": "str",
    "grad": "Callable[..., ArrayLike] | None",
    "n_dirs": "int",
    "dout": "ArrayLike | None",
    "n_douts": "int",
    "names": "Sequence[str] | None",
    "kwargs": "Mapping[str, object] | None",
    "cross_check": "str | None",
    "argnums": "int | Sequence[int] | None",
}


def takes_options(*, specific: Mapping | None = None, extra_docs: Mapping | None = None):
    """Decorate a public check ``fn(target..., opts)``: callers pass keyword options.

    The wrapper builds :class:`CheckOptions` once (unknown keys refused, naming
    ``fn``), calls ``fn(*targets, opts=opts)``, and carries a real signature
    (positional targets, then every option keyword-only with its default), so
    ``help()`` and editors show the options and a test can introspect them.
    """
    specific = dict(specific or {})

    def decorate(fn):
        where = fn.__name__
        positional = [p for p in inspect.signature(fn).parameters.values() if p.name != "opts"]
        defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                    for f in dataclasses.fields(CheckOptions) if f.name != "extra"}
        types = {**{f.name: f.type for f in dataclasses.fields(CheckOptions)}, **OPTION_TYPES}
        options = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v, annotation=types[k])
                   for k, v in {**defaults, **specific}.items()]

        @functools.wraps(fn)
        def check(*targets, **kwargs):
            named = {p.name: kwargs.pop(p.name) for p in positional  # grad=True and the like
                     if p.name in kwargs and p.kind is not inspect.Parameter.VAR_POSITIONAL}
            opts = CheckOptions.build(where, kwargs, specific)
            return fn(*targets, **named, opts=opts)

        check.__signature__ = inspect.Signature(positional + options,
                                                return_annotation=inspect.signature(fn).return_annotation)
        del check.__wrapped__  # inspect.signature must read the signature above, not fn's
        lines = "\n".join(f"    {k} : {v}" for k, v in {**OPTION_DOCS, **(extra_docs or {})}.items()
                          if k in defaults or k in specific)
        check.__doc__ = (fn.__doc__ or "").rstrip() + "\n\n    Options (every check takes them)\n    -------\n" + lines
        check.options = tuple(defaults) + tuple(specific)
        return check

    return decorate
