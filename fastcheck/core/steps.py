"""Difference schemes and the steps they take.

Forward, backward, central and the fourth-order five-point rule are all one
thing: a stencil of offsets ``c_k`` and weights ``w_k`` with

    ∂J/∂θ_i ≈ Σ_k w_k · J(θ + c_k·h·e_i) / h,

so a single kernel serves them all.  The complex step is the exception:
∂J/∂θ_i ≈ Im J(θ + i·h·e_i) / h, with no subtraction and hence no
cancellation, so its step can be tiny.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastcheck.errors import StepTooSmallError

__all__ = ["ADAPTIVE", "SCHEMES", "Scheme", "absolute_steps", "direction_steps", "get_scheme", "resolve_eps", "validate_direction_eps",
           "validate_eps"]


@dataclass(frozen=True)
class Scheme:
    """A difference rule.

    Attributes
    ----------
    name : str
    offsets, weights : tuple of float
        The stencil (unused for the complex step).
    order : int
        Truncation order: the error falls as O(h**order).
    step_exponent : float
        The optimal relative step is ``eps_mach ** step_exponent``, which
        balances truncation error O(h**order) against round-off O(eps/h).
    complex : bool
        Evaluates the cost at complex points.
    """

    name: str
    offsets: tuple
    weights: tuple
    order: int
    step_exponent: float
    complex: bool = False
    description: str = ""

    @property
    def evals_per_coord(self) -> int:
        """Cost evaluations per coordinate (θ itself is evaluated once, apart)."""
        return 1 if self.complex else sum(1 for c in self.offsets if c != 0)

    def relative_step(self, dtype, mach=None) -> float:
        """The optimal relative step; ``mach`` overrides the dtype's machine
        epsilon when the cost computes in a lower precision than θ."""
        if self.complex:
            # No cancellation: any tiny step is exact to O(h²); stay far above
            # the smallest normal so that h·θ cannot underflow.
            return 1e-20 if np.dtype(dtype).itemsize >= 8 else 1e-10
        eps = float(np.finfo(dtype).eps) if mach is None else max(float(mach), float(np.finfo(dtype).eps))
        return eps**self.step_exponent


SCHEMES = {
    s.name: s
    for s in (
        Scheme("forward", (0.0, 1.0), (-1.0, 1.0), 1, 1 / 2, description="(J(θ+h) − J(θ)) / h, error O(h)"),
        Scheme("backward", (-1.0, 0.0), (-1.0, 1.0), 1, 1 / 2, description="(J(θ) − J(θ−h)) / h, error O(h)"),
        Scheme("central", (-1.0, 1.0), (-0.5, 0.5), 2, 1 / 3, description="(J(θ+h) − J(θ−h)) / 2h, error O(h²)"),
        Scheme(
            "central4",
            (-2.0, -1.0, 1.0, 2.0),
            (1 / 12, -8 / 12, 8 / 12, -1 / 12),
            4,
            1 / 5,
            description="five-point stencil, error O(h⁴)",
        ),
        Scheme("complex", (), (), 2, 0.0, complex=True, description="Im J(θ+ih) / h, no cancellation"),
    )
}


def get_scheme(name) -> Scheme:
    if isinstance(name, Scheme):
        return name
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown scheme {name!r}; choose one of {sorted(SCHEMES)}") from None


#: ``eps="adaptive"``: a step ladder with Richardson extrapolation per coordinate (:mod:`fastcheck.verdicts.ladder`).
ADAPTIVE = "adaptive"


def validate_eps(eps):
    """Validate a user step: ``None``, ``"adaptive"``, a positive finite number or array."""
    if eps is None:
        return None
    if isinstance(eps, str):
        if eps == ADAPTIVE:
            return ADAPTIVE
        raise ValueError(f"eps must be None, 'adaptive', a positive number or a 1-D array, got {eps!r}")
    arr = np.asarray(eps, dtype=np.float64) if not isinstance(eps, bool) else None
    if arr is None or arr.ndim > 1:
        raise ValueError(f"eps must be None, a positive number or a 1-D array, got {eps!r}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"eps must be positive and finite, got {eps!r}")
    return arr


def resolve_eps(eps, theta: np.ndarray, coords: np.ndarray):
    """The asked ε, validated and per checked coordinate: ``None``, ``"adaptive"``, a 0-d array, or one
    value per entry of ``coords`` (a full-length array is indexed by ``coords``).

    With :func:`absolute_steps` (and :func:`direction_steps`) this is the one
    path from what a user asks (``eps=``, ``--eps``) to the step a kernel takes.
    """
    eps = validate_eps(eps)
    if eps is None or isinstance(eps, str) or eps.ndim == 0:
        return eps
    if len(eps) == len(theta):
        return eps[coords]
    if len(eps) == len(coords):
        return eps
    raise ValueError(f"eps has length {len(eps)}; expected a scalar, len(theta)={len(theta)} or len(coords)={len(coords)}")


def validate_direction_eps(eps):
    """A directional check's asked step, validated: ``None`` or a single positive number."""
    eps = validate_eps(eps)
    if eps is not None and (isinstance(eps, str) or eps.ndim != 0):
        raise ValueError("eps for a directional check must be a single number")
    return eps


