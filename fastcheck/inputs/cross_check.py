"""A second reference for a low-precision backward: the same op's backward in float64 (``cross_check="float64"``).

A float32 check compares the op's backward with difference quotients whose
error bars are float32's: a backward that is right but loses digits the
format keeps (it casts to float16 or bfloat16 on the way, or accumulates
badly) can hide inside those bars.  The op run on float64 copies of its
inputs, with the very same upstream gradients, gives a reference far
sharper than any float32 quotient: per checked block the relative
difference

    ‖g_low − g₆₄‖ / (‖g_low‖ + ‖g₆₄‖)

is compared with a tolerance of :data:`CROSS_EPS` epsilons of the block's
format (float32: 128·2^-23 ≈ 1.5e-5).  A backward computed in float32
lands within a few epsilons of float64's (each result carries the rounding
of a few float32 operations, a long sum some more: 4e-8 to 6e-8 on the
tests' ops); one that passes float32 values through float16 (ε = 2^-10),
as TF32 matmuls and autocast regions do, is off by 1e-4 to 2.4e-4 (the
tests' and the README's ops), through bfloat16 by more: eight and more
times the tolerance.  A backward that casts to a fixed lower precision
whatever its input dtype loses the same digits in the float64 run, and
agrees: a check with float64 inputs, whose bars are sharp, is what sees it.
Float16 and bfloat16 blocks get :data:`CROSS_EPS_LOW` epsilons of their
own format (their backward is expected to round to the format, at most a
few times).

The cross-check is a report beside the verdict (``result.cross_check``,
``result.cross_check_note``), not part of it: a difference beyond the
tolerance says the backward computes less precisely than its dtype, which
the difference quotients may not be sharp enough to see.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from fastcheck.checks.result import CROSS_COLUMNS, CheckResult

__all__ = ["CROSS_CHECKS", "CROSS_EPS", "CROSS_EPS_LOW", "cross_checked", "tolerance", "validate_cross_check"]

#: What ``cross_check=`` takes: None (no cross-check) or "float64".
CROSS_CHECKS = (None, "float64")
#: The tolerance of a float32 block, in float32 epsilons.
CROSS_EPS = 128
#: The tolerance of a float16 or bfloat16 block, in epsilons of its format.
CROSS_EPS_LOW = 8


def validate_cross_check(value):
    if value is not None and not (isinstance(value, str) and value in CROSS_CHECKS):
        raise ValueError(f"cross_check must be None or 'float64', got {value!r}")
    return value


def tolerance(dtype) -> float:
    """The largest relative difference from the float64 backward that agrees, for a block of ``dtype``."""
    eps = float(np.finfo(dtype).eps)
    return (CROSS_EPS if np.dtype(dtype).itemsize >= 4 else CROSS_EPS_LOW) * eps


def relative_difference(low, wide) -> float:
    """‖low − wide‖ / (‖low‖ + ‖wide‖), in float64 (0 when both are zero)."""
    low, wide = np.asarray(low, np.float64).ravel(), np.asarray(wide, np.float64).ravel()
    scale = float(np.linalg.norm(low) + np.linalg.norm(wide))
    return float(np.linalg.norm(low - wide)) / scale if scale > 0 else 0.0


def _first_line(exc) -> str:
    line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def cross_checked(result: CheckResult, calls, dtypes: dict, wide_vjp, *, skip: str = "") -> CheckResult:
    """``result`` with its float64 cross-check.

    ``calls``: the ``(douts, {block: gradient})`` pairs the check's backward gave (one per ``dout``);
    ``dtypes``: each block's dtype; ``wide_vjp(douts) -> {block: gradient}``: the backward on float64 copies
    of the inputs (its errors are caught and reported: an op that does not run in float64); ``skip``: why it
    cannot be compared at all (the note then says so).
    """
    head = "float64 cross-check"
    if skip:
        return dataclasses.replace(result, cross_check_note=f"{head}: {skip}")
    names = list(dtypes)
    if all(np.dtype(t) == np.float64 for t in dtypes.values()):
        return dataclasses.replace(result, cross_check_note=f"{head}: the checked inputs are float64 already; "
                                                            "nothing sharper to compare with")
    try:
        wide = [wide_vjp(douts) for douts, _ in calls]
    except Exception as exc:  # noqa: BLE001 - whatever stops the op running in float64 is reported, not raised
        return dataclasses.replace(result, cross_check_note=f"{head}: the op does not run on float64 inputs "
                                                            f"({_first_line(exc)}); not cross-checked")
    rows = []
    for n in names:
        low = np.concatenate([np.ravel(g[n]) for _, g in calls])
        ref = np.concatenate([np.ravel(w[n]) for w in wide])
        diff, tol = relative_difference(low, ref), tolerance(dtypes[n])
        rows.append({"block": n, "difference": diff, "tolerance": tol, "agrees": bool(diff <= tol)})
    import pandas as pd

    table = pd.DataFrame(rows, columns=CROSS_COLUMNS)
    off = [r for r in rows if not r["agrees"]]
    if not off:
        worst = max(rows, key=lambda r: r["difference"])
        note = (f"{head}: the backward agrees with its float64 backward in every block (largest difference "
                f"{worst['difference']:.1e}, in {worst['block']}; tolerance {worst['tolerance']:.1e})")
    else:
        listed = ", ".join(f"{r['block']} by {r['difference']:.1e}" for r in off)
        note = (f"{head}: DIFFERS from the float64 backward in {listed} (tolerance {off[0]['tolerance']:.1e}, "
                f"{CROSS_EPS if np.dtype(dtypes[off[0]['block']]).itemsize >= 4 else CROSS_EPS_LOW} eps of the "
                "format): the backward loses digits its dtype keeps (a cast to a lower precision, or an "
                "ill-conditioned op)")
    return dataclasses.replace(result, cross_check=table, cross_check_note=note)
