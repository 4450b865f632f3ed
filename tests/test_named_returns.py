"""Functions of fastcheck.core and fastcheck.verdicts that return four values or more return a NamedTuple."""
import ast
from pathlib import Path

import numpy as np

from fastcheck.core.steps import get_scheme
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.verdicts import errorbars, kinks, ladder

PACKAGE = Path(__file__).resolve().parents[1] / "fastcheck"


def test_no_bare_tuple_of_four_or_more_is_returned():
    found = []
    for sub in ("core", "verdicts"):
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 4:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, f"return a NamedTuple instead of a bare tuple of 4+ values: {found}"


def _ladder(f, x):
    ev = LoopEvaluator(f)
    mach = np.finfo(np.float64).eps
    coords = np.arange(len(x))
    lad, _ = ladder.evaluate(ev, x, coords, errorbars.ladder_base(x, coords, mach), ev.value(x), mach)
    return ev, lad


def test_kinks_and_ladder_readings_have_names():
    x = np.array([0.0, 1.0])
    _, lad = _ladder(lambda t: np.sum(np.maximum(t, 0.0)), x)
    found = kinks.find(lad, ladder.REFINE_RUNGS.index(1))
    assert isinstance(found, kinks.Kinks) and found.kink.tolist() == [True, False] and found.at_theta[0]
    kink, at_theta, left, right = found  # positional unpacking keeps working
    assert kink is found.kink and at_theta is found.at_theta and left is found.left and right is found.right

    reading = errorbars.read_ladder(np.array([0.5, 1.0]), lad, ladder.REFINE_RUNGS.index(1), 1e-7, 1.0)
    assert isinstance(reading, errorbars.LadderReading)
    assert reading._fields == ("estimate", "error", "status", "why", "left", "right")
    assert reading.status.tolist() == [errorbars.KINK, errorbars.AGREE]
    np.testing.assert_allclose(reading.estimate[1], 1.0, rtol=1e-8)


def test_stencil_sums_have_names():
    ev = LoopEvaluator(lambda t: float(np.sum(t**3)))
    theta = np.array([1.0, 2.0])
    out = errorbars.stencil_sums(ev, theta, np.arange(2), get_scheme("central"), np.full(2, 1e-4), ev.value(theta))
    assert isinstance(out, errorbars.StencilSums) and out.n_evals == 4 and out.finite.all()
    np.testing.assert_allclose(out.acc / 1e-4, 3 * theta**2, rtol=1e-6)
    assert out.costs.shape == (2, len(get_scheme("central").offsets))
