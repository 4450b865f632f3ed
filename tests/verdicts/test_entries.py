"""The judgement of matrix entries (verdicts.entries): the numbers do not depend on how the work is split.

Pass 1 runs over the columns a chunk at a time (``CHUNK_ENTRIES``) and, with
``workers=2``, the columns' gradients come back from worker processes in
chunks.  Neither may change a single number: the statuses, estimates, error
bars and block verdicts of a Hessian check must be those of one sweep over
the whole matrix in the serial loop, on a correct Hessian, on one with planted
errors, and on a gradient that is NaN at some of the perturbed points.
"""
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.verdicts import entries
from tests.second_order import Pairwise
from tests.second_order import assert_same_entries as _same


def _planted(p):
    H = p.hess(p.theta)
    H[3, 40] += 1e-3 * np.abs(H).max()  # one entry and its partner
    H[40, 3] = H[3, 40]
    H[17] *= 1.0001  # a row scaled by 1e-4: caught where its bars are tight, not everywhere
    return H


def _nan_grad(p):
    t5 = p.theta[5]

    def grad(t):
        g = p.grad(t)
        if t[5] > t5:
            g[::7] = np.nan
        return g

    return grad


class TinyFirst:
    """J = g₀·θ + ½ Σ d_i θ_i², the first curvatures d_i = 1e-8 under a gradient of order 1, the rest 1e3.

    The first columns' entries agree only within their round-off, which is resolved against the scale
    of the whole matrix (set by the later columns): a chunk may not judge them by the scale seen so far."""

    def __init__(self, n=60, seed=2):
        rng = np.random.default_rng(seed)
        self.d = np.where(np.arange(n) < 20, 1e-8, 1e3)
        self.g0 = rng.uniform(0.5, 1.5, n)
        self.theta = rng.standard_normal(n) * 1e-4
        self.n = n

    def cost(self, t):
        return float(self.g0 @ t + 0.5 * np.sum(self.d * t * t))

    def grad(self, t):
        return self.g0 + self.d * t

    def hess(self, t):
        return np.diag(self.d)


@pytest.fixture(scope="module")
def problem():
    return Pairwise(n=150, edges=900)


CASES = {
    "correct": lambda p: (p.hess(p.theta), p.grad),
    "planted": lambda p: (_planted(p), p.grad),
    "nan gradient": lambda p: (p.hess(p.theta), _nan_grad(p)),
}


@pytest.mark.parametrize("case", [*CASES, "tiny first"])
def test_pass_one_in_chunks_gives_the_numbers_of_one_sweep(problem, case, monkeypatch):
    if case == "tiny first":
        problem = TinyFirst()
        H, grad = problem.hess(problem.theta), problem.grad
    else:
        H, grad = CASES[case](problem)
    half = problem.n // 3
    layout = {"a": np.zeros(half), "b": np.zeros(problem.n - half)}
    for lay in (None, layout):
        monkeypatch.setattr(entries, "CHUNK_ENTRIES", 10**9)  # one chunk: the whole matrix in one sweep
        whole = fc.check_hessian(problem.cost, problem.theta, H, grad=grad, layout=lay, workers=1)
        monkeypatch.setattr(entries, "CHUNK_ENTRIES", 7 * problem.n)  # 7 columns a chunk, the last one short
        chunked = fc.check_hessian(problem.cost, problem.theta, H, grad=grad, layout=lay, workers=1)
        _same(whole, chunked)
    expected = {"correct": "great", "planted": "wrong", "nan gradient": "inconclusive", "tiny first": "great"}[case]
    assert whole.verdict == expected, str(whole)
    if case == "planted":
        assert whole.n_refined > 0  # the ladder ran on the chunked quotients too
        assert {(3, 40), (40, 3)} <= set(zip(whole.rows[whole.status == "wrong"], whole.cols[whole.status == "wrong"]))
    if case == "nan gradient":
        assert np.count_nonzero(whole.status == "nonfinite") > 0


