"""The process pool and the Dask path give bitwise the serial loop's numbers.

One pool of two workers (loky's reusable executor) serves the whole module;
the Dask tests share one small in-process cluster.
"""
import dataclasses
import os
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import MissingStateError
from fastcheck.evaluators import pool
from fastcheck.evaluators.loop import LoopEvaluator
from fastcheck.inputs.adapters import check_functions, check_object
from tests.naive import TutorialNetwork, course_data, course_forward, course_parameters, make_course_backward, seed_data

needs_two_cores = pytest.mark.skipif(pool.available_cores() < 2, reason="a pool needs two cores")


class WideNet(TutorialNetwork):
    """The tutorial's network with a wider hidden layer (so chunks hold many coordinates)."""

    def __init__(self, seed=0, hidden=7):
        super().__init__((2, hidden, 1), seed=seed)


def flaky_cost(theta, bad):
    """Raises for θ[bad] moved off its value, as a bug in a user's cost would."""
    if theta[bad] != 0.5:
        raise ValueError(f"cost refused theta[{bad}] = {theta[bad]!r}")
    return float(np.sum(theta**2))


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("this exception does not pickle")


def unpicklable_error_cost(theta):
    if theta[1] != 0.5:  # coordinate 1 of 8: not one this process evaluates itself (probe_items)
        raise Unpicklable("odd state")
    return float(np.sum(theta))


def blas_threads_cost(theta):
    """The number of BLAS threads this process may use, as the 'cost'."""
    from threadpoolctl import threadpool_info

    return float(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))


@pytest.fixture(scope="module")
def seed_net():
    X, y = seed_data()
    return WideNet(seed=3), X, y


@needs_two_cores
def test_object_on_the_pool_is_bitwise_the_serial_loop_and_the_object_is_untouched(seed_net):
    net, X, y = seed_net
    W1, before = net.W1, net.getParams().copy()
    serial = check_object(net, X, y, workers=1)
    pooled = check_object(net, X, y, workers=2)
    assert serial.path == "loop" and pooled.path == "loop on a pool of 2 processes" and pooled.threads == 2
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)
    np.testing.assert_array_equal(pooled.analytic, serial.analytic)
    assert pooled.passed and pooled.difference == serial.difference
    assert net.W1 is W1
    np.testing.assert_array_equal(net.getParams(), before)
    # against an independent reference: the seeds' loop
    ref = central_difference_of(net, X, y, serial.steps)
    np.testing.assert_allclose(pooled.numerical, ref, rtol=1e-9, atol=1e-12)


def central_difference_of(net, X, y, steps):
    theta = net.getParams().copy()
    out = np.empty(len(theta))
    copy = WideNet(hidden=net.W1.shape[1])
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = steps[i]
        copy.setParams(theta + e)
        fp = copy.costFunction(X, y)
        copy.setParams(theta - e)
        fm = copy.costFunction(X, y)
        out[i] = (fp - fm) / (2 * steps[i])
    return out


@needs_two_cores
@pytest.mark.parametrize("scheme", ["forward", "central4", "complex"])
def test_every_scheme_is_bitwise_the_same_on_the_pool(scheme):
    rng = np.random.default_rng(5)
    A = rng.standard_normal(30)

    def cost(theta):  # a closure over data, as users write them
        return np.sum(np.tanh(theta) * A) + 0.25 * np.sum(theta**4)

    theta = rng.standard_normal(30)
    grad = A / np.cosh(theta) ** 2 + theta**3
    serial = fc.check_gradient(cost, theta, grad, scheme=scheme, jit=False, workers=1)
    pooled = fc.check_gradient(cost, theta, grad, scheme=scheme, jit=False, workers=2)
    assert "pool" in pooled.path and pooled.passed
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)


