"""Check a PyTorch op's backward pass: :func:`check_torch`.

``check_torch(MyFunction.apply, x, w, b)`` checks the VJP of every input
tensor with ``requires_grad`` (blocks ``input0``, ``input1``, …, or the keys
of ``kwargs=``), and for a ``torch.nn.Module`` every parameter with
``requires_grad`` too (blocks named as in ``named_parameters()``), against
the numerical gradient of ⟨dout, op(…)⟩ (:mod:`fastcheck.inputs.frameworks`).

* The op runs in its own dtype: float32 tensors make a float32 θ, so steps
  and error bars are float32's (where ``gradcheck`` can only ask for float64);
  float16 and bfloat16 tensors a θ of that format (bfloat16 through
  ml_dtypes' NumPy type), with steps and bars from its epsilon.
* ``cross_check="float64"``: the backward is also run on float64 copies of
  the inputs, a sharper reference than float32's difference quotients
  (:mod:`fastcheck.inputs.cross_check`).
* Nothing the user holds is touched: the checked tensors are fresh copies,
  a module runs through ``torch.func.functional_call`` on copies of its
  parameters and buffers (running statistics stay as they were), gradients
  come from ``torch.autograd.grad`` (no ``.grad`` is written anywhere), and
  an op that draws random numbers (dropout) gets the same seed before every
  evaluation, the caller's RNG state put back afterwards.
* The serial loop runs torch on ``torch.get_num_threads()`` threads (or
  ``threads=`` for the check's duration); the worker processes of the pool
  (``workers``) run one thread each, and ``workers="auto"`` uses no more
  processes than ``torch.get_num_threads()``.

torch is imported only when :func:`check_torch` is called.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.checks.result import CheckResult
from fastcheck.core.options import CheckOptions, takes_options
from fastcheck.errors import LayerError
from fastcheck.inputs.cross_check import cross_checked, validate_cross_check
from fastcheck.inputs.frameworks import check_op
from fastcheck.support.resources import available_cores

if TYPE_CHECKING:  # names of annotations only
    from collections.abc import Callable

__all__ = ["TorchForward", "check_torch", "import_torch"]


def import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError("check_torch needs PyTorch: pip install 'fastcheck[torch]' (or torch itself)") from None
    return torch


def _float_outputs(value, torch) -> list:
    """The op's floating tensor outputs: one tensor, or those in a tuple/list (others are skipped)."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if not any(isinstance(v, torch.Tensor) for v in items):
        raise LayerError(f"the op must return a tensor or a tuple of tensors, got {type(value).__name__}")
    outs = [v for v in items if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())]
    for i, o in enumerate(outs):
        if o.is_complex():
            raise LayerError(f"floating output {i} is complex ({o.dtype}); check_torch checks real ops")
    return outs


