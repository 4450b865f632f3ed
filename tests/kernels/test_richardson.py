"""The compiled Richardson table (kernels.richardson) against the NumPy version in tests/naive.py."""

import numpy as np

from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.verdicts import errorbars, ladder
from tests import smooth


def test_richardson_kernel_matches_the_numpy_table():
    """The compiled table (row by row) against the whole-table NumPy version in tests/naive.py:
    the same numbers, bit for bit, on real ladders of the smooth table, on costs with NaN and inf
    holes, short ladders, and with extra cost noise."""
    from tests import naive

    mach = float(np.finfo(np.float64).eps)
    tables = []
    for label, f, x in list(smooth.cases(max_n=10))[::9]:
        ev = LoopEvaluator(f)
        coords = np.arange(len(x))
        base = errorbars.ladder_base(x, coords, mach)
        for rungs, ratio in ((ladder.ADAPTIVE_RUNGS, ladder.ADAPTIVE_RATIO), (ladder.REFINE_RUNGS, ladder.RATIO)):
            offs = ladder.offsets_for(rungs, ratio)
            with np.errstate(all="ignore"):
                costs = ev.stencil(x, coords, base, offs)
            tables.append((costs, ladder.effective_offsets(x, coords, base, offs), ev.value(x), ratio))
    rng = np.random.default_rng(3)
    costs, disp, f0, ratio = tables[0]
    holes = costs.copy()
    holes[rng.random(holes.shape) < 0.15] = np.nan
    holes[0, 3] = np.inf
    tables += [(holes, disp, f0, ratio), (costs[:, :6], disp[:, :6], f0, ratio), (costs[:, :4], disp[:, :4], f0, ratio)]
    for k, (c, d, f0, ratio) in enumerate(tables):
        noise = rng.random(len(c)) * 1e-12 if k % 2 else None
        tail = k % 3 != 2  # some tables without the noise estimate from the smallest rungs
        got = ladder.extrapolate(c, d, f0, mach, ratio, cost_noise=noise, tail_noise=tail)
        want = naive.richardson_table(c, d, f0, mach, ratio, cost_noise=noise, levels=ladder.LEVELS,
                                      rounding=ladder.COST_ROUNDING, tail_noise=tail)
        for name, value in want.items():
            np.testing.assert_array_equal(getattr(got, name), value, err_msg=f"{name} of table {k}")
