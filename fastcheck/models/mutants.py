"""Planted backprop bugs: the registry of mutants of the built-in network.

A mutant is the same :class:`~fastcheck.models.MLP` (same layout, same cost,
bit for bit) whose hand-written gradient carries one mistake that people
really make.  Each entry says which model options make the bug visible (a bug
in the L2 gradient cannot show when ``l2 == 0``) and which parameter blocks
it corrupts, so tests and demos can build every mutant where it shows and
check that the report points at the right block.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

NONE = 0
ACTIVATION_DERIVATIVE = 1
NO_L2_GRAD = 2
BIAS_AXIS = 3
TRANSPOSED_WEIGHT = 4
SCALED_GRAD = 5
OFF_BY_ONE_LAYER = 6
NO_MEAN = 7
DROPOUT_BACKWARD = 8
L2_DOUBLED = 9
BIAS_REGULARIZED = 10


@dataclass(frozen=True)
class Mutant:
    """One planted bug.

    Attributes
    ----------
    name : str
    code : int
        The integer the gradient kernel branches on.
    description : str
        One line: what the bug is, where it lives, when it shows.
    """

    name: str
    code: int
    description: str

    def visible(self, model, batch: int | None = None) -> bool:
        """Whether ``model``'s options (and a batch of ``batch`` examples, when given) let this bug
        change the gradient."""
        return not self.hidden_because(model, batch)

    def hidden_because(self, model, batch: int | None = None) -> str:
        """Why the bug cannot change ``model``'s gradient ("" when it can): the option that hides it."""
        acts, n = model.activation_names, model.sizes
        reasons = []
        if self.code == ACTIVATION_DERIVATIVE and acts[0] not in ("sigmoid", "tanh", "softplus"):
            reasons.append(f"layer 1's activation is {acts[0]} (the bug shows for sigmoid, tanh or softplus)")
        if self.code in (NO_L2_GRAD, L2_DOUBLED, BIAS_REGULARIZED) and not model.l2 > 0:
            reasons.append("l2 is 0 (the bug is in the gradient of the L2 term)")
        if self.code in (BIAS_AXIS, BIAS_REGULARIZED) and not model.bias:
            reasons.append("the model has no biases")
        if self.code == TRANSPOSED_WEIGHT and not (n[0] > 1 and n[1] > 1):
            reasons.append("layer 1 has a single input or a single unit (its transpose is itself)")
        if self.code in (OFF_BY_ONE_LAYER, DROPOUT_BACKWARD) and model.depth < 2:
            reasons.append("the model has a single layer")
        if self.code == OFF_BY_ONE_LAYER and acts[0] == "identity":
            reasons.append("layer 1's activation is identity (its derivative is 1 everywhere)")
        if self.code == NO_MEAN and model.loss == "sse":
            reasons.append("the loss is sse, a sum (the bug is in a mean's 1/m)")
        if self.code == NO_MEAN and batch == 1:
            reasons.append("the batch has one example (1/m is 1)")
        if self.code == DROPOUT_BACKWARD and not model.keep_prob < 1:
            reasons.append("keep_prob is 1 (no dropout)")
        return "; ".join(reasons)

    def blocks(self, model) -> tuple:
        """Names of the parameter blocks whose gradient the bug corrupts."""
        L = model.depth
        names = model.layout.names
        w = tuple(f"W{l}" for l in range(1, L + 1))
        b = tuple(f"b{l}" for l in range(1, L + 1)) if model.bias else ()
        layer1 = ("W1", "b1") if model.bias else ("W1",)
        table = {
            ACTIVATION_DERIVATIVE: layer1,
            NO_L2_GRAD: w,
            BIAS_AXIS: (f"b{L}",),
            TRANSPOSED_WEIGHT: ("W1",),
            SCALED_GRAD: (f"W{L}",),
            OFF_BY_ONE_LAYER: layer1,
            NO_MEAN: names,
            DROPOUT_BACKWARD: tuple(n for n in names if int(n[1:]) < L),
            L2_DOUBLED: w,
            BIAS_REGULARIZED: b,
        }
        return tuple(table[self.code])


_ALL = (
    Mutant(
        "activation_derivative",
        ACTIVATION_DERIVATIVE,
        "layer 1's activation derivative is taken at its output a = act(z) instead of at z"
        " (shows when layer 1 is sigmoid, tanh or softplus)",
    ),
    Mutant(
        "no_l2_grad",
        NO_L2_GRAD,
        "the L2 term l2·W is left out of every weight gradient (the cost keeps it; shows when l2 > 0)",
    ),
    Mutant(
        "bias_axis",
        BIAS_AXIS,
        "the last layer's bias gradient sums dZ over the units (axis 1) instead of the batch (axis 0)"
        " (needs bias=True)",
    ),
    Mutant(
        "transposed_weight",
        TRANSPOSED_WEIGHT,
        "W1's gradient is stored transposed: dZᵀ·X (n_out × n_in) raveled into W1's (n_in × n_out) slots"
        " (shows when layer 1 has more than one input and one unit)",
    ),
    Mutant(
        "scaled_grad",
        SCALED_GRAD,
        "the last layer's weight gradient is multiplied by 2 (a stray factor from differentiating ½·r²)",
    ),
    Mutant(
        "off_by_one_layer",
        OFF_BY_ONE_LAYER,
        "layer 1's activation derivative is taken at layer 2's pre-activations (wrapping over units, like"
        " NumPy broadcasting a (B,1) array) (shows with depth >= 2 and a non-identity layer 1)",
    ),
    Mutant(
        "missing_1_over_m",
        NO_MEAN,
        "the data-loss gradient is not divided by the batch size m, although the cost is a mean"
        " (shows for mse, bce, softmax_ce with batch > 1)",
    ),
    Mutant(
        "dropout_backward",
        DROPOUT_BACKWARD,
        "the dropout mask is applied in the forward pass but not in the backward pass"
        " (shows when keep_prob < 1 and depth >= 2)",
    ),
    Mutant(
        "l2_doubled",
        L2_DOUBLED,
        "the L2 gradient is 2·l2·W for the cost ½·l2·ΣW² (the ½ forgotten) (shows when l2 > 0)",
    ),
    Mutant(
        "bias_regularized",
        BIAS_REGULARIZED,
        "the gradient adds l2·b to the biases, which the cost does not regularize"
        " (shows when l2 > 0 and bias=True)",
    ),
)

#: Mutant name -> :class:`Mutant` (its code, description, visibility and blocks).
MUTANTS = {m.name: m for m in _ALL}
#: Mutant name -> one-line description (``MUTANTS[name].description``).
MUTANT_DESCRIPTIONS = {m.name: m.description for m in _ALL}

#: A configuration in which every mutant shows (see :meth:`Mutant.visible`).
SHOWCASE = dict(
    sizes=(3, 5, 4, 2), activations="tanh", loss="mse", l2=0.05, keep_prob=0.8, dropout_seed=1, bias=True
)


def __getattr__(name):
    """``MUTANT_INFO``, the old name of :data:`MUTANTS` (name -> Mutant), with a DeprecationWarning."""
    if name == "MUTANT_INFO":
        warnings.warn("MUTANT_INFO is now MUTANTS (name -> Mutant); the descriptions are MUTANT_DESCRIPTIONS",
                      DeprecationWarning, stacklevel=2)
        return MUTANTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_mutant(name) -> Mutant:
    """The :class:`Mutant` called ``name``; a clear error for unknown names."""
    try:
        return MUTANTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown mutant {name!r}; choose one of {sorted(MUTANTS)}") from None