@pytest.mark.parametrize("case", ["correct", "planted"])
def test_worker_processes_give_the_statuses_of_the_serial_loop(problem, case):
    H, grad = CASES[case](problem)
    serial = fc.check_hessian(problem.cost, problem.theta, H, grad=grad, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fc.PoolFallbackWarning)  # a fallback would compare the loop with itself
        pooled = fc.check_hessian(problem.cost, problem.theta, H, grad=grad, workers=2)
    assert "pool" in pooled.path
    _same(serial, pooled)
    assert serial.verdict == ("great" if case == "correct" else "wrong")


def _hvp_case(problem, planted):
    H = problem.hess(problem.theta)
    if planted:
        H = H.copy()
        H[:10] *= 1.01
    return H


@pytest.mark.parametrize("case", [*CASES, "tiny first", "hvp", "hvp planted", "cost differences"])
def test_compiled_pass_one_gives_the_numbers_of_numpy(problem, case, monkeypatch):
    """kernels.entries.first_pass against the NumPy pass 1 it replaces, bit for bit: quotients, bars,
    statuses, block table and notes, for Hessian columns (sums from the workers' SummedRows, with NaN
    holes, tiny first columns), for random directions (the rounding across a direction counts) and for
    second differences of the cost (the plain costs' magnitudes)."""
    kernel = entries._compiled_first_pass(1)
    assert kernel is not None  # tests/conftest.py sets FASTCHECK_COMPILE=always

    def run():
        if case.startswith("hvp"):
            H = _hvp_case(problem, case == "hvp planted")
            return fc.check_hvp(problem.cost, problem.theta, lambda t, v: H @ v, grad=problem.grad, n_dirs=6,
                                workers=1)
        if case == "cost differences":
            small = Pairwise(n=24, edges=80)
            return fc.check_hessian(small.cost, small.theta, _planted_small(small), workers=1)
        if case == "tiny first":
            p = TinyFirst()
            return fc.check_hessian(p.cost, p.theta, p.hess(p.theta), grad=p.grad, workers=1)
        H, grad = CASES[case](problem)
        return fc.check_hessian(problem.cost, problem.theta, H, grad=grad, workers=1)

    monkeypatch.setattr(entries, "_compiled_first_pass", lambda n: kernel)
    compiled = run()
    monkeypatch.setattr(entries, "_compiled_first_pass", lambda n: None)
    plain = run()
    _same(compiled, plain)
    assert compiled.verdict == {"correct": "great", "planted": "wrong", "nan gradient": "inconclusive",
                                "tiny first": "great", "hvp": "great", "hvp planted": "wrong",
                                "cost differences": "wrong"}[case], str(compiled)


def _planted_small(p):
    H = p.hess(p.theta)
    H[2, 5] += 1e-2 * np.abs(H).max()
    return H


def test_compiled_pass_one_from_the_plain_costs_gives_the_numbers_of_numpy(problem, monkeypatch):
    """Without the summed evaluator pass 1 reads the plain costs' magnitudes Σ|w_k·F_k|: the compiled
    pass gives NumPy's numbers there too (a planted entry, NaN holes)."""
    from fastcheck.core.steps import absolute_steps, get_scheme
    from fastcheck.evaluators.rows import RowsEvaluator

    kernel = entries._compiled_first_pass(1)
    theta = problem.theta
    H = _planted(problem)
    cols = np.arange(problem.n)
    mach = float(np.finfo(np.float64).eps)
    scheme = get_scheme("central")
    got = []
    for chosen in (kernel, None):
        monkeypatch.setattr(entries, "_compiled_first_pass", lambda n, chosen=chosen: chosen)
        ev = RowsEvaluator(_nan_grad(problem))
        f0 = ev.rows(theta)
        steps = absolute_steps(theta, cols, scheme, None)
        with np.errstate(all="ignore"):
            got.append(entries.judge_entries(ev, theta, entries.Columns(steps=steps, base=steps, coords=cols), f0,
                                             np.ascontiguousarray(H.T), scheme, mach=mach, great=1e-6))
    for name in entries.EntryJudgement._fields:
        np.testing.assert_array_equal(getattr(got[0], name), getattr(got[1], name), err_msg=name)
    assert (got[0].status == entries.errorbars.WRONG).any() and (got[0].status == entries.errorbars.NONFINITE).any()
