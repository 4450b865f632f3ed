"""The test suite's share of the truth corpus (benchmarks/truth): a small fixed subset, fastcheck only.

Correct gradients never read wrong; a planted error of 1e-2 that a central difference resolves
1e3 times below it never passes.  (The whole corpus and the peers: benchmarks/bench_truth.py.)
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastcheck as fc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.truth import generators as G  # noqa: E402
from benchmarks.truth import plants as P  # noqa: E402

CASES = G.corpus(small=True)[::2]


def _check(case, g):
    layout = fc.Layout.from_shapes(case.blocks) if case.blocks else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fc.check_gradient(case.f, case.x, g, layout=layout, jit=False, workers=1)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_truth_subset(case):
    r = _check(case, case.g)
    assert r.verdict != "wrong", (case.name, r.headline())
    if r.passed:
        assert np.isfinite(r.resolution) and "would have been caught" in r.headline()
    cache = {}
    for label, size, g, coords in P.plants(case):
        if label != "x(1+0.01)" or not P.resolvable(case, g, coords, cache):
            continue
        rb = _check(case, g)
        assert not rb.passed, (case.name, label, rb.headline())