@needs_two_cores
def test_dictionary_style_and_directional_on_the_pool():
    params, (X, Y) = course_parameters(), course_data()
    backward = make_course_backward()
    before = {k: v.copy() for k, v in params.items()}
    serial = check_functions(course_forward, backward, params, X, Y, workers=1)
    pooled = check_functions(course_forward, backward, params, X, Y, workers=2)
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)
    assert pooled.passed and "pool" in pooled.path
    d1 = check_functions(course_forward, backward, params, X, Y, directions=3, workers=1)
    d2 = check_functions(course_forward, backward, params, X, Y, directions=3, workers=2)
    np.testing.assert_array_equal(d2.numerical, d1.numerical)
    assert d2.passed and "pool" in d2.path
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


@needs_two_cores
def test_workers_hold_blas_to_one_thread():
    ex = pool.LocalRunner(2).start()
    assert [ex.submit(blas_threads_cost, None).result() for _ in range(4)] == [1.0] * 4
    # a 'cost' that reads the BLAS threads is another function in a worker than here (unless this
    # process has one BLAS thread too): the pool refuses to count it, and the serial loop runs it
    here = blas_threads_cost(None)
    ev = pool.wrap(LoopEvaluator(blas_threads_cost), workers=2)
    if here != 1.0:
        with pytest.warns(fc.PoolFallbackWarning, match=f"J\\(θ\\) is 1.0 in a worker and {here!r} in this process"):
            costs = ev.stencil(np.zeros(6), np.arange(6), np.full(6, 1e-3), np.array([-1.0, 1.0]))
        assert ev.path == "loop" and "serial loop: a worker process does not compute" in ev.note
        np.testing.assert_array_equal(costs, here)


@needs_two_cores
def test_a_workers_exception_comes_back_as_raised():
    theta = np.full(8, 0.5)
    with pytest.raises(ValueError, match=r"cost refused theta\[5\] = "):
        fc.check_gradient(flaky_cost, theta, theta * 2, args=(5,), jit=False, workers=2)
    with pytest.raises(RuntimeError, match="Unpicklable: odd state"):
        fc.check_gradient(unpicklable_error_cost, theta, np.ones(8), jit=False, workers=2)
    # the pool still works afterwards
    res = fc.check_gradient(lambda t: float(np.sum(t**2)), theta, theta * 2, jit=False, workers=2)
    assert res.passed and "pool" in res.path


@needs_two_cores
def test_unpicklable_cost_falls_back_to_the_loop_with_the_reason(tmp_path):
    theta = np.linspace(0.1, 1.0, 6)
    with open(tmp_path / "log.txt", "w") as handle:
        def cost(t):  # a closure over a file open for writing (a log)
            handle.write(".")
            return float(np.sum(t**3))

        serial = fc.check_gradient(cost, theta, 3 * theta**2, jit=False, workers=1)
        with pytest.warns(pool.PoolFallbackWarning, match=r"cannot be sent to worker processes \(PicklingError: .*not opened for reading"):
            res = fc.check_gradient(cost, theta, 3 * theta**2, jit=False, workers=2)
    assert res.path == "loop" and "cannot be sent to worker processes" in res.note and res.passed
    np.testing.assert_array_equal(res.numerical, serial.numerical)

    gen = (i for i in range(3))
    with pytest.warns(pool.PoolFallbackWarning, match="generator"):
        fc.check_gradient(lambda t, g: float(np.sum(t**3)), theta, 3 * theta**2, args=(gen,), jit=False, workers=2)


def test_bad_worker_counts():
    theta = np.ones(3)
    for bad in (0, -2):
        with pytest.raises(ValueError, match=r"workers must be at least 1 \(1 runs the serial loop\)"):
            fc.check_gradient(lambda t: float(t @ t), theta, 2 * theta, workers=bad)
    for bad in (1.5, "many", True):
        with pytest.raises(TypeError, match="workers must be a positive integer or 'auto'"):
            fc.check_gradient(lambda t: float(t @ t), theta, 2 * theta, workers=bad)
    cores = pool.available_cores()
    with pytest.warns(RuntimeWarning, match=f"workers={cores + 3}, but this process may use {cores} core"):
        res = fc.check_gradient(lambda t: float(t @ t), theta, 2 * theta, jit=False, workers=cores + 3)
    assert res.passed


