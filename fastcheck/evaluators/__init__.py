"""Evaluators: how the perturbed costs of a check get computed.

An evaluator turns (θ, coordinates, steps, stencil offsets) into a matrix of
costs.  Every evaluator is an :class:`~fastcheck.evaluators.protocol.Evaluator`:
the core checker talks to that protocol only, and reads what an evaluator can
do from its :class:`~fastcheck.evaluators.protocol.Capabilities` (``ev.caps``),
never from its type.

* :mod:`~fastcheck.evaluators.protocol`: the protocol, the capabilities, and
  :class:`~fastcheck.evaluators.protocol.Wrapper`, the base of every evaluator
  built on another one;
* :mod:`~fastcheck.evaluators.loop`: :class:`LoopEvaluator` runs any Python
  callable in a plain loop, so a user's NumPy network just works;
* :mod:`~fastcheck.evaluators.jit`: :class:`JitEvaluator` hands a Numba-jitted
  cost to the parallel kernels of :mod:`fastcheck.kernels.stencil`
  (:mod:`~fastcheck.evaluators.compiled` keeps what was compiled);
* :mod:`~fastcheck.evaluators.choose`: :func:`make_evaluator`, the fastest of
  these for a user's cost;
* :mod:`~fastcheck.evaluators.pool`: the loop's chunks on worker processes or a
  Dask cluster (bitwise the same numbers);
* :mod:`~fastcheck.evaluators.sequential`: reruns only the stages after the
  perturbed one;
* :mod:`~fastcheck.evaluators.structured`: the structure-aware kernel of the
  built-in networks.
"""
