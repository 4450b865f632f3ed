"""check_hessian on the local pool with the workers' columns written into a shared array (support/shared.py).

The pooled check must give the serial loop's result bit for bit (values, per-entry status, block
table, notes) on a correct and on a planted Hessian; a worker whose copy of the gradient differs still
sends the check to the serial loop; a worker's error reaches the caller; and no shared file or mapping
is left behind, in this process or in a worker, whatever happened.
"""
import gc
import os
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.evaluators.pool import chunked, runners, worker
from fastcheck.support import shared
from tests.second_order import Pairwise
from tests.second_order import assert_same_entries as _same

pytestmark = pytest.mark.skipif(not shared.available(), reason="shared arrays need Linux memfd_create")


class OffInAWorker:
    """The gradient, off by one part in 10¹² in a worker's copy (its unpickled state differs)."""

    def __init__(self, p):
        self.p, self.scale = p, 1.0

    def __call__(self, t):
        return self.scale * self.p.grad(t)

    def __setstate__(self, state):
        self.__dict__.update(state, scale=1.0 + 1e-12)


class FailsInAWorker:
    """The gradient, raising in a worker once coordinate ``k`` (not one the workers are proven on) moves."""

    def __init__(self, p, k):
        self.p, self.k, self.x = p, k, float(p.theta[k])

    def __call__(self, t):
        if os.environ.get("FASTCHECK_IN_WORKER") == "1" and t[self.k] != self.x:
            raise ArithmeticError("planted failure in a worker")
        return self.p.grad(t)


def _memfds(pid="self"):
    """Our shared files among the open fds of ``pid``, and our mappings of them."""
    fds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:fastcheck-"):
                fds.append(fd)
        except OSError:
            continue
    with open(f"/proc/{pid}/maps") as f:
        maps = [ln for ln in f if "memfd:fastcheck-" in ln]
    return fds, maps


def _workers():
    ex = runners._STARTUP.get("executor")
    return list(getattr(ex, "_processes", {}) or {})


@pytest.fixture(scope="module")
def problem():
    return Pairwise(n=120, edges=700)


@pytest.fixture
def share_all(monkeypatch):
    """Every pooled result through a shared array (the problem is small), and a count of the arrays made."""
    made = []
    real = shared.SharedArray

    def counting(shape):
        made.append(tuple(shape))
        return real(shape)

    real_map = runners.LocalRunner.map

    def checked_map(self, *args, into=None, **kw):
        parts = real_map(self, *args, into=into, **kw)
        if into is not None:  # every worker wrote its rows in place: nothing came back pickled
            assert all(isinstance(p, str) and p == worker.WRITTEN for p in parts)
        return parts

    monkeypatch.setattr(chunked, "SHARE_BYTES", 0)
    monkeypatch.setattr(chunked.shared, "SharedArray", counting)
    monkeypatch.setattr(runners.LocalRunner, "map", checked_map)
    return made


def _planted(p):
    H = p.hess(p.theta)
    H[3, 40] += 1e-3 * np.abs(H).max()
    H[40, 3] = H[3, 40]
    H[17] *= 1.0001
    H[5, 9] += 1e-6  # asymmetric: a note, and "asymmetric" in its pairs' rows
    return H


@pytest.mark.parametrize("case", ["correct", "planted"])
def test_shared_columns_give_the_serial_result_bit_for_bit(problem, share_all, case):
    H = problem.hess(problem.theta) if case == "correct" else _planted(problem)
    layout = {"a": np.zeros(50), "b": np.zeros(problem.n - 50)}
    fc.start_pool(2)
    for lay in (None, layout):
        serial = fc.check_hessian(problem.cost, problem.theta, H, grad=problem.grad, layout=lay, workers=1)
        made = len(share_all)
        with warnings.catch_warnings():
            warnings.simplefilter("error", fc.PoolFallbackWarning)  # a fallback would compare the loop with itself
            pooled = fc.check_hessian(problem.cost, problem.theta, H, grad=problem.grad, layout=lay, workers=2)
        assert "pool" in pooled.path
        assert len(share_all) > made  # the columns came back through a shared array
        _same(serial, pooled)
    assert pooled.verdict == ("great" if case == "correct" else "wrong"), str(pooled)
    if case == "planted":
        wrong = pooled.status == "wrong"
        assert {(3, 40), (40, 3)} <= set(zip(pooled.rows[wrong], pooled.cols[wrong]))
        assert pooled.notes and "not symmetric" in pooled.notes[0]
    assert _memfds()[0] == []  # no shared file open here once the check is done (the results may map it)
    for pid in _workers():
        assert _memfds(pid) == ([], [])  # a worker maps the array only while it writes its chunk
    del serial, pooled
    gc.collect()
    assert _memfds() == ([], [])  # the last mapping went with the results


def test_a_worker_that_computes_another_gradient_sends_the_check_to_the_serial_loop(problem, share_all):
    H = problem.hess(problem.theta)
    serial = fc.check_hessian(problem.cost, problem.theta, H, grad=problem.grad, workers=1)
    with pytest.warns(fc.PoolFallbackWarning, match="does not compute this process's cost"):
        pooled = fc.check_hessian(problem.cost, problem.theta, H, grad=OffInAWorker(problem), workers=2)
    assert pooled.path == "loop" and share_all  # the shared array was made, then dropped with the pool's results
    _same(serial, pooled)
    del pooled
    gc.collect()
    assert _memfds() == ([], [])


def test_a_workers_error_reaches_the_caller_and_leaves_no_shared_file(problem, share_all):
    H = problem.hess(problem.theta)
    fc.start_pool(2)
    with pytest.raises(ArithmeticError, match="planted failure in a worker"):
        fc.check_hessian(problem.cost, problem.theta, H, grad=FailsInAWorker(problem, 77), workers=2)
    assert share_all
    gc.collect()
    assert _memfds() == ([], [])
    for pid in _workers():
        assert _memfds(pid) == ([], [])
    ok = fc.check_hessian(problem.cost, problem.theta, H, grad=problem.grad, workers=2)  # the pool still works
    assert ok.verdict == "great" and "pool" in ok.path