def _bfloat16():
    """ml_dtypes' bfloat16 NumPy type (JAX ships it), or None when it is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def _numpy(t) -> np.ndarray:
    """A tensor's values as a NumPy array in the same format: float16 as NumPy's, bfloat16 as ml_dtypes'
    (widened to float64, which holds it exactly, without ml_dtypes), other floating dtypes widened to float64."""
    torch = import_torch()
    t = t.detach().cpu()
    if t.dtype in (torch.float32, torch.float64, torch.float16):
        return t.numpy()
    if t.dtype == torch.bfloat16 and _bfloat16() is not None:
        return t.float().numpy().astype(_bfloat16())  # bfloat16 → float32 → bfloat16: exact
    return t.double().numpy()


class TorchForward:
    """The op at NumPy values of its checked blocks, without gradient tracking: ``forward(arrays) -> outputs``.

    ``slots``: per block, where it goes (``("arg", i)``, ``("kw", name)`` or ``("param", name)``), its torch
    dtype and device; ``args``/``kwargs``: the op's arguments (copies of the caller's tensors, the checked
    ones replaced at every call); ``module``: an ``nn.Module`` run by ``functional_call`` with ``state``
    (copies of its parameters and buffers).  ``seed``: None for a deterministic op, else the seed set
    before every evaluation (the caller's RNG state restored afterwards).
    """

    def __init__(self, fn, module, slots, args, kwargs, state, seed=None):
        self.fn, self.module, self.slots = fn, module, slots
        self.args, self.kwargs, self.state, self.seed = args, kwargs, state, seed

    def call(self, tensors):
        """The op's raw return value with ``tensors`` (one per slot) in their places."""
        args, kwargs, state = list(self.args), dict(self.kwargs), dict(self.state)
        for (kind, where, _, _), t in zip(self.slots, tensors):
            if kind == "arg":
                args[where] = t
            elif kind == "kw":
                kwargs[where] = t
            else:
                state[where] = t
        torch = import_torch()
        with self.seeded(torch):
            if self.module is None:
                return self.fn(*args, **kwargs)
            return torch.func.functional_call(self.module, state, tuple(args), kwargs)

    def seeded(self, torch):
        if self.seed is None:
            return contextlib.nullcontext()
        return _Reseeded(torch, self.seed)

    def tensors(self, arrays, requires_grad=False):
        torch = import_torch()
        # (torch takes no ml_dtypes array: a bfloat16 block goes through float32, which holds it exactly)
        return [torch.tensor(a.astype(np.float32) if a.dtype.name == "bfloat16" else a, dtype=dtype, device=device,
                             requires_grad=requires_grad)
                for a, (_, _, dtype, device) in zip(arrays, self.slots)]

    def __call__(self, arrays) -> list:
        torch = import_torch()
        with torch.no_grad():
            return [_numpy(o) for o in _float_outputs(self.call(self.tensors(arrays)), torch)]

    def vjp(self, arrays, douts) -> list:
        """The gradients of ⟨douts, op⟩ at ``arrays`` by the op's backward, one per slot (zeros where unused)."""
        torch = import_torch()
        leaves = self.tensors(arrays, requires_grad=True)
        with torch.enable_grad():
            outs = _float_outputs(self.call(leaves), torch)
            if len(outs) != len(douts):
                raise LayerError(f"the op returned {len(outs)} floating output(s) here but {len(douts)} before")
            tracked = [(o, torch.tensor(np.asarray(d, np.float64), dtype=o.dtype, device=o.device))
                       for o, d in zip(outs, douts) if o.requires_grad]
            if not tracked:  # no output depends on a checked input as autograd sees it: every VJP is zero
                return [np.zeros(a.shape) for a in arrays]
            grads = torch.autograd.grad([o for o, _ in tracked], leaves, grad_outputs=[d for _, d in tracked],
                                        allow_unused=True)
        return [np.zeros(a.shape) if g is None else _numpy(g).astype(np.float64) for a, g in zip(arrays, grads)]


class _Reseeded:
    """torch's CPU generator seeded for one evaluation, its state put back afterwards."""

    def __init__(self, torch, seed):
        self.torch, self.seed = torch, seed

    def __enter__(self):
        self.saved = self.torch.get_rng_state()
        self.torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        self.torch.set_rng_state(self.saved)
        return False


def _checked(value, torch, label):
    """``(copy as NumPy, torch dtype, device)`` of a tensor to differentiate; a clear error otherwise."""
    if not (value.is_floating_point()):
        raise LayerError(f"{label} requires grad but is {value.dtype}; only floating tensors can be checked")
    if value.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise LayerError(f"{label} is {value.dtype}: float64, float32, float16 and bfloat16 ops can be checked "
                         "(cast it with .float() or .double())")
    if value.dtype == torch.bfloat16 and _bfloat16() is None:
        raise LayerError(f"{label} is torch.bfloat16: checking it needs NumPy's bfloat16 type from ml_dtypes "
                         "(pip install ml_dtypes), or cast it with .float()")
    if value.numel() == 0:
        raise LayerError(f"{label} is empty")
    if not bool(torch.isfinite(value.detach()).all()):
        raise LayerError(f"{label} contains NaN or inf")
    return _numpy(value).copy(), value.dtype, value.device


def _constant(value, torch):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _plan(fn, inputs, kwargs, torch):
    """The blocks (name -> NumPy copy), the slots and the op's arguments of a check."""
    module = fn if isinstance(fn, torch.nn.Module) else None
    if module is None and not callable(fn):
        raise LayerError(f"fn must be callable (a function, an autograd.Function's .apply or an nn.Module), "
                         f"got {type(fn).__name__}")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise LayerError("kwargs must be a dict {keyword: value} of the op's keyword arguments")
    blocks, slots = {}, []
    args = [_constant(a, torch) for a in inputs]
    kw = {k: _constant(v, torch) for k, v in kwargs.items()}
    places = [("arg", i, f"input{i}", a) for i, a in enumerate(inputs)] + [("kw", k, k, v) for k, v in kwargs.items()]
    state = {}
    if module is not None:
        for name, p in module.named_parameters():
            state[name] = p.detach().clone()
            if p.requires_grad:
                places.append(("param", name, name, p))
        for name, b in module.named_buffers():
            state[name] = b.detach().clone()
    for kind, where, name, value in places:
        if not (isinstance(value, torch.Tensor) and value.requires_grad):
            continue
        if name in blocks:
            raise LayerError(f"two checked tensors would both be named {name!r}; rename the keyword argument")
        label = {"arg": f"input {where}", "kw": f"keyword argument {where!r}", "param": f"parameter {where!r}"}[kind]
        array, dtype, device = _checked(value, torch, label)
        blocks[name] = array
        slots.append((kind, where, dtype, device))
    if not blocks:
        raise LayerError("no input (or parameter) requires grad: mark the tensors to check with requires_grad=True")
    return blocks, slots, args, kw, module, state


def _draws_random_numbers(forward, arrays, torch) -> bool:
    """True when the op moves torch's CPU generator (dropout and the like)."""
    before = torch.get_rng_state()
    try:
        forward(arrays)
        return not torch.equal(before, torch.get_rng_state())
    finally:
        torch.set_rng_state(before)


def _workers(workers, torch):
    """``workers="auto"`` never runs more processes than torch may use threads."""
    if isinstance(workers, str) and workers == "auto":
        n = min(available_cores(), torch.get_num_threads())
        return "auto" if n >= available_cores() else max(1, n)
    return workers


@contextlib.contextmanager
def _torch_threads(torch, threads):
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    saved = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _widened(forward: TorchForward, torch) -> TorchForward:
    """The same op on float64 copies: the checked slots float64, and every other floating tensor among its
    arguments, keyword arguments and a module's parameters and buffers widened to float64 (new tensors)."""
    def wide(v):
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dtype != torch.float64:
            return v.detach().double()
        return v

    slots = [(kind, where, torch.float64, device) for kind, where, _, device in forward.slots]
    return TorchForward(forward.fn, forward.module, slots, [wide(a) for a in forward.args],
                        {k: wide(v) for k, v in forward.kwargs.items()},
                        {k: wide(v) for k, v in forward.state.items()}, forward.seed)


def _wide_vjp(forward: TorchForward, base, names, torch):
    """``douts -> {block: gradient}`` of the op's backward on float64 copies of the inputs; a
    :class:`LayerError` when an output is not float64 there (the op computes in a lower precision anyway)."""
    wide = _widened(forward, torch)
    arrays = [np.asarray(b, np.float64) for b in base]

    def vjp(douts):
        with torch.no_grad():
            outs = _float_outputs(wide.call(wide.tensors(arrays)), torch)
        low = [str(o.dtype).replace("torch.", "") for o in outs if o.dtype != torch.float64]
        if low:
            raise LayerError(f"on float64 inputs it returns {', '.join(low)}: it computes in that precision anyway")
        return dict(zip(names, wide.vjp(arrays, [np.asarray(d, np.float64) for d in douts])))

    return vjp


@takes_options(specific={"dout": None, "n_douts": 1, "kwargs": None, "cross_check": None}, extra_docs={
    "dout": "check_torch/check_jax: the upstream gradient(s), one per floating output (default: drawn, seeded)",
    "n_douts": "check_torch/check_jax: check against this many drawn dout at once (blocks get a leading axis)",
    "kwargs": "check_torch: keyword arguments of the op; tensors among them with requires_grad are checked too",
    "cross_check": "check_torch: 'float64' also runs the op's backward on float64 copies of the inputs and "
                   "reports, per block, whether the float32 backward agrees with it (result.cross_check)"})
def check_torch(fn: Callable, *inputs: object, opts: CheckOptions) -> CheckResult:
    """Check a PyTorch op's backward pass: every input with ``requires_grad`` through its VJP.

    Parameters
    ----------
    fn : callable or torch.nn.Module
        ``fn(*inputs, **kwargs)`` returning a tensor or a tuple of tensors
        (a ``torch.autograd.Function``'s ``.apply``, any function of
        tensors); for an ``nn.Module``, its parameters with ``requires_grad``
        are checked as well as its inputs.
    *inputs
        The op's positional arguments.  Floating tensors with
        ``requires_grad`` (float64, float32, float16 or bfloat16: the check
        runs in that format, with its steps and error bars) are checked, blocks
        ``input0``, ``input1``, … by position; anything else is passed as it
        is (a copy of a tensor).

    The options are those of every check (``args`` does not apply: the
    inputs are the arguments); ``dout``/``n_douts`` as in
    :func:`fastcheck.check_layer`, one ``dout`` per floating output (integer
    outputs such as indices are not differentiated); ``kwargs`` the op's
    keyword arguments (tensors with ``requires_grad`` among them are checked,
    blocks named by their keywords); ``threads`` torch's threads during the
    check (default: ``torch.get_num_threads()``, as set by the caller);
    ``cross_check="float64"`` runs the op's backward once more on float64
    copies of the inputs with the same ``dout`` and reports per block
    whether the float32 backward is within 128 float32 epsilons of it
    (``result.cross_check``, ``result.cross_check_note``; see
    :mod:`fastcheck.inputs.cross_check`): a backward that silently casts
    to a lower precision shows there when the float32 bars are too wide
    to see it; an op that does not run in float64 gets a note.

    Returns
    -------
    CheckResult
        Blocks named ``input0``, … (the keywords, the parameter names).

    The caller's tensors, their ``.grad``, a module's parameters, buffers
    and gradients and torch's RNG state are left as they were.
    """
    torch = import_torch()
    if opts.args:
        raise LayerError("check_torch passes the inputs to the op as given: put every argument in *inputs "
                         "(args= does not apply)")
    cross = validate_cross_check(opts["cross_check"])
    kwargs = opts["kwargs"] if opts["kwargs"] is not None else {}
    blocks, slots, args, kw, module, state = _plan(fn, inputs, kwargs, torch)
    names = list(blocks)
    with _torch_threads(torch, opts.threads):
        forward = TorchForward(fn, module, slots, args, kw, state)
        base = [blocks[n] for n in names]
        if _draws_random_numbers(forward, base, torch):
            forward.seed = int(opts.seed)

        calls = []  # (douts, gradients) of every backward the check ran: what the cross-check compares

        def vjp(douts):
            got = dict(zip(names, forward.vjp(base, douts)))
            calls.append((douts, got))
            return got

        checked = opts.replace(threads=None, workers=_workers(opts.workers, torch))
        result = check_op(forward, vjp, blocks, checked, "check_torch")
        if cross is None:
            return result
        skip = ("the op draws random numbers, and its float64 draws need not be its float32 ones; not "
                "cross-checked") if forward.seed is not None else ""
        return cross_checked(result, calls, {n: blocks[n].dtype for n in names},
                             _wide_vjp(forward, base, names, torch), skip=skip)