def test_auto_keeps_a_quick_check_in_this_process(seed_net):
    net, X, y = seed_net
    res = check_object(net, X, y)  # a few microseconds per cost: no pool can pay
    assert res.path == "loop" and res.threads == 1


@needs_two_cores
def test_auto_uses_a_running_pool_when_the_loop_is_slow():
    fc.start_pool()  # the pool is running (asked for: auto alone starts none for checks this short)
    assert fc.start_pool() == 0.0 and pool.LocalRunner(pool.available_cores()).live()
    base = LoopEvaluator(lambda t: float(np.sum(t)))
    ev = pool.wrap(base, workers="auto")
    base.eval_seconds = 0.01  # as if each evaluation took 10 ms
    costs = ev.stencil(np.zeros(40), np.arange(40), np.full(40, 0.1), np.array([-1.0, 1.0]))
    assert "pool" in ev.path
    np.testing.assert_allclose(costs[:, 1], 0.1)
    quick = LoopEvaluator(lambda t: float(np.sum(t)))
    slow_start = pool.wrap(quick, workers="auto")
    quick.eval_seconds = 1e-4  # 8 ms of work: too little for any pool to pay
    slow_start.stencil(np.zeros(40), np.arange(40), np.full(40, 0.1), np.array([-1.0, 1.0]))
    assert slow_start.path == "loop"


# -- Dask ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           dashboard_address=None)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_gives_the_local_numbers(client, seed_net):
    net, X, y = seed_net
    before = net.getParams().copy()
    serial = check_object(net, X, y, workers=1)
    res = check_object(net, X, y, client=client)
    assert res.path == "loop on a Dask cluster of 2 workers" and res.threads == 2
    np.testing.assert_array_equal(res.numerical, serial.numerical)
    np.testing.assert_array_equal(net.getParams(), before)
    params, (Xc, Yc) = course_parameters(), course_data()
    d1 = check_functions(course_forward, make_course_backward(), params, Xc, Yc, directions=2, workers=1)
    d2 = check_functions(course_forward, make_course_backward(), params, Xc, Yc, directions=2, client=client)
    np.testing.assert_array_equal(d2.numerical, d1.numerical)


def test_dask_worker_exception_and_bad_client(client):
    theta = np.full(8, 0.5)
    with pytest.raises(ValueError, match=r"cost refused theta\[2\]"):
        fc.check_gradient(flaky_cost, theta, theta * 2, args=(2,), jit=False, client=client)
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client, got str"):
        fc.check_gradient(flaky_cost, theta, theta * 2, args=(2,), client="tcp://localhost:8786")