def direction_steps(theta: np.ndarray, lo, lengths, scheme: Scheme, eps) -> np.ndarray:
    """The step along each direction of a directional check.

    ``eps=None``: the scheme's optimal relative step times max(1, rms of the
    direction's slice of θ); a number: that absolute step for every direction.
    """
    eps = validate_direction_eps(eps)
    if eps is None:
        x = theta.astype(np.float64)
        rms = np.array([np.sqrt(np.mean(x[a : a + n] ** 2)) for a, n in zip(lo, lengths)])
        return scheme.relative_step(theta.dtype) * np.maximum(1.0, rms)
    return np.full(len(lo), float(eps))


def absolute_steps(theta: np.ndarray, coords: np.ndarray, scheme: Scheme, eps, mach=None) -> np.ndarray:
    """The step actually taken for each checked coordinate.

    ``eps=None`` takes the scheme's optimal relative step scaled by
    ``max(1, |θ_i|)``; a number is an absolute step, as in the classic recipe.  For the
    real stencils the returned step is the *effective* one,
    ``(θ_i + h) − θ_i``, so that the rounding of θ_i + h does not leak into
    the quotient.  ``mach``: the machine epsilon of the precision the cost
    really computes in, when lower than θ's (the optimal step grows with it).
    """
    x = theta[coords]
    if eps is None:
        h = scheme.relative_step(theta.dtype, mach) * np.maximum(1.0, np.abs(x.astype(np.float64)))
    else:
        h = np.broadcast_to(np.asarray(eps, dtype=np.float64), x.shape)
        if h.shape != x.shape:  # pragma: no cover - broadcast_to raises first
            raise ValueError("eps has the wrong length")
    h = np.asarray(h, dtype=theta.dtype)
    if scheme.complex:
        tiny = np.finfo(theta.dtype).tiny
        if np.any(h < tiny):  # the imaginary step underflows to 0 or loses its digits (subnormal)
            bad = coords[h < tiny][:5]
            raise StepTooSmallError(
                f"eps is too small for the complex step in {theta.dtype} at coordinates {bad.tolist()}: "
                f"i·eps underflows (the smallest normal {theta.dtype} is {tiny:.1e})"
            )
    elif np.dtype(theta.dtype).itemsize < 4:
        # float16, bfloat16: θ_i + h rounds to the format (the point the cost sees); the difference of two
        # such numbers is exact in float64 (in the format itself it may round again)
        h = (x + h).astype(np.float64) - x.astype(np.float64)
        if np.any(h == 0):
            bad = coords[h == 0][:5]
            raise StepTooSmallError(
                f"eps is too small to change theta in {np.dtype(theta.dtype).name} at coordinates {bad.tolist()}"
                " (theta_i + eps == theta_i)"
            )
    else:
        h = (x + h) - x
        if np.any(h == 0):
            bad = coords[h == 0][:5]
            raise StepTooSmallError(
                f"eps is too small to change theta in {theta.dtype} at coordinates {bad.tolist()}"
                " (theta_i + eps == theta_i)"
            )
    return h.astype(np.float64)