def _dies_once(theta, marker):
    """Kills its Dask worker process the first time it runs there (a lost worker), then behaves."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:  # in this process (J at θ): never die here
        return float(np.sum(np.sin(theta)))
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return float(np.sum(np.sin(theta)))


@pytest.mark.slow
def test_a_lost_dask_worker_costs_only_its_chunk(tmp_path):
    distributed = pytest.importorskip("distributed")
    theta = np.linspace(0.0, 1.0, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                distributed.Client(cl) as c:
            marker = str(tmp_path / "died")
            res = fc.check_gradient(_dies_once, theta, np.cos(theta), args=(marker,), jit=False, client=c)
    serial = fc.check_gradient(_dies_once, theta, np.cos(theta), args=(marker,), jit=False, workers=1)
    assert os.path.exists(marker) and res.passed
    np.testing.assert_array_equal(res.numerical, serial.numerical)


# -- the command line and the built-in models -------------------------------------------
NEIGHBOUR = '''
import numpy as np


class Net:
    def __init__(self):
        self.W = np.linspace(-1.0, 1.0, 12).reshape(3, 4)

    def getParams(self):
        return self.W.ravel().copy()

    def setParams(self, p):
        self.W = p.reshape(3, 4)

    def costFunction(self, X, y):
        return 0.5 * float(np.sum((np.tanh(X @ self.W) - y) ** 2))

    def computeGradients(self, X, y):
        a = np.tanh(X @ self.W)
        return (X.T @ ((a - y) * (1 - a**2))).ravel()
'''

MAKE = '''
import numpy as np
from neighbour_net import Net


def make():
    rng = np.random.default_rng(0)
    return Net(), rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
'''


@needs_two_cores
def test_cli_workers_option_runs_a_user_file_that_imports_its_neighbour(tmp_path, capsys):
    import json

    from fastcheck.cli import main

    (tmp_path / "neighbour_net.py").write_text(NEIGHBOUR)
    (tmp_path / "user_net.py").write_text(MAKE)
    target = f"{tmp_path / 'user_net.py'}:make"
    results = {}
    for w in ("1", "2"):
        assert main(["check", target, "--workers", w, "--json"]) == 0
        results[w] = json.loads(capsys.readouterr().out)
    assert results["2"]["path"] == "loop on a pool of 2 processes" and results["1"]["path"] == "loop"
    assert results["2"]["difference"] == results["1"]["difference"]
    assert results["2"]["worst"] == results["1"]["worst"]
    with pytest.raises(SystemExit) as exit_:
        main(["check", target, "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers: must be at least 1" in capsys.readouterr().err


@needs_two_cores
def test_builtin_model_blackbox_on_the_pool_matches_threads():
    from fastcheck.models import MLP

    model = MLP([3, 4, 2], activations="tanh", loss="sse")
    theta = model.init(0)
    X, y = model.sample_data(5, seed=0)
    threads = fc.check_model(model, theta, X, y, mode="blackbox")
    pooled = fc.check_model(model, theta, X, y, mode="blackbox", workers=2)
    assert "pool of 2 processes" in pooled.path and pooled.passed
    np.testing.assert_array_equal(pooled.numerical, threads.numerical)
    with pytest.raises(ValueError, match="apply to mode='blackbox'"):
        fc.check_model(model, theta, X, y, workers=2)


def test_auto_starts_no_pool_for_a_check_too_short_to_pay_for_its_start_up(monkeypatch):
    calls = []
    base = LoopEvaluator(lambda t: float(np.sum(t)))
    ev = pool.wrap(base, workers="auto")
    if not isinstance(ev, pool.ChunkedEvaluator):
        pytest.skip("one core: no pool")
    monkeypatch.setattr(pool.LocalRunner, "live", lambda self: False)
    monkeypatch.setitem(pool.runners._STARTUP, "seconds", 2.5)  # as if starting took 2.5 s
    monkeypatch.setattr(pool.LocalRunner, "start", lambda self: calls.append(self.n_workers))
    monkeypatch.setattr(pool.LocalRunner, "_executor", lambda self: calls.append(self.n_workers))
    base.eval_seconds = 0.05  # 2 s serial: a running pool would pay, a cold start (2.5 s) would not
    ev.stencil(np.zeros(20), np.arange(20), np.full(20, 0.1), np.array([-1.0, 1.0]))
    assert calls == [] and ev.path == "loop"  # nothing started, not even in the background
    base.eval_seconds = 0.5  # 400 evaluations, 200 s serial: worth a cold start
    assert ev._use_pool(400, 2)


@needs_two_cores
def test_a_module_registered_under_a_made_up_name_reaches_the_workers(tmp_path):
    import importlib.util
    import sys

    (tmp_path / "made_up.py").write_text("import numpy as np\n\n\ndef cost(t):\n    return float(np.sum(np.cos(t)))\n")
    spec = importlib.util.spec_from_file_location("_fastcheck_test_module_1234", tmp_path / "made_up.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        theta = np.linspace(0.0, 1.0, 10)
        serial = fc.check_gradient(module.cost, theta, -np.sin(theta), jit=False, workers=1)
        pooled = fc.check_gradient(module.cost, theta, -np.sin(theta), jit=False, workers=2)
    finally:
        del sys.modules[spec.name]
    assert "pool" in pooled.path and pooled.passed
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)


def test_no_pool_inside_a_worker(monkeypatch, client):
    base = LoopEvaluator(lambda t: float(np.sum(t)))
    monkeypatch.setenv("FASTCHECK_IN_WORKER", "1")
    assert pool.wrap(base, workers="auto") is base
    monkeypatch.delenv("FASTCHECK_IN_WORKER")
    # inside a Dask task the pool is not used either; here, outside, it may be
    assert client.submit(pool.in_a_worker, pure=False).result() is True
    assert pool.in_a_worker() is False


def test_a_worker_without_the_cost_asks_for_it():
    import pickle as pkl

    import cloudpickle

    base = LoopEvaluator(lambda t: float(np.sum(t**2)))
    payload = pkl.dumps((cloudpickle.dumps(base), []))
    theta = np.arange(4.0)
    args = (np.array([1, 3]), np.array([0.5, 0.5]), np.array([1.0]))
    probe_args = (np.array([0]), np.array([0.5]), np.array([1.0]))
    probe = pool.worker.Probe("stencil", probe_args, base.value(theta), base.stencil(theta, *probe_args))
    with pytest.raises(MissingStateError):
        pool.run_keyed_chunk("never-seen", None, "stencil", *args)
    proof, got, warned = pool.run_keyed_chunk("k1", ("d1", payload, theta, probe), "stencil", *args)
    assert proof == pool.worker.Proof(True, "")  # the first chunk of a check proves the copy
    none, again, _ = pool.run_keyed_chunk("k1", None, "stencil", *args)  # kept from the first chunk, proven
    assert none is None and warned == ()
    np.testing.assert_array_equal(got, base.stencil(theta, *args))
    np.testing.assert_array_equal(again, got)
    # a probe this copy does not reproduce: no costs, for that chunk and every later one of the check
    lying = probe._replace(costs=probe.costs + 1.0)
    proof, costs, _ = pool.run_keyed_chunk("k2", ("d1", payload, theta, lying), "stencil", *args)
    assert not proof.ok and "a perturbed cost is 14.25 in a worker and 15.25 in this process" in proof.why
    assert costs is None and pool.run_keyed_chunk("k2", None, "stencil", *args) == (proof, None, ())
    # a payload that does not load in a worker is a failed proof, not the loader's exception
    broken = pkl.dumps((b"not a pickle", []))
    proof, costs, _ = pool.run_keyed_chunk("k3", ("d2", broken, theta, probe), "stencil", *args)
    assert not proof.ok and proof.why.startswith("the cost does not load in a worker (UnpicklingError") and costs is None


def test_dask_progress_counts_chunks(client, capsys):
    ev = pool.ChunkedEvaluator(LoopEvaluator(lambda t: float(np.sum(t**2))),
                               pool.DaskRunner(client, progress="plain"))  # a terminal would get a rich bar
    theta = np.linspace(0.0, 1.0, 20)
    costs = ev.stencil(theta, np.arange(20), np.full(20, 1e-3), np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(costs, LoopEvaluator(lambda t: float(np.sum(t**2))).stencil(
        theta, np.arange(20), np.full(20, 1e-3), np.array([-1.0, 1.0])))
    err = capsys.readouterr().err
    # three coordinates are this process's own (the workers' proof), the rest in chunks of the timed cost
    n = len(pool.chunk_plan(17, 2, 2 * ev.eval_seconds, pool.plan.DASK_MIN_CHUNK_SECONDS, pool.plan.DASK_CHUNKS_PER_WORKER))
    assert f"gradient check (chunks): {n} point(s) to compute" in err and f"{n}/{n} (100%)" in err


def _crashes_in_a_worker(t):
    if os.environ.get("FASTCHECK_IN_WORKER") == "1":
        os._exit(3)  # a segfault, an OOM kill...
    return float(np.sum(t**2))


@needs_two_cores
def test_a_dead_worker_is_a_clear_error_and_the_pool_comes_back():
    theta = np.ones(10)
    with pytest.raises(RuntimeError, match=r"a worker process died while evaluating the cost \(a crash, or the system killed it; The exit codes of the workers are \{EXIT\(3\).*\}\); run with workers=1 to see"):
        fc.check_gradient(_crashes_in_a_worker, theta, 2 * theta, jit=False, workers=2)
    res = fc.check_gradient(lambda t: float(np.sum(t**2)), theta, 2 * theta, jit=False, workers=2)
    assert "pool" in res.path and res.passed


@pytest.mark.parametrize("n, workers, item, least", [(496, 2, 4.2e-3, 0.02), (13200, 2, 8e-5, 0.02), (7, 2, 1.0, 0.02),
                                                     (5, 3, 1e-9, 0.1), (100, 2, float("inf"), 0.02), (1, 2, 0.1, 0.02)])
def test_chunk_plan_covers_every_coordinate_once_largest_chunks_first(n, workers, item, least):
    chunks = pool.chunk_plan(n, workers, item, least)
    flat = np.concatenate(chunks)
    np.testing.assert_array_equal(np.sort(flat), np.arange(n))  # each coordinate exactly once
    assert all(np.all(np.diff(c) > 0) for c in chunks)  # sorted within a chunk
    sizes = [len(c) for c in chunks]
    assert len(chunks) >= min(n, workers)  # every worker gets work
    assert len(chunks) <= max(workers * pool.plan.MAX_CHUNKS_PER_WORKER, workers * pool.plan.LOCAL_CHUNKS_PER_WORKER)
    if np.isfinite(item):
        assert all(np.diff(sizes[:-1]) <= 0)  # guided: never growing (the last is what is left)
        # no chunk (but the remainder) below the minimum work, unless that would leave a worker idle
        floor = min(int(np.ceil(least / item)), -(-n // workers))
        assert all(s >= floor for s in sizes[:-1])
    else:
        assert max(sizes) - min(sizes) <= 1


def test_spread_order_spreads_every_run_over_the_range():
    order = pool.spread_order(1000)
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    for start in (0, 100, 500):  # any 100 consecutive entries cover all ten tenths of the range
        assert len(np.unique(order[start : start + 100] // 100)) == 10


@needs_two_cores
def test_large_costs_go_to_each_worker_once_and_a_worker_without_them_asks_again(monkeypatch):
    monkeypatch.setattr(pool.runners, "SEND_EVERY_CHUNK_BYTES", 0)  # every cost counts as large: first chunks only
    theta = np.linspace(-2.0, 2.0, 300)
    base = LoopEvaluator(lambda t: float(np.sum(np.sin(t) * t)))
    base.eval_seconds = 1e-3  # guided chunks: many more chunks than workers
    ev = pool.ChunkedEvaluator(base, pool.LocalRunner(2))
    coords, steps, offsets = np.arange(300), np.full(300, 1e-4), np.array([-1.0, 1.0])
    n_chunks = len(pool.chunk_plan(300, 2, 2e-3, pool.plan.LOCAL_MIN_CHUNK_SECONDS))
    assert n_chunks > 2
    for _ in range(2):  # the second check finds the cost already loaded in the workers
        np.testing.assert_array_equal(ev.stencil(theta, coords, steps, offsets),
                                      base.stencil(theta, coords, steps, offsets))


def test_the_chunked_evaluator_reports_its_base_timing_and_capabilities():
    base = LoopEvaluator(lambda t: float(np.sum(t**2)))
    ev = pool.ChunkedEvaluator(base, pool.LocalRunner(3))  # not started: nothing here needs the workers
    assert ev.eval_seconds == float("inf")  # not timed yet
    ev.value(np.ones(3))
    assert np.isfinite(ev.eval_seconds) and ev.eval_seconds == base.eval_seconds
    assert ev.parallel_workers == 3 and ev.threads == 1 and ev.path == "loop"  # the pool has not run yet
    assert ev.caps == dataclasses.replace(base.caps, holds_blas=False) and ev.cost is base.cost
    assert ev.compile_seconds == base.compile_seconds and ev.note == base.note
